package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	s3driver "github.com/ilovevideoeditor/outputs/provider/s3"
)

// TestCancelAtRandomPoints cancels 20 deliveries (the CDN copy and three S3 destinations on
// versitygw, multipart) at random points: Deliver returns within a second of the cancel, every
// output is failed as cancelled or completed whole, no object under an output key is partial,
// no goroutine is left once the idle connections are closed, and no multipart upload is left
// in any bucket.
//
// Each delivery writes a key of its own. versitygw (backend/posix UploadPart) can store a part
// that was still being written when the upload's abort removed its directory: the part's file
// recreates the directory without the key's name, so it is listed only once another upload of
// the same key is created, as the next delivery of a shared key would do. On AWS an aborted
// upload stays aborted; a key per delivery keeps that emulator artefact out of the count while
// an upload our cleanup really missed is still listed.
func TestCancelAtRandomPoints(t *testing.T) {
	srv := emulator.NeedS3(t)
	const size = 6 << 20 // 2 parts of 5 MiB
	cfgs := []destination.Config{srv.Bucket(t), srv.Bucket(t), srv.Bucket(t), srv.Bucket(t)}
	u := &emulator.Unsealer{}
	client := emulator.NewClient(t, u, provider.Options{PartSize: 5 << 20, Concurrency: 2}, nil, s3Driver())
	store := memstore.New()
	targets := addS3Targets(t, store, u, ws, cfgs[1:])
	cdnIn, _ := store.Get(context.Background(), ws, addS3Targets(t, store, u, ws, cfgs[:1])[0].IntegrationID)
	cdnBucket, release, err := client.Lease(context.Background(), cdnIn)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cdn := mustCDN(t, cdnBucket, provider.CDNOptions{PartSize: 5 << 20, Concurrency: 2, Driver: s3driver.NewDriver(s3driver.Options{})})
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, CDN: cdn,
		Logger: quiet, Retry: delivery.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	plan := func(i int) delivery.Plan {
		return delivery.Plan{WorkspaceID: ws, RenderID: fmt.Sprint("cancel-", i), FileName: fmt.Sprintf("render-%d.mp4", i), Targets: targets}
	}
	// One whole delivery first: its time scales the cancel points, and the connections it
	// leaves idle are the baseline's.
	start := time.Now()
	if _, err := eng.Deliver(context.Background(), plan(-1), bytesSource(data)); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	client.HTTPClient().CloseIdleConnections()
	base := settledGoroutines(0)

	var slowest time.Duration
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		at := time.Duration(rand.Int64N(int64(min(whole, time.Second)))) // bounded: -race on a loaded machine is slow
		done := make(chan struct{})
		var d *delivery.Delivery
		var err error
		go func() {
			defer close(done)
			d, err = eng.Deliver(ctx, plan(i), bytesSource(data))
		}()
		time.Sleep(at)
		cancel()
		cancelled := time.Now()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("cancel %d: Deliver did not return", i)
		}
		took := time.Since(cancelled)
		slowest = max(slowest, took)
		// The figure is 1 s on a quiet machine (the slowest is logged below for the
		// notes); the assertion is only a sanity bound, since timings under -race on a loaded
		// CI machine are not the product's.
		if took > 5*time.Second {
			t.Errorf("cancel %d at %s: Deliver returned %s after the cancel", i, at, took)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("cancel %d: %v", i, err)
		}
		for j, o := range d.Outputs {
			if o.Status == destination.StatusFailed && o.ErrorCode != destination.CodeCanceled {
				t.Errorf("cancel %d output %d: %+v", i, j, o)
			}
		}
	}
	// Nothing partial under any output key, in any bucket.
	raw := srv.Client(nil)
	for _, cfg := range cfgs {
		out, err := raw.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			if aws.ToInt64(o.Size) != size {
				t.Errorf("bucket %s: partial object %s of %d bytes", cfg.Bucket, aws.ToString(o.Key), aws.ToInt64(o.Size))
			}
		}
		left := srv.MultipartUploads(t, cfg.Bucket)
		if left != 0 {
			t.Errorf("bucket %s: %d multipart uploads left after the cancels, want 0", cfg.Bucket, left)
		}
		t.Logf("bucket %s: %d whole objects, %d multipart uploads left", cfg.Bucket, len(out.Contents), left)
	}
	client.HTTPClient().CloseIdleConnections()
	if n := settledGoroutines(base); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left (baseline %d):\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("20 cancels: Deliver returned at most %s after its cancel (a whole delivery takes %s)", slowest, whole)
}

// settledGoroutines waits (up to 5 s) for the goroutine count to drop to want, and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (want == 0 || n > want); {
		time.Sleep(50 * time.Millisecond)
		if want == 0 {
			return runtime.NumGoroutine()
		}
		n = runtime.NumGoroutine()
	}
	return n
}

// mustCDN returns provider.NewCDN(b, opts) or fails.
func mustCDN(t testing.TB, b *blob.Bucket, opts provider.CDNOptions) *provider.CDN {
	t.Helper()
	cdn, err := provider.NewCDN(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cdn
}
