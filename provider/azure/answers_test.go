package azure_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// TestIncompleteAnswersRefused: an endpoint whose successful answers leave out headers or
// listing fields Azure always sends (Last-Modified, x-ms-creation-time, a blob's Properties)
// made the Go CDK's azureblob dereference nil and crash the process. Through the driver each is
// a permanent provider_incompatible error instead, on every operation that would have crashed:
// an upload's verification (the blob's properties), a read and a listing.
func TestIncompleteAnswersRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Query().Get("comp") == "list":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs><Blob><Name>a.mp4</Name></Blob></Blobs><NextMarker/></EnumerationResults>`)
		case r.Method == http.MethodPut:
			w.WriteHeader(http.StatusCreated) // a committed upload, as far as the client can tell
		case r.Method == http.MethodGet:
			w.Header().Set("Content-Length", "3")
			fmt.Fprint(w, "abc")
		default: // HEAD: properties without the times
			w.Header().Set("Content-Length", "3")
		}
	}))
	defer srv.Close()
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, destination.Config{AzureAccountName: "devstoreaccount1", AzureContainerName: "c", Endpoint: srv.URL,
		AzureAccountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="})
	c := emulator.NewClient(t, &u, provider.Options{}, nil, azure.NewDriver(azure.Options{}))
	ctx := context.Background()
	refused := func(what string, err error) {
		t.Helper()
		if c := provider.Classify(err); c.Code != provider.CodeProviderIncompatible || c.Transient {
			t.Errorf("%s: %v (code %s), want a permanent %s", what, err, c.Code, provider.CodeProviderIncompatible)
		}
	}
	// The upload's commit was confirmed: that its properties cannot be read leaves it unverified.
	if res, err := c.Upload(ctx, in, "r.mp4", strings.NewReader("abc"), destination.UploadOptions{Size: 3}); err != nil || res.Verified != "" {
		t.Errorf("upload: %+v, %v; want an unverified success", res, err)
	}
	b, release, err := c.Lease(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = b.Attributes(ctx, "r.mp4")
	refused("attributes", err)
	_, err = b.NewReader(ctx, "r.mp4", nil)
	refused("read", err)
	_, _, err = b.ListPage(ctx, blob.FirstPageToken, 10, nil)
	refused("list", err)
}
