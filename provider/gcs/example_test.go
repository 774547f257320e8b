package gcs_test

import (
	"fmt"

	"github.com/ilovevideoeditor/outputs/provider/gcs"
)

// Keys whose token_uri is not Google's are refused unless their host is allowed (tests,
// private token services).
func ExampleNewDriver() {
	d := gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{"token.internal.example:8443"}})
	fmt.Println(d.Providers())
	// Output: [gcs]
}
