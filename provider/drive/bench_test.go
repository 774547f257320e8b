package drive

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"gocloud.dev/blob"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

// patternReader yields n bytes cycling through a random 64 KiB block: cheap to generate, so the
// benchmark measures the upload, and incompressible.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

func newPatternReader(n int64) *patternReader {
	block := make([]byte, 64<<10)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(block)
	return &patternReader{block: block, left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.left > 0 {
		m := copy(b[n:min(len(b), n+int(p.left))], p.block[p.off:])
		p.off = (p.off + m) % len(p.block)
		n += m
		p.left -= int64(m)
	}
	return n, nil
}

// BenchmarkUpload sends blobs to the fake through this driver and through the bare drive/v3
// client (Files.Create().Media), both with 8 MiB chunks. Allocations include the fake's copy of
// the file (one byte per byte uploaded); client-B/op subtracts it, leaving what the client side
// allocated per upload, which should stay near one chunk whatever the size.
//
//	go test -run '^$' -bench Upload -benchtime 5x ./provider/drive
func BenchmarkUpload(b *testing.B) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	for _, size := range []int64{10 << 20, 100 << 20} {
		b.Run(fmt.Sprintf("driver/%dMiB", size>>20), func(b *testing.B) {
			bkt, err := OpenBucket(ctx, srv.Client(), "", &Options{Endpoint: srv.Endpoint(), ChunkSize: DefaultChunkSize,
				PermanentDelete: true, Retry: RetryPolicy{MinInterval: -1}})
			if err != nil {
				b.Fatal(err)
			}
			measure(b, size, func(i int) {
				key := fmt.Sprintf("bench/driver-%d", i)
				if err := bkt.Upload(ctx, key, newPatternReader(size), &blob.WriterOptions{ContentType: "video/mp4"}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := bkt.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			})
		})
		b.Run(fmt.Sprintf("bare-drive-v3/%dMiB", size>>20), func(b *testing.B) {
			svc, err := srv.Service(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			measure(b, size, func(i int) {
				f, err := svc.Files.Create(&drive.File{Name: fmt.Sprintf("bare-%d", i), MimeType: "video/mp4"}).
					Media(newPatternReader(size), googleapi.ChunkSize(DefaultChunkSize), googleapi.ContentType("video/mp4")).
					SupportsAllDrives(true).Fields("id,md5Checksum").Context(ctx).Do()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := svc.Files.Delete(f.Id).Do(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			})
		})
	}
}

// measure runs upload b.N times and reports throughput and client-side allocation per upload.
func measure(b *testing.B, size int64, upload func(i int)) {
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		upload(i)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perOp := float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N)
	b.ReportMetric((perOp-float64(size))/(1<<20), "client-MiB/op")
}
