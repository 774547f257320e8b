package destination_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
)

// FuzzParseSAS: any token parses or fails without panicking and without quoting its signature.
func FuzzParseSAS(f *testing.F) {
	f.Add("sv=2025-05-05&sr=c&sp=rcwd&se=2027-01-01T00%3A00%3A00Z&sig=")
	f.Add("sv=2025-05-05&ss=b&srt=sco&sp=rwdlac&se=2099-01-01&sig=")
	f.Add("?sv=x&sr=b&sp=zz&se=never&sig=")
	f.Fuzz(func(t *testing.T, prefix string) {
		const sig = "SIGNATUREplantedXYZ"
		_, err := destination.ParseSAS(prefix + url.QueryEscape(sig))
		if err != nil && strings.Contains(err.Error(), sig) {
			t.Fatalf("error quotes the signature: %v", err)
		}
	})
}
