package delivery_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// copyRig is a CDN bucket and a destination bucket on one versitygw, an Engine over them, and
// counters of the bytes that pass through the worker.
type copyRig struct {
	eng     *delivery.Engine
	cdn     destination.CDN
	plan    delivery.Plan
	rec     *emulator.Recorder
	file    string
	size    int64
	cdnKey  string
	cdnSum  string // the CDN copy's checksum, as a delivery record keeps it
	cdnRead atomic.Int64
}

func newCopyRig(t testing.TB, srv emulator.S3Server, size int64) *copyRig {
	t.Helper()
	r := &copyRig{rec: &emulator.Recorder{}, size: size}
	cfgs := []destination.Config{srv.Bucket(t), srv.Bucket(t)}
	store, targets, client := s3Targets(t, cfgs, provider.Options{PartSize: 8 << 20, Concurrency: 4, RootCAs: srv.RootCAs, WrapTransport: r.rec.Wrap})
	ctx := context.Background()
	first, _ := store.Get(ctx, ws, targets[0].IntegrationID)
	b, release, err := client.Lease(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	r.cdn = mustCDN(t, b, provider.CDNOptions{BaseURL: "https://cdn.test", PartSize: 8 << 20, Concurrency: 4, Driver: s3Driver()})
	r.eng, err = delivery.New(delivery.Options{Store: store, Uploader: client, CDN: r.cdn, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.plan = delivery.Plan{WorkspaceID: ws, RenderID: emulator.Name("r"), FileName: "render.mp4", Targets: targets[1:]}
	r.file = filepath.Join(t.TempDir(), "render.mp4")
	f, err := os.Create(r.file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, emulator.NewData(size, 9)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, closer, err := delivery.FileSource(r.file)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	_, out, err := r.eng.DeliverCDN(ctx, r.plan, src)
	if err != nil {
		t.Fatalf("DeliverCDN: %v (%+v)", err, out)
	}
	r.cdnKey, r.cdnSum = out.OutputKey, out.Checksum
	return r
}

// source is the CDN copy streamed back (CDNSource), counting what is read of it; with stream
// set it does not name the CDN key, so the destination is streamed.
func (r *copyRig) source(t testing.TB, stream bool) delivery.Source {
	t.Helper()
	src, err := delivery.CDNSource(context.Background(), r.cdn, r.cdnKey)
	if err != nil {
		t.Fatal(err)
	}
	src.Checksum = r.cdnSum // what riverqueue's destination jobs take from the record
	if stream {
		src.CDNKey = ""
	}
	open := src.Open
	src.Open = func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return countedRC{rc, &r.cdnRead}, nil
	}
	return src
}

// deliver delivers the target from the CDN copy and returns its output and the bytes that went
// through the worker: read from the CDN copy plus sent in request bodies.
func (r *copyRig) deliver(t testing.TB, stream bool) (destination.Output, int64) {
	t.Helper()
	r.cdnRead.Store(0)
	r.rec.Reset()
	out := r.eng.DeliverTarget(context.Background(), r.plan, 0, r.source(t, stream))
	var sent int64
	for _, q := range r.rec.Requests() {
		sent += q.BodyBytes
	}
	return out, r.cdnRead.Load() + sent
}

type countedRC struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countedRC) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestDeliverTargetCopiesFromCDN: a destination job fed the CDN copy (CDNSource) on the CDN's
// own S3 service is written server-side: output "copy", no byte through the worker, the size
// and checksum of the CDN copy; the same target fed a plain stream says "stream".
func TestDeliverTargetCopiesFromCDN(t *testing.T) {
	r := newCopyRig(t, emulator.NeedS3(t), provider.DefaultCopyPartSize+3<<20)
	out, through := r.deliver(t, false)
	if out.Status != destination.StatusCompleted || out.Transfer != destination.TransferCopy || out.OutputSizeBytes != r.size || out.Checksum != emulator.CRC32C(r.size, 9) {
		t.Fatalf("output %+v, want a completed copy of %d bytes", out, r.size)
	}
	if through > 64<<10 || r.cdnRead.Load() != 0 {
		t.Errorf("%d bytes went through the worker for a copy (%d read from the CDN), want only the requests' XML", through, r.cdnRead.Load())
	}
	t.Logf("copy: %d bytes through the worker (request XML)", through)
	out, through = r.deliver(t, true)
	if out.Status != destination.StatusCompleted || out.Transfer != destination.TransferStream || out.Checksum != emulator.CRC32C(r.size, 9) {
		t.Fatalf("output %+v, want a completed stream", out)
	}
	if through < 2*r.size {
		t.Errorf("a stream moved %d bytes through the worker, want at least %d", through, 2*r.size)
	}
}

// BenchmarkDeliverFromCDN delivers one destination from the CDN copy (a destination job or a
// redelivery) on one versitygw, over TLS when it runs: server-side ("copy") and streamed back
// through the worker ("stream"). It reports the bytes through the worker (read from the CDN plus
// sent) and the wall time per delivery.
//
//	OUTPUTS_BENCH_COPY_MIB=256 go test -run '^$' -bench DeliverFromCDN -benchtime 3x ./delivery/
func BenchmarkDeliverFromCDN(b *testing.B) {
	mib := int64(256)
	if v := os.Getenv("OUTPUTS_BENCH_COPY_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &mib); err != nil {
			b.Fatal(err)
		}
	}
	r := newCopyRig(b, emulator.BenchS3(b), mib<<20)
	for _, mode := range []string{"copy", "stream"} {
		b.Run(mode, func(b *testing.B) {
			var through int64
			start := time.Now()
			for b.Loop() {
				out, n := r.deliver(b, mode == "stream")
				if out.Status != destination.StatusCompleted || out.Transfer != mode {
					b.Fatalf("output %+v", out)
				}
				through += n
			}
			b.ReportMetric(float64(through)/float64(b.N)/(1<<20), "MiB-through-worker/op")
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "wall-s/op")
			b.SetBytes(r.size)
		})
	}
}
