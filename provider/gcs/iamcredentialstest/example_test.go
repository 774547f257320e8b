package iamcredentialstest_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ilovevideoeditor/outputs/provider/gcs/iamcredentialstest"
)

// The platform's bearer token mints a token for a service account that grants it Token
// Creator, and is refused for one that does not.
func Example() {
	srv := iamcredentialstest.NewServer(iamcredentialstest.Options{PlatformToken: "platform-token",
		Grants: []string{"renders@customer.iam.gserviceaccount.com"}})
	defer srv.Close()
	for _, sa := range []string{"renders@customer.iam.gserviceaccount.com", "other@customer.iam.gserviceaccount.com"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/-/serviceAccounts/"+sa+":generateAccessToken",
			strings.NewReader(`{"scope":["https://www.googleapis.com/auth/devstorage.read_write"],"lifetime":"3600s"}`))
		req.Header.Set("Authorization", "Bearer platform-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(sa, resp.StatusCode)
	}
	// Output:
	// renders@customer.iam.gserviceaccount.com 200
	// other@customer.iam.gserviceaccount.com 403
}
