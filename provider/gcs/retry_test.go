package gcs_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
)

// behindProxy starts a proxy in front of cfg's endpoint that breaks, with f, every request match
// accepts, and returns it and cfg pointed at it.
func behindProxy(t *testing.T, cfg destination.Config, f faultproxy.Fault, match func(*http.Request) bool) (*faultproxy.Proxy, destination.Config) {
	t.Helper()
	p, err := faultproxy.Start(faultproxy.Options{Target: cfg.Endpoint, Rate: 1, Faults: []faultproxy.Fault{f}, Match: match})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg.Endpoint = p.URL
	return p, cfg
}

// uploadStream uploads a stream of two chunks to cfg under prefix, through storage.Writer.
func uploadStream(ctx context.Context, t *testing.T, cfg destination.Config, prefix string) error {
	var u emulator.Unsealer
	c := newClient(t, &u, nil)
	const size = chunk + 1<<20
	_, err := c.Upload(ctx, u.Integration(destination.GCS, cfg), prefix+emulator.Name("s")+".mp4", emulator.NewData(size, 3),
		destination.UploadOptions{Size: size})
	return err
}

// TestStreamUploadRetriesNothing: a stream upload (storage.Writer) whose chunk is reset or
// answered 500 fails after that one request, as a transient UploadError for the delivery
// engine to retry. storage.RetryNever alone left the resumable upload underneath retrying
// every chunk for up to 32 s (ChunkRetryDeadline), hidden from the engine's budget.
func TestStreamUploadRetriesNothing(t *testing.T) {
	cfg := emulator.GCS(t)
	for _, f := range []faultproxy.Fault{faultproxy.Reset, faultproxy.ServerError} {
		t.Run(f.String(), func(t *testing.T) {
			p, proxied := behindProxy(t, cfg, f, func(r *http.Request) bool {
				return r.URL.Query().Get("upload_id") != "" && r.Header.Get("Content-Range") != "" // the chunks
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := uploadStream(ctx, t, proxied, "retry/")
			if ue := destination.AsUploadError(err); ue == nil || !ue.Transient || ue.Code == destination.CodeCanceled {
				t.Fatalf("upload: %v, want a transient UploadError", err)
			}
			if n := p.Count(f); n != 1 {
				t.Errorf("the chunk was sent %d times, want once (the writer must not retry)", n)
			}
		})
	}
}

// TestStreamUploadCompletedEarly: a chunk of a stream upload answered 200 without the 308
// override (a proxy that drops headers) made storage.Writer's upload end while the writer still
// had bytes for it, and the upload's next Write waited forever, past its context. It fails now,
// as provider_incompatible.
func TestStreamUploadCompletedEarly(t *testing.T) {
	p, proxied := behindProxy(t, emulator.GCS(t), faultproxy.StripHeaders,
		func(r *http.Request) bool { return strings.HasSuffix(r.Header.Get("Content-Range"), "/*") }) // a chunk before the last
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- uploadStream(ctx, t, proxied, "early/") }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the upload is still running a minute after its context ended")
	}
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != provider.CodeProviderIncompatible {
		t.Fatalf("upload: %v, want %s", err, provider.CodeProviderIncompatible)
	}
	if p.Count(faultproxy.StripHeaders) == 0 {
		t.Error("no chunk's answer was stripped")
	}
}

// TestFileChunkAnsweredCompleteEarly: the first chunk of a file upload answered 200 without
// its 308 override (a proxy that drops headers) looks like a completed object. The upload
// reported it complete, unverified, with nothing stored; the verification now finds no object
// where GCS, which reads its writes, confirmed one, and fails the upload for another attempt.
func TestFileChunkAnsweredCompleteEarly(t *testing.T) {
	var first atomic.Bool
	p, proxied := behindProxy(t, emulator.GCS(t), faultproxy.StripHeaders, func(r *http.Request) bool {
		return strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 0-") && first.CompareAndSwap(false, true)
	})
	var u emulator.Unsealer
	c, _ := resumeClient(t, &u, driver(), nil)
	const size = resumePart + 1<<20
	f, _ := emulator.DataFile(t, size, 5)
	res, err := c.Upload(context.Background(), u.Integration(destination.GCS, proxied), "early/"+emulator.Name("f")+".mp4",
		emulator.NewFileSource(f, size), destination.UploadOptions{Size: size})
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != destination.CodeChecksumMismatch || !ue.Transient {
		t.Fatalf("upload: %+v, %v; want a transient %s", res, err, destination.CodeChecksumMismatch)
	}
	if p.Count(faultproxy.StripHeaders) != 1 {
		t.Errorf("%d answers stripped, want 1", p.Count(faultproxy.StripHeaders))
	}
}
