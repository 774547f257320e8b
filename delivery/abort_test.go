package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// cancelAtRead is a ReaderAt that cancels an upload once a read reaches offset at.
type cancelAtRead struct {
	io.ReaderAt
	at     int64
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelAtRead) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.at {
		c.once.Do(c.cancel)
	}
	return c.ReaderAt.ReadAt(p, off)
}

// TestAbortTarget: a cancelled delivery to S3 (versitygw) keeps its multipart upload and the
// checkpoint naming it, for the next attempt to resume; Engine.AbortTarget, which a queue calls
// when no attempt is left, aborts that upload and clears the checkpoint. Without a session, with
// the integration gone or with a bad index it removes nothing and says why.
func TestAbortTarget(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	store, targets, client := s3Targets(t, []destination.Config{cfg}, provider.Options{PartSize: 5 << 20, Concurrency: 1})
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	targets[0].Prefix = "renders/"
	p := delivery.Plan{WorkspaceID: ws, RenderID: "abort-1", FileName: "render.mp4", Targets: targets, FinishedAt: time.Now()}
	data := bytes.Repeat([]byte("0123456789abcdef"), 12<<16) // 12 MiB: 3 parts
	cp := &memstore.Checkpoint{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := delivery.Source{ReaderAt: &cancelAtRead{ReaderAt: bytes.NewReader(data), at: 6 << 20, cancel: cancel}, Size: int64(len(data)), Checkpoint: cp}
	if out := eng.DeliverTarget(ctx, p, 0, src); out.Status != destination.StatusFailed || out.ErrorCode != destination.CodeCanceled {
		t.Fatalf("cancelled delivery: %+v", out)
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 1 {
		t.Fatalf("%d multipart uploads after the cancel, want the one kept to resume", n)
	}
	if st, _ := cp.Load(context.Background()); len(st) == 0 {
		t.Fatal("the checkpoint is empty after the cancel")
	}

	if err := eng.AbortTarget(context.Background(), p, 0, cp); err != nil {
		t.Fatal(err)
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 0 {
		t.Errorf("%d multipart uploads after AbortTarget, want 0", n)
	}
	if st, _ := cp.Load(context.Background()); len(st) != 0 {
		t.Errorf("the checkpoint holds %d bytes after AbortTarget, want it cleared", len(st))
	}
	// Nothing kept: nothing to do, and no error.
	if err := eng.AbortTarget(context.Background(), p, 0, cp); err != nil {
		t.Errorf("AbortTarget of a cleared checkpoint: %v", err)
	}
	if err := eng.AbortTarget(context.Background(), p, 0, nil); err != nil {
		t.Errorf("AbortTarget without a checkpoint: %v", err)
	}
	var ve *destination.ValidationError
	if err := eng.AbortTarget(context.Background(), p, 1, cp); !errors.As(err, &ve) {
		t.Errorf("AbortTarget of target 1 of 1 = %v, want a *destination.ValidationError", err)
	}
	// The integration deactivated: its credentials are not used.
	in, err := store.Get(context.Background(), ws, targets[0].IntegrationID)
	if err != nil {
		t.Fatal(err)
	}
	in.IsActive = false
	if _, err := store.Update(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := eng.AbortTarget(context.Background(), p, 0, cp); destination.AsUploadError(err) == nil ||
		destination.AsUploadError(err).Code != delivery.CodeIntegrationUnavailable {
		t.Errorf("AbortTarget with the integration inactive = %v, want %s", err, delivery.CodeIntegrationUnavailable)
	}
}

// TestAbortCDN: as TestAbortTarget, for a cancelled CDN copy on S3 (versitygw).
func TestAbortCDN(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	store, targets, client := s3Targets(t, []destination.Config{cfg}, provider.Options{})
	cdnIn, err := store.Get(context.Background(), ws, targets[0].IntegrationID)
	if err != nil {
		t.Fatal(err)
	}
	b, release, err := client.Lease(context.Background(), cdnIn)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cdn := mustCDN(t, b, provider.CDNOptions{PartSize: 5 << 20, Concurrency: 1, Driver: s3Driver()})
	eng, err := delivery.New(delivery.Options{Store: store, CDN: cdn, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p := delivery.Plan{WorkspaceID: ws, RenderID: "abort-cdn", FileName: "render.mp4", FinishedAt: time.Now()}
	data := bytes.Repeat([]byte("0123456789abcdef"), 12<<16)
	cp := &memstore.Checkpoint{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := delivery.Source{ReaderAt: &cancelAtRead{ReaderAt: bytes.NewReader(data), at: 6 << 20, cancel: cancel}, Size: int64(len(data)), Checkpoint: cp}
	if _, _, err := eng.DeliverCDN(ctx, p, src); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled CDN copy: %v", err)
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 1 {
		t.Fatalf("%d multipart uploads after the cancel, want the one kept to resume", n)
	}
	if err := eng.AbortCDN(context.Background(), p, cp); err != nil {
		t.Fatal(err)
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 0 {
		t.Errorf("%d multipart uploads after AbortCDN, want 0", n)
	}
	if st, _ := cp.Load(context.Background()); len(st) != 0 {
		t.Errorf("the checkpoint holds %d bytes after AbortCDN, want it cleared", len(st))
	}
}
