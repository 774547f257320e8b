package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// Deliver a finished render to the CDN and to the workspace's R2 bucket at once. In production
// the Uploader is a provider.Client and the CDN a provider.NewCDN over the platform's bucket;
// here both are in-memory stand-ins.
func ExampleEngine_Deliver() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{ID: "int-r2", WorkspaceID: "ws-1", Provider: destination.R2, IsActive: true})
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: &deliverytest.Uploader{}, CDN: &deliverytest.CDN{}, CDNKeyPrefix: "renders/",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	plan := delivery.Plan{WorkspaceID: "ws-1", RenderID: "018f3c2e", FileName: "render.mp4",
		Targets: []destination.Target{{IntegrationID: "int-r2", Provider: destination.R2, Prefix: "renders/campaigns/"}}}
	video := []byte("finished render bytes")
	d, err := eng.Deliver(ctx, plan, delivery.Source{ReaderAt: bytes.NewReader(video), Size: int64(len(video))})
	if err != nil {
		panic(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(d)
	// Output:
	// {
	//   "id": "018f3c2e",
	//   "status": "completed",
	//   "url": "https://cdn.test/renders/018f3c2e/render.mp4",
	//   "outputs": [
	//     {
	//       "integrationId": "int-r2",
	//       "provider": "r2",
	//       "outputKey": "renders/campaigns/render.mp4",
	//       "outputUrl": "https://example.test/renders/campaigns/render.mp4",
	//       "outputSizeBytes": 21,
	//       "status": "completed",
	//       "checksum": "crc32c:yNOA8A=="
	//     }
	//   ]
	// }
}

// A Plan is data: store it with the render (or enqueue it) and deliver it later. The
// integrations are read when delivering, so one deactivated in the meantime fails its output
// alone.
func ExamplePlan() {
	ctx := context.Background()
	store := memstore.New()
	for _, id := range []string{"int-a", "int-b"} {
		_, _ = store.Create(ctx, &destination.Integration{ID: id, WorkspaceID: "ws-1", Provider: destination.S3, IsActive: true})
	}
	stored, _ := json.Marshal(delivery.Plan{WorkspaceID: "ws-1", RenderID: "r1", FileName: "promo.mp4", Targets: []destination.Target{
		{IntegrationID: "int-a", Provider: destination.S3, Prefix: "a/"}, {IntegrationID: "int-b", Provider: destination.S3, Prefix: "b/"}}})
	fmt.Println(string(stored))

	// Later, on a worker: int-b was deactivated since.
	b, _ := store.Get(ctx, "ws-1", "int-b")
	b.IsActive = false
	_, _ = store.Update(ctx, b)
	var plan delivery.Plan
	_ = json.Unmarshal(stored, &plan)
	eng, _ := delivery.New(delivery.Options{Store: store, Uploader: &deliverytest.Uploader{}, CDN: &deliverytest.CDN{}, Logger: slog.New(slog.DiscardHandler)})
	d, _ := eng.Deliver(ctx, plan, delivery.Source{ReaderAt: bytes.NewReader([]byte("mp4")), Size: 3})
	for _, o := range d.Outputs {
		fmt.Printf("%s %s %q\n", o.IntegrationID, o.Status, o.ErrorCode)
	}
	// Output:
	// {"workspaceId":"ws-1","renderId":"r1","fileName":"promo.mp4","targets":[{"integrationId":"int-a","provider":"s3","prefix":"a/"},{"integrationId":"int-b","provider":"s3","prefix":"b/"}]}
	// int-a completed ""
	// int-b failed "integration_unavailable"
}

// Queue workers deliver the CDN copy and each target as jobs of their own. A target job that
// runs after the render's file is gone streams the CDN copy back.
func ExampleEngine_DeliverTarget() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{ID: "int-gcs", WorkspaceID: "ws-1", Provider: destination.GCS, IsActive: true})
	cdn := &deliverytest.CDN{}
	eng, _ := delivery.New(delivery.Options{Store: store, Uploader: &deliverytest.Uploader{}, CDN: cdn, Logger: slog.New(slog.DiscardHandler)})
	plan := delivery.Plan{WorkspaceID: "ws-1", RenderID: "r7", FileName: "render.mp4",
		Targets: []destination.Target{{IntegrationID: "int-gcs", Provider: destination.GCS}}}

	// Job 1: the CDN copy, from the render's file.
	video := []byte("finished render bytes")
	url, _, err := eng.DeliverCDN(ctx, plan, delivery.Source{ReaderAt: bytes.NewReader(video), Size: int64(len(video))})
	fmt.Println(url, err)

	// Job 2, later: target 0, from the CDN copy.
	src, err := delivery.CDNSource(ctx, cdn, "r7/render.mp4")
	if err != nil {
		panic(err)
	}
	o := eng.DeliverTarget(ctx, plan, 0, src)
	fmt.Println(o.Provider, o.OutputKey, o.OutputSizeBytes, o.Status)
	// Output:
	// https://cdn.test/r7/render.mp4 <nil>
	// gcs render.mp4 21 completed
}

// The default retry policy outlasts a 30-second outage of one destination.
func ExampleDefaultRetryPolicy() {
	p := delivery.DefaultRetryPolicy()
	fmt.Println(p.MaxAttempts, p.BaseDelay, p.MaxDelay, p.Budget)
	// Output:
	// 8 1s 30s 30m0s
}
