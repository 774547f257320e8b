package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
)

// atUploader reads its source only through ReadAt, as provider's part-by-part path does, and
// fails when the engine handed it no random-access source.
type atUploader struct{ deliverytest.Uploader }

func (u *atUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	ra, ok := src.(interface {
		io.ReaderAt
		io.Seeker
		Size() int64
	})
	if !ok {
		return destination.UploadResult{}, errors.New("the source is not a ReaderAt of known size")
	}
	if pos, err := ra.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return destination.UploadResult{}, errors.New("the source's position is not 0")
	}
	if ra.Size() != opts.Size {
		return destination.UploadResult{}, errors.New("Size differs from UploadOptions.Size")
	}
	return u.Uploader.Upload(ctx, in, key, io.NewSectionReader(ra, 0, ra.Size()), opts)
}

// TestReaderAtSource: a ReaderAt source reaches the uploader as a ReaderAt of known size whose
// ReadAt keeps the guard's promises: the bytes are delivered whole; a file shorter than its
// size, a failing or a panicking one fail the output with the same codes as a stream read.
func TestReaderAtSource(t *testing.T) {
	up := &atUploader{}
	h := newHarness(t, func(o *delivery.Options) { o.Uploader = up })
	plan := delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "render.mp4", Targets: h.targets(t, ws, 1)}
	body := bytes.Repeat([]byte("frame"), 1000)
	d, err := h.eng.Deliver(context.Background(), plan, delivery.Source{ReaderAt: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil || d.Outputs[0].Status != destination.StatusCompleted || d.Outputs[0].OutputSizeBytes != int64(len(body)) {
		t.Fatalf("whole file: %+v %v", d, err)
	}
	for _, tc := range []struct {
		name string
		src  delivery.Source
		code string
	}{
		{"short", delivery.Source{ReaderAt: bytes.NewReader(make([]byte, 10)), Size: 24}, destination.CodeSourceSizeMismatch},
		{"read error", delivery.Source{ReaderAt: errReaderAt{}, Size: 24}, destination.CodeSourceFailed},
		{"panicking", delivery.Source{ReaderAt: panicReaderAt{after: 5}, Size: 24}, destination.CodeSourceFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &atUploader{}
			h := newHarness(t, func(o *delivery.Options) { o.Uploader = u })
			plan := delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "render.mp4", Targets: h.targets(t, ws, 1)}
			eng := h.eng
			out := eng.DeliverTarget(context.Background(), plan, 0, tc.src)
			if out.Status != destination.StatusFailed || out.ErrorCode != tc.code {
				t.Errorf("output %+v, want failed %s", out, tc.code)
			}
		})
	}
}
