package delivery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// cdnDriver is the Driver of the benchmark's CDN bucket: S3's (cleanup, parts straight from
// the file), none for a fileblob directory.
func cdnDriver(fileCDN bool) provider.Driver {
	if fileCDN {
		return nil
	}
	return s3.NewDriver(s3.Options{})
}

// BenchmarkFanOut delivers one file to a CDN bucket and three S3 destinations, all on the same
// versitygw, through Engine.Deliver ("library"), and the same four uploads made concurrently
// with the raw transfer manager ("raw-sdk", same part size and concurrency) in the same run, and
// the four one after another ("raw-sequential"). It reports the peak Go heap and RSS growth.
// It runs over https when the TLS versitygw runs (emulator.BenchS3), else over http (logged).
//
//	OUTPUTS_BENCH_FANOUT_MIB=512 OUTPUTS_BENCH_PART_MIB=8 go test -run '^$' -bench FanOut -benchtime 1x ./delivery/
func BenchmarkFanOut(b *testing.B) {
	mib := int64(64)
	if v := os.Getenv("OUTPUTS_BENCH_FANOUT_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &mib); err != nil {
			b.Fatal(err)
		}
	}
	size := mib << 20
	srv := emulator.BenchS3(b)
	path := filepath.Join(b.TempDir(), "render.mp4")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, emulator.NewData(size, 7)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	partMiB, concurrency := 8, 2
	if v := os.Getenv("OUTPUTS_BENCH_PART_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &partMiB); err != nil {
			b.Fatal(err)
		}
	}
	partSize := partMiB << 20

	var cfgs []destination.Config
	for i := 0; i < 4; i++ {
		cfgs = append(cfgs, srv.Bucket(b))
	}
	ctx := context.Background()
	store, targets, client := s3Targets(b, cfgs, provider.Options{PartSize: partSize, Concurrency: concurrency, RootCAs: srv.RootCAs})
	// The CDN: an s3blob bucket like the others, or with OUTPUTS_BENCH_CDN=file a fileblob
	// directory as in the quickstart (the raw side then copies the file with io.Copy).
	fileCDN := os.Getenv("OUTPUTS_BENCH_CDN") == "file"
	cdnDir := b.TempDir()
	var cdn *blob.Bucket
	if fileCDN {
		cdn, err = fileblob.OpenBucket(cdnDir, nil)
	} else {
		first, _ := store.Get(ctx, ws, targets[0].IntegrationID)
		var release func()
		cdn, release, err = client.Lease(ctx, first)
		if err == nil {
			defer release()
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, Logger: slog.New(slog.DiscardHandler),
		CDN: mustCDN(b, cdn, provider.CDNOptions{BaseURL: "https://cdn.test", PartSize: partSize, Concurrency: concurrency, Driver: cdnDriver(fileCDN)})})
	if err != nil {
		b.Fatal(err)
	}

	tm := transfermanager.New(srv.Client(nil), func(o *transfermanager.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = int64(partSize), int64(partSize), concurrency
	})
	rawOne := func(file *os.File, bucket, key string) {
		if _, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: io.NewSectionReader(file, 0, size), ContentType: aws.String("video/mp4")}); err != nil {
			b.Error(err)
		}
	}
	rawAll := func(file *os.File, i int, key string) {
		if i > 0 || !fileCDN {
			rawOne(file, cfgs[i].Bucket, key)
			return
		}
		f, err := os.Create(filepath.Join(cdnDir, "raw-copy"))
		if err == nil {
			_, err = io.Copy(f, io.NewSectionReader(file, 0, size))
			f.Close()
		}
		if err != nil {
			b.Error(err)
		}
	}
	report := func(b *testing.B, fn func()) {
		var heap, rss uint64

		for b.Loop() {
			h, r := emulator.PeakMemory(fn)
			heap, rss = max(heap, h), max(rss, r)
		}
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
		b.SetBytes(4 * size)
	}
	b.Run("library", func(b *testing.B) {
		report(b, func() {
			src, closer, err := delivery.FileSource(path)
			if err != nil {
				b.Fatal(err)
			}
			defer closer.Close()
			d, err := eng.Deliver(ctx, delivery.Plan{WorkspaceID: ws, RenderID: "bench", FileName: "render.mp4", Targets: targets[1:]}, src)
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range d.Outputs {
				if o.Status != destination.StatusCompleted {
					b.Fatalf("%+v", o)
				}
			}
		})
	})
	b.Run("raw-sdk", func(b *testing.B) {
		report(b, func() {
			file, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer file.Close()
			var wg sync.WaitGroup
			for i := range cfgs {
				wg.Go(func() { rawAll(file, i, "raw/render.mp4") })
			}
			wg.Wait()
		})
	})
	b.Run("raw-sequential", func(b *testing.B) {
		report(b, func() {
			file, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer file.Close()
			for i := range cfgs {
				rawAll(file, i, "seq/render.mp4")
			}
		})
	})
}
