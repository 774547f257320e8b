package deliverytest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// A host's unit test of code built on the delivery engine: memstore holds the workspace's
// integrations, and the fakes stand in for provider.Client and provider.NewCDN. The R2 bucket
// fails once, transiently, and is retried; the S3 bucket rejects its credentials. The
// delivery's status is the CDN copy's; each output says how its destination went. In a test
// function, compare instead of printing.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	for id, p := range map[string]destination.Provider{"int-r2": destination.R2, "int-s3": destination.S3} {
		if _, err := store.Create(ctx, &destination.Integration{ID: id, WorkspaceID: "ws-1", Provider: p, IsActive: true}); err != nil {
			panic(err)
		}
	}
	up, cdn := &deliverytest.Uploader{}, &deliverytest.CDN{}
	up.Fail("int-r2", &destination.UploadError{Code: destination.CodeUnavailable, Message: "503 Service Unavailable", Transient: true})
	up.Fail("int-s3", &destination.UploadError{Code: "invalid_credentials", Message: "the access key was rejected"})
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: up, CDN: cdn, CDNKeyPrefix: "renders/",
		Retry:  delivery.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}

	plan := delivery.Plan{WorkspaceID: "ws-1", RenderID: "r1", FileName: "render.mp4", Targets: []destination.Target{
		{IntegrationID: "int-r2", Provider: destination.R2, Prefix: "campaigns/"},
		{IntegrationID: "int-s3", Provider: destination.S3},
	}}
	video := []byte("finished render bytes")
	d, err := eng.Deliver(ctx, plan, delivery.Source{ReaderAt: bytes.NewReader(video), Size: int64(len(video))})
	fmt.Println(d.Status, d.URL, err)
	for _, o := range d.Outputs {
		fmt.Printf("%s %s %s %q, %d attempts\n", o.IntegrationID, o.Status, o.OutputKey, o.ErrorCode, up.Attempts(o.IntegrationID))
	}
	fmt.Println("R2 got the render:", up.Sum("int-r2") == sha256.Sum256(video))
	stored, _ := cdn.Object("renders/r1/render.mp4")
	fmt.Println("CDN:", cdn.Keys(), bytes.Equal(stored, video))
	// Output:
	// completed https://cdn.test/renders/r1/render.mp4 <nil>
	// int-r2 completed campaigns/render.mp4 "", 2 attempts
	// int-s3 failed render.mp4 "invalid_credentials", 1 attempts
	// R2 got the render: true
	// CDN: [renders/r1/render.mp4] true
}
