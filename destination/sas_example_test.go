package destination_test

import (
	"fmt"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// ParseSAS reads what a container SAS grants and until when, and what a delivery would miss.
func ExampleParseSAS() {
	s, err := destination.ParseSAS("?sv=2025-05-05&se=2027-01-31T00%3A00%3A00Z&sr=c&sp=rcw&spr=https&sig=c2lnbmF0dXJl")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Permissions, s.Expiry.Format(time.DateOnly), s.Missing() == "")
	for _, n := range s.Notes(time.Date(2027, 1, 25, 0, 0, 0, 0, time.UTC)) {
		fmt.Println(n)
	}
	// Output:
	// rcw 2027-01-31 true
	// the SAS token does not grant delete (d): the connection test leaves its small probe files (.outputs-test-*) in the container
	// the SAS token expires at 2027-01-31T00:00:00Z (in 6 days); replace it before then
}
