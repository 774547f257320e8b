package emulator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// DataFile writes n bytes of NewData(n, seed) to a temporary file (removed with the test) and
// returns it open for reading, with the bytes' SHA-256.
func DataFile(t testing.TB, n int64, seed byte) (*os.File, []byte) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "render.mp4")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(n, seed)
	if _, err := io.Copy(f, d); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, d.Sum()
}

// FileSource is what the delivery engine hands an uploader for a file: a section reader over a
// ReaderAt of known size. When Streamed is set, reading it as a stream (Read) is counted, so a
// test can tell the part-by-part path (ReadAt only) from the buffered one.
type FileSource struct {
	*io.SectionReader
	Streamed atomic.Int64
}

// NewFileSource returns the source of size bytes of ra.
func NewFileSource(ra io.ReaderAt, size int64) *FileSource {
	return &FileSource{SectionReader: io.NewSectionReader(ra, 0, size)}
}

// Read counts stream reads.
func (s *FileSource) Read(p []byte) (int, error) {
	s.Streamed.Add(1)
	return s.SectionReader.Read(p)
}

// faultyAt fails (or panics, or cancels) every ReadAt at or beyond offset at.
type faultyAt struct {
	ra     io.ReaderAt
	at     int64
	panics bool
	cancel func() // instead of failing: cancel, then read
}

func (f *faultyAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		switch {
		case f.cancel != nil:
			f.cancel()
		case f.panics:
			panic("source bug")
		default:
			return 0, errors.New("disk read failed")
		}
	}
	return f.ra.ReadAt(p, off)
}

// CheckReaderAtContract checks Upload's promises for a file source (what the delivery engine
// hands an uploader: an *io.SectionReader of known size) of several parts on a real provider:
// the stored object is byte-identical, counted, checksummed and verified; when fast is set the
// file was read part by part only (never as a stream); a file failing, panicking or ending
// early mid-upload and 5 cancellations at random points leave no object and nothing else.
func CheckReaderAtContract(t *testing.T, c destination.Uploader, in *destination.Integration, partSize int64, raw Raw, fast bool) {
	t.Helper()
	ctx := context.Background()
	size := 3*partSize + 4321
	f, sum := DataFile(t, size, 7)
	code := func(err error) string {
		if ue := destination.AsUploadError(err); ue != nil {
			return ue.Code
		}
		return "not an UploadError: " + errString(err)
	}
	absent := func(t *testing.T, name string) {
		t.Helper()
		if raw.Head == nil {
			return
		}
		if _, ok, err := raw.Head(ctx, name); err != nil || ok {
			t.Errorf("object %q: exists %v (err %v), want absent", name, ok, err)
		}
	}
	leftovers := func(t *testing.T) {
		t.Helper()
		if raw.Leftovers == nil {
			return
		}
		if n, err := raw.Leftovers(ctx, "readerat/"); err != nil || n != 0 {
			t.Errorf("%d leftovers (err %v), want 0", n, err)
		}
	}
	t.Run("whole", func(t *testing.T) {
		src := NewFileSource(f, size)
		var progress atomic.Int64
		res, err := c.Upload(ctx, in, "readerat/whole.mp4", src, destination.UploadOptions{Size: size,
			Progress: func(n int64) { progress.Store(n) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != size || res.Checksum != CRC32C(size, 7) || res.Verified == "" {
			t.Fatalf("result %+v, want size %d checksum %s, verified", res, size, CRC32C(size, 7))
		}
		if fast && src.Streamed.Load() != 0 {
			t.Errorf("the file was read as a stream %d times, want part by part only", src.Streamed.Load())
		}
		if progress.Load() != size {
			t.Errorf("last progress %d, want %d", progress.Load(), size)
		}
		if raw.Sum != nil {
			got, err := raw.Sum(ctx, res.Key)
			if err != nil || !bytes.Equal(got, sum) {
				t.Fatalf("stored bytes differ from the file (err %v)", err)
			}
		}
		t.Logf("verified: %s", res.Verified)
	})
	for _, tc := range []struct {
		name string
		src  io.ReaderAt
		size int64
		code string
	}{
		{"failing", &faultyAt{ra: f, at: partSize + partSize/2}, size, destination.CodeSourceFailed},
		{"panicking", &faultyAt{ra: f, at: 2 * partSize, panics: true}, size, destination.CodeSourceFailed},
		{"short", f, size + 2*partSize, destination.CodeSourceSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "readerat/" + tc.name + ".mp4"
			_, err := c.Upload(ctx, in, key, NewFileSource(tc.src, tc.size), destination.UploadOptions{Size: tc.size})
			if got := code(err); got != tc.code {
				t.Fatalf("Upload: code %s (%v), want %s", got, err, tc.code)
			}
			absent(t, key)
			leftovers(t)
		})
	}
	t.Run("cancels", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range 5 {
			cctx, cancel := context.WithCancel(ctx)
			at := rng.Int64N(size)
			key := "readerat/cancel.mp4"
			_, err := c.Upload(cctx, in, key, NewFileSource(&faultyAt{ra: f, at: at, cancel: cancel}, size), destination.UploadOptions{Size: size})
			cancel()
			if got := code(err); err == nil || got != destination.CodeCanceled {
				t.Errorf("cancel %d at %d: code %s (%v)", i, at, got, err)
			}
			absent(t, key)
		}
		time.Sleep(100 * time.Millisecond)
		leftovers(t)
	})
}
