package emulator

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// CopyStats are what CheckCopy measured of one upload from the CDN copy.
type CopyStats struct {
	Result destination.UploadResult
	// SourceBytes were read from the source; SentBytes were sent in request bodies (rec).
	SourceBytes, SentBytes int64
}

// CDNCopy uploads size bytes (seed) to cdnKey in cdn, then uploads them to key in the
// integration in through c with UploadOptions.CopyFrom naming that copy; it checks that the
// result's Transfer is want, that the stored object has the same bytes, and for a copy that
// no byte was read from the source nor sent in a request body (rec: c's recorder). It returns
// what it measured.
func CDNCopy(t *testing.T, c *provider.Client, rec *Recorder, cdn *provider.CDN, in *destination.Integration, cdnKey, key string, size int64, seed byte, want string) CopyStats {
	t.Helper()
	ctx := context.Background()
	cres, err := cdn.Upload(ctx, cdnKey, NewData(size, seed), destination.UploadOptions{Size: size})
	if err != nil {
		t.Fatalf("CDN upload: %v", err)
	}
	src := &countingReader{r: NewData(size, seed)}
	rec.Reset()
	res, err := c.Upload(ctx, in, key, src, destination.UploadOptions{Size: size,
		CopyFrom: &destination.CopySource{CDN: cdn, Key: cdnKey, Size: size, Checksum: cres.Checksum}})
	if err != nil {
		t.Fatalf("Upload with CopyFrom: %v", err)
	}
	st := CopyStats{Result: res, SourceBytes: src.n.Load()}
	for _, r := range rec.Requests() {
		st.SentBytes += r.BodyBytes
	}
	if want != "" && res.Transfer != want {
		t.Errorf("Transfer %q, want %q (stats %+v)", res.Transfer, want, st)
	}
	if res.Size != size || res.Checksum != cres.Checksum {
		t.Errorf("result size %d checksum %s, want %d %s", res.Size, res.Checksum, size, cres.Checksum)
	}
	if want == destination.TransferCopy && (st.SourceBytes != 0 || st.SentBytes > 64<<10) {
		t.Errorf("a copy read %d bytes of the source and sent %d bytes", st.SourceBytes, st.SentBytes)
	}
	b, release, err := c.Lease(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	defer r.Close()
	got, n, err := HashReader(r)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	d := NewData(size, seed)
	wantSum, _, _ := HashReader(d)
	if n != size || !bytes.Equal(got, wantSum) {
		t.Errorf("stored %d bytes, want %d identical bytes", n, size)
	}
	return st
}
