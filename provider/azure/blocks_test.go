package azure_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestReaderAtContract runs the file-source contract on Azurite: blocks staged straight from
// the file (never read as a stream), byte-identical, counted, checksummed and verified;
// failures and cancellations leave no blob and no uncommitted block.
func TestReaderAtContract(t *testing.T) {
	srv := emulator.NeedAzure(t)
	cfg := srv.Container(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	emulator.CheckReaderAtContract(t, newClient(t, &u, nil), in, blockSize, srv.RawAzure(t, cfg), true)
}

// TestReaderAtBlocks records the fast path: equal-size blocks, one Put Block List carrying the
// content type and the upload's metadata.
func TestReaderAtBlocks(t *testing.T) {
	cfg := emulator.Azure(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	const size = 2*blockSize + 99
	f, _ := emulator.DataFile(t, size, 2)
	if _, err := c.Upload(context.Background(), in, "b/big.mp4", emulator.NewFileSource(f, size), destination.UploadOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	var blocks []int64
	var lists int
	for _, r := range rec.Requests() {
		switch q := r.URL.Query(); {
		case r.Method == http.MethodPut && q.Get("comp") == "block":
			blocks = append(blocks, r.BodyBytes)
		case r.Method == http.MethodPut && q.Get("comp") == "blocklist":
			lists++
			if h := r.Header; header(h, "x-ms-blob-content-type") != "video/mp4" || header(h, "x-ms-meta-outputs__0x2d__upload") == "" {
				t.Errorf("Put Block List headers %v: want the type and the upload's metadata", r.Header)
			}
		}
	}
	var sum int64
	for _, b := range blocks {
		sum += b
		if b != blockSize && b != 99 {
			t.Errorf("block of %d bytes, want %d (or the last of 99)", b, blockSize)
		}
	}
	if len(blocks) != 3 || sum != size || lists != 1 {
		t.Errorf("%d blocks of %d bytes, %d lists; want 3 of %d bytes, 1 list", len(blocks), sum, lists, size)
	}
}

// header returns the first value of the header name in h, whatever its case (azblob sets its
// x-ms- headers in lower case, past http.Header's canonical form), or "".
func header(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}
