package emulator

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Raw is what the upload contract checks need of a provider's own SDK, bypassing the Go CDK
// (so key escaping is not undone).
type Raw struct {
	// Head returns the size of the object stored under exactly name, or ok=false.
	Head func(ctx context.Context, name string) (size int64, ok bool, err error)
	// Leftovers counts what failed uploads left behind under prefix (open multipart uploads,
	// uncommitted blocks); nil when the provider keeps nothing of the kind.
	Leftovers func(ctx context.Context, prefix string) (int, error)
	// OpenUploads lists the IDs of the multipart uploads open under prefix (S3 only), so a
	// test can tell an upload the server confirmed aborted from one nobody aborted.
	OpenUploads func(ctx context.Context, prefix string) ([]string, error)
	// Sum returns the SHA-256 of the object stored under exactly name.
	Sum func(ctx context.Context, name string) ([]byte, error)
}

// CRC32C returns the UploadResult.Checksum of n bytes of NewData(n, seed).
func CRC32C(n int64, seed byte) string {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	_, _ = io.Copy(h, NewData(n, seed))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h.Sum32())
	return "crc32c:" + base64.StdEncoding.EncodeToString(b[:])
}

// CheckUploadContract checks Upload's promises on a real provider: exact sizes (short, long,
// zero-byte sources), CRC32C and verification, a source failing mid-stream or panicking, typed
// nil sources, odd file names whose reported key and URL name the stored object, and 10
// cancellations at random points leaving no object and nothing else behind.
func CheckUploadContract(t *testing.T, c destination.Uploader, in *destination.Integration, partSize int64, raw Raw) {
	t.Helper()
	ctx := context.Background()
	absent := func(t *testing.T, name string) {
		t.Helper()
		if _, ok, err := raw.Head(ctx, name); err != nil || ok {
			t.Errorf("object %q: exists %v (err %v), want absent", name, ok, err)
		}
	}
	code := func(err error) string {
		var ue *destination.UploadError
		if !errors.As(err, &ue) {
			return "not an UploadError: " + errString(err)
		}
		return ue.Code
	}
	t.Run("exact", func(t *testing.T) {
		size := partSize + 12345
		res, err := c.Upload(ctx, in, "contract/exact.mp4", NewData(size, 3), destination.UploadOptions{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != size || res.Checksum != CRC32C(size, 3) || res.Verified == "" {
			t.Fatalf("result %+v, want size %d checksum %s, verified", res, size, CRC32C(size, 3))
		}
		if n, ok, err := raw.Head(ctx, res.Key); !ok || n != size {
			t.Fatalf("stored %q: %d bytes, exists %v, err %v", res.Key, n, ok, err)
		}
		t.Logf("verified: %s", res.Verified)
	})
	t.Run("zero", func(t *testing.T) {
		res, err := c.Upload(ctx, in, "contract/zero.mp4", strings.NewReader(""), destination.UploadOptions{Size: 0})
		if err != nil || res.Size != 0 || res.Checksum != CRC32C(0, 0) {
			t.Fatalf("%+v, %v", res, err)
		}
		if n, ok, err := raw.Head(ctx, res.Key); !ok || n != 0 {
			t.Fatalf("stored %q: %d bytes, exists %v, err %v", res.Key, n, ok, err)
		}
	})
	for _, tc := range []struct {
		name      string
		src       func() io.Reader
		size      int64
		code      string
		transient bool
	}{
		{"short", func() io.Reader { return NewData(2*partSize, 1) }, 2*partSize + 1, destination.CodeSourceSizeMismatch, false},
		{"long", func() io.Reader { return NewData(2*partSize+1, 1) }, 2 * partSize, destination.CodeSourceSizeMismatch, false},
		{"long-unknown-zero", func() io.Reader { return strings.NewReader("x") }, 0, destination.CodeSourceSizeMismatch, false},
		{"failing", func() io.Reader { return io.MultiReader(NewData(partSize+partSize/2, 1), failingReader{}) }, -1, destination.CodeSourceFailed, false},
		{"panicking", func() io.Reader { return io.MultiReader(NewData(partSize/2, 1), panickingReader{}) }, -1, destination.CodeSourceFailed, false},
		{"typed-nil", func() io.Reader { var r *strings.Reader; return r }, -1, destination.CodeSourceFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "contract/" + tc.name + ".mp4"
			_, err := c.Upload(ctx, in, key, tc.src(), destination.UploadOptions{Size: tc.size})
			if got := code(err); got != tc.code {
				t.Fatalf("Upload: code %s (%v), want %s", got, err, tc.code)
			}
			absent(t, key)
		})
	}
	t.Run("odd-names", func(t *testing.T) {
		for _, name := range []string{`a%b#c?d"e f.mp4`, "ü ß+&=;,'!$@.mp4", "100%.mp4", "back\\slash.mp4"} {
			res, err := c.Upload(ctx, in, "contract/odd/"+name, strings.NewReader("odd"), destination.UploadOptions{Size: 3})
			if err != nil {
				t.Errorf("%q: %v", name, err)
				continue
			}
			if n, ok, err := raw.Head(ctx, res.Key); !ok || n != 3 {
				t.Errorf("%q: reported key %q: stored %d bytes, exists %v, err %v", name, res.Key, n, ok, err)
			}
			if res.URL != "" {
				u, err := url.Parse(res.URL)
				if err != nil || !strings.HasSuffix(u.Path, "/"+res.Key) {
					t.Errorf("%q: URL %q does not name the stored key %q", name, res.URL, res.Key)
				}
			}
		}
	})
	t.Run("cancels", func(t *testing.T) {
		size := 3 * partSize
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 10 {
			cctx, cancel := context.WithCancel(ctx)
			at := rng.Int64N(size)
			var read atomic.Int64
			key := "contract/cancel.mp4"
			_, err := c.Upload(cctx, in, key, &cancelAt{r: NewData(size, byte(i)), at: at, cancel: cancel, n: &read}, destination.UploadOptions{Size: size})
			cancel()
			if err == nil {
				t.Errorf("cancel %d at %d: upload succeeded", i, at)
				continue
			}
			if got := code(err); got != destination.CodeCanceled {
				t.Errorf("cancel %d at %d: code %s (%v)", i, at, got, err)
			}
			absent(t, key)
		}
		if raw.Leftovers != nil {
			time.Sleep(100 * time.Millisecond)
			if n, err := raw.Leftovers(ctx, "contract/"); err != nil || n != 0 {
				t.Errorf("after 10 cancels: %d leftovers (err %v), want 0", n, err)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk read failed") }

type panickingReader struct{}

func (panickingReader) Read([]byte) (int, error) { panic("source bug") }

// cancelAt cancels once at bytes were read.
type cancelAt struct {
	r      io.Reader
	at     int64
	cancel func()
	n      *atomic.Int64
}

func (c *cancelAt) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n.Add(int64(n)) >= c.at {
		c.cancel()
	}
	return n, err
}

// CDNUploader adapts a CDN to the Uploader the checks take (the integration is ignored).
func CDNUploader(c destination.CDN) destination.Uploader { return cdnUploader{c} }

type cdnUploader struct{ c destination.CDN }

func (u cdnUploader) Upload(ctx context.Context, _ *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	return u.c.Upload(ctx, key, src, opts)
}

func (u cdnUploader) Test(context.Context, *destination.Integration) destination.TestResult {
	return destination.TestResult{OK: true}
}
