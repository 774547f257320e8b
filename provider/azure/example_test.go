package azure_test

import (
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// The service URL follows the account, or the endpoint override (Azurite takes the account as a
// path segment).
func ExampleServiceURL() {
	for _, endpoint := range []string{"", "http://127.0.0.1:10000"} {
		u, _ := azure.ServiceURL(destination.Config{AzureAccountName: "videos", Endpoint: endpoint})
		fmt.Println(u)
	}
	// Output:
	// https://videos.blob.core.windows.net
	// http://127.0.0.1:10000/videos
}
