package provider

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// TestCRC32CCombine: combining the CRC32Cs of two pieces gives the CRC32C of both, for any
// split.
func TestCRC32CCombine(t *testing.T) {
	data := make([]byte, 1<<16+7)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := crc32.Checksum(data, castagnoli)
	for _, at := range []int{0, 1, 255, 4096, len(data) / 2, len(data) - 1, len(data)} {
		a, b := crc32.Checksum(data[:at], castagnoli), crc32.Checksum(data[at:], castagnoli)
		if got := crc32cCombine(a, b, int64(len(data)-at)); got != want {
			t.Errorf("split at %d: %08x, want %08x", at, got, want)
		}
	}
}

// TestPartsRereadAndSeek: a part body read twice (a signature pass, then the send), or sought
// back mid-way, still gives the CRC32C of its bytes once; the combined checksum and count are
// those of the whole source.
func TestPartsRereadAndSeek(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	src := bytes.NewReader(data)
	var m meter
	p := (writeSpec{src: src, partSize: 10000, opts: destinationOpts(int64(len(data)))}).newParts(fakeAt{}, func() {})
	if p == nil || p.Count() != 7 || p.PartSize() != 10000 {
		t.Fatalf("parts %+v", p)
	}
	err := p.Each(context.Background(), 3, func(_ context.Context, i int, body io.ReadSeeker, size int64) error {
		if i%2 == 0 { // a partial pass, then back to the start
			if _, err := io.CopyN(io.Discard, body, size/2); err != nil {
				return err
			}
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		for range 2 {
			if n, err := io.Copy(io.Discard, body); err != nil || n != size {
				t.Errorf("part %d: %d bytes, %v", i, n, err)
			}
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.finish(&m, true)
	if m.n != int64(len(data)) || m.crc != crc32.Checksum(data, castagnoli) || !m.eof || m.err != nil {
		t.Errorf("meter n=%d crc=%08x eof=%v err=%v", m.n, m.crc, m.eof, m.err)
	}
}

// fakeAt is a driver with only the optional interface newParts looks for.
type fakeAt struct{}

func (fakeAt) UploadParts(context.Context, *blob.Bucket, *destination.Integration, string, *Parts, *blob.WriterOptions) (func(context.Context) error, error) {
	return nil, nil
}

func destinationOpts(size int64) destination.UploadOptions {
	return destination.UploadOptions{Size: size}
}
