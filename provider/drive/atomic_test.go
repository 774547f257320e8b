package drive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// liveNamed returns the live files of srv called name.
func liveNamed(srv *drivetest.Server, name string) []drivetest.Item {
	var out []drivetest.Item
	for _, it := range files(srv) {
		if it.Name == name {
			out = append(out, it)
		}
	}
	return out
}

// TestCreateRetriedAfterLostAnswerMakesOneFile: a create (multipart or resumable) or a copy whose
// answer is lost is retried without making a second file.
func TestCreateRetriedAfterLostAnswerMakesOneFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		chunk int
		size  int
		fault drivetest.Fault
	}{
		{"multipart", DefaultChunkSize, 1000, drivetest.Fault{Op: "upload.multipart", LoseAnswer: true}},
		{"resumable last chunk", 256 << 10, 600 << 10, drivetest.Fault{Op: "upload.chunk", Skip: 2, LoseAnswer: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := drivetest.NewServer(drivetest.Options{})
			defer srv.Close()
			b := openTestBucket(t, srv, Options{ChunkSize: tc.chunk})
			srv.InjectFault(tc.fault)
			data := bytes.Repeat([]byte("v"), tc.size)
			if err := b.WriteAll(ctx, "renders/render.mp4", data, nil); err != nil {
				t.Fatal(err)
			}
			if got := liveNamed(srv, "render.mp4"); len(got) != 1 || got[0].Size != int64(tc.size) {
				t.Fatalf("after a retried create: %+v; want one render.mp4", got)
			}
		})
	}
	t.Run("copy", func(t *testing.T) {
		srv := drivetest.NewServer(drivetest.Options{})
		defer srv.Close()
		b := openTestBucket(t, srv, Options{})
		if err := b.WriteAll(ctx, "src.mp4", []byte("video"), nil); err != nil {
			t.Fatal(err)
		}
		srv.InjectFault(drivetest.Fault{Op: "files.copy", LoseAnswer: true})
		if err := b.Copy(ctx, "dst.mp4", "src.mp4", nil); err != nil {
			t.Fatal(err)
		}
		if got := liveNamed(srv, "dst.mp4"); len(got) != 1 {
			t.Fatalf("after a retried copy: %d dst.mp4 files, want 1", len(got))
		}
	})
}

// holdingTransport answers the first multipart upload with a 503 at once and never closes its
// request body, like a transport still reading it; later requests go through.
type holdingTransport struct {
	base http.RoundTripper
	held atomic.Bool
}

func (h *holdingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("uploadType") == "multipart" && h.held.CompareAndSwap(false, true) {
		body := `{"error":{"code":503,"message":"Backend Error","errors":[{"reason":"backendError","domain":"global","message":"Backend Error"}]}}`
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
	return h.base.RoundTrip(r)
}

// corruptingTransport changes one byte of every multipart upload's media: Drive stores other
// bytes than those sent.
type corruptingTransport struct{ base http.RoundTripper }

func (c corruptingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("uploadType") == "multipart" {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		b = bytes.Replace(b, []byte("new content"), []byte("NEW content"), 1)
		r = r.Clone(r.Context())
		r.Body, r.ContentLength, r.GetBody = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	return c.base.RoundTrip(r)
}

func openWith(t *testing.T, srv *drivetest.Server, wrap func(http.RoundTripper) http.RoundTripper) *blob.Bucket {
	t.Helper()
	base := srv.Client().Transport
	if base == nil {
		base = http.DefaultTransport
	}
	b, err := OpenBucket(context.Background(), &http.Client{Transport: wrap(base)}, "", &Options{Endpoint: srv.Endpoint(), Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestOverwriteAllOrNothing: an overwrite whose first attempt's body the transport holds is
// retried with the whole payload (never an empty one from a dropped buffer), and an overwrite
// whose stored bytes fail the MD5 check leaves the old file as it was.
func TestOverwriteAllOrNothing(t *testing.T) {
	ctx := context.Background()

	t.Run("retry after a held body", func(t *testing.T) {
		srv := drivetest.NewServer(drivetest.Options{})
		defer srv.Close()
		if err := openTestBucket(t, srv, Options{}).WriteAll(ctx, "k.mp4", []byte("old"), nil); err != nil {
			t.Fatal(err)
		}
		b := openWith(t, srv, func(rt http.RoundTripper) http.RoundTripper { return &holdingTransport{base: rt} })
		if err := b.WriteAll(ctx, "k.mp4", []byte("new content"), nil); err != nil {
			t.Fatalf("overwrite: %v", err)
		}
		if got, err := b.ReadAll(ctx, "k.mp4"); err != nil || string(got) != "new content" {
			t.Fatalf("after the overwrite: %q, %v", got, err)
		}
		if n := len(liveNamed(srv, "k.mp4")); n != 1 {
			t.Fatalf("%d files named k.mp4", n)
		}
	})
	t.Run("checksum mismatch keeps the old file", func(t *testing.T) {
		srv := drivetest.NewServer(drivetest.Options{})
		defer srv.Close()
		if err := openTestBucket(t, srv, Options{}).WriteAll(ctx, "k.mp4", []byte("old"), nil); err != nil {
			t.Fatal(err)
		}
		before := liveNamed(srv, "k.mp4")
		b := openWith(t, srv, func(rt http.RoundTripper) http.RoundTripper { return corruptingTransport{base: rt} })
		if err := b.WriteAll(ctx, "k.mp4", []byte("new content"), nil); !errors.Is(err, ErrChecksum) {
			t.Fatalf("overwrite with corrupted bytes: %v, want ErrChecksum", err)
		}
		after := liveNamed(srv, "k.mp4")
		if len(after) != 1 || after[0].ID != before[0].ID || after[0].MD5 != before[0].MD5 {
			t.Fatalf("after a failed overwrite: %+v; want the old file untouched (%+v)", after, before)
		}
		if got, err := b.ReadAll(ctx, "k.mp4"); err != nil || string(got) != "old" {
			t.Fatalf("read after a failed overwrite: %q, %v", got, err)
		}
	})
}
