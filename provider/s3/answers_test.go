package s3_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// TestIncompleteListingRefused: a listing whose object has no LastModified made the Go CDK's
// s3blob dereference nil and crash the process; through the driver it is a permanent
// provider_incompatible error.
func TestIncompleteListingRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>`+
			`<Contents><Key>a.mp4</Key><Size>3</Size></Contents></ListBucketResult>`)
	}))
	defer srv.Close()
	var u emulator.Unsealer
	in := u.Integration(destination.S3, destination.Config{Bucket: "b", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", Endpoint: srv.URL, Region: "us-east-1"})
	c := emulator.NewClient(t, &u, provider.Options{}, nil, s3.NewDriver(s3.Options{}))
	b, release, err := c.Lease(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, _, err = b.ListPage(context.Background(), blob.FirstPageToken, 10, nil)
	if cl := provider.Classify(err); cl.Code != provider.CodeProviderIncompatible || cl.Transient {
		t.Errorf("listing: %v (code %s), want a permanent %s", err, cl.Code, provider.CodeProviderIncompatible)
	}
}
