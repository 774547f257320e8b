package riverqueue

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
)

// fakeRanges serves ranges of data, counting opens; fail breaks each reader after that many
// bytes (0: never).
type fakeRanges struct {
	data  []byte
	fail  int
	mu    sync.Mutex
	opens int
}

func (f *fakeRanges) NewRangeReader(_ context.Context, _ string, off, n int64) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	f.opens++
	f.mu.Unlock()
	end := int64(len(f.data))
	if n >= 0 && off+n < end {
		end = off + n
	}
	var r io.Reader = bytes.NewReader(f.data[off:end])
	if f.fail > 0 {
		r = io.MultiReader(io.LimitReader(r, int64(f.fail)), errReader{})
	}
	return io.NopCloser(r), int64(len(f.data)), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestRangeReaderAt reads 4 parts at once in 32 KiB calls, then one part again from its start:
// one range request per part pass, not per call, and the bytes are the copy's.
func TestRangeReaderAt(t *testing.T) {
	const part = 1 << 20
	data := make([]byte, 4*part+1000)
	_, _ = rand.Read(data)
	f := &fakeRanges{data: data}
	ra := newRangeReaderAt(context.Background(), f, "k", int64(len(data)))
	defer ra.Close()
	got := make([]byte, len(data))
	readPart := func(i int) {
		off := int64(i) * part
		end := min(off+part, int64(len(data)))
		for p := off; p < end; p += 32 << 10 {
			n := min(32<<10, end-p)
			if _, err := ra.ReadAt(got[p:p+n], p); err != nil && !(err == io.EOF && p+n == int64(len(data))) {
				t.Errorf("ReadAt %d: %v", p, err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() { readPart(i) })
	}
	wg.Wait()
	readPart(2)
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ from the copy's")
	}
	if f.opens > 6 {
		t.Errorf("%d range requests for 6 part passes", f.opens)
	}
	if _, err := ra.ReadAt(make([]byte, 10), int64(len(data))-5); err != io.EOF {
		t.Errorf("read over the end: %v, want io.EOF", err)
	}

	// A reader that breaks is opened again where it stopped.
	f2 := &fakeRanges{data: data, fail: 100 << 10}
	ra2 := newRangeReaderAt(context.Background(), f2, "k", int64(len(data)))
	defer ra2.Close()
	buf := make([]byte, 200<<10)
	if _, err := ra2.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:len(buf)]) {
		t.Errorf("read through a broken range: %v", err)
	}
	// A copy of another size is an error.
	ra3 := newRangeReaderAt(context.Background(), f, "k", int64(len(data))+1)
	if _, err := ra3.ReadAt(buf, 0); err == nil {
		t.Error("a copy of another size was read")
	}
}
