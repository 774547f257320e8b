package provider

import (
	"bytes"
	"context"
	"crypto/md5"
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

// fullMD5At is a driver whose provider keeps the MD5 of every object: its parts go in order.
type fullMD5At struct{ fakeAt }

func (fullMD5At) StoredCRC32C(*blob.Attributes) (uint32, bool) { return 0, false }
func (fullMD5At) FullMD5() bool                                { return true }

// TestPartsInOrder: for a FullMD5 driver the part size is a multiple of 256 KiB, Each runs one
// part at a time in order whatever the concurrency asked, and the MD5 of the whole source is
// computed as the parts are read (a part read in part, then again, counts once).
func TestPartsInOrder(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	p := (writeSpec{src: bytes.NewReader(data), partSize: 1<<20 + 1, opts: destinationOpts(int64(len(data)))}).newParts(fullMD5At{}, func() {})
	if p == nil || p.PartSize() != 1<<20+256<<10 || !p.inOrder {
		t.Fatalf("parts %+v", p)
	}
	next := 0
	err := p.Each(context.Background(), 4, func(_ context.Context, i int, body io.ReadSeeker, size int64) error {
		if i != next {
			t.Errorf("part %d, want %d", i, next)
		}
		next++
		if _, err := io.CopyN(io.Discard, body, size/3); err != nil {
			return err
		}
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := md5.Sum(data)
	if sum, ok := p.MD5(); !ok || !bytes.Equal(sum, want[:]) {
		t.Fatalf("MD5 %x %v, want %x", sum, ok, want)
	}
	var m meter
	p.finish(&m, true)
	if m.md5 == nil || !bytes.Equal(m.md5.Sum(nil), want[:]) || m.md5Limit != -1 {
		t.Error("the meter has not the source's MD5")
	}
}
