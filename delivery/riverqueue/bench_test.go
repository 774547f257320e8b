package riverqueue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// BenchmarkEnqueueToFirstByte measures the queue's overhead per delivery: from the commit of
// Enqueue to the destination job reaching the engine (its upload about to read the first byte),
// through the CDN job (a 4 KiB render) and the destination job's wait for it, one render at a
// time. Reports p50 and p99 in ms.
//
//	go test ./delivery/riverqueue/ -run '^$' -bench EnqueueToFirstByte -benchtime 40x
func BenchmarkEnqueueToFirstByte(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) { benchFirstByte(b, sqliteBackend) })
	b.Run("PostgreSQL", func(b *testing.B) { benchFirstByte(b, postgresBackend) })
}

func benchFirstByte[TTx any](b *testing.B, backend backend[TTx]) {
	h := backend(b, nil)
	reached := make(chan time.Time, 1)
	h.eng.OnDeliver = func(context.Context, riverqueue.Plan, int) error {
		reached <- time.Now()
		return nil
	}
	h.start()
	target := h.integration("ws1", "i1", "good")
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		p, _ := h.render("ws1", fmt.Sprintf("r%d", i), 4096, target)
		ctx := context.Background()
		tx, commit, rollback := h.begin(ctx)
		if _, err := h.q.Enqueue(ctx, tx, p); err != nil {
			b.Fatal(err)
		}
		if err := commit(); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		rollback()
		select {
		case at := <-reached:
			lat = append(lat, at.Sub(committed))
		case <-time.After(20 * time.Second):
			b.Fatal("the destination job never reached the engine")
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkWorkerMemory measures one worker process (internal/testworker: the real engine, the
// S3 driver, a file CDN, PostgreSQL) working 8 deliveries at once: 8 renders of 32 MiB to one
// S3 bucket on versitygw each, with 8 workers and no per-workspace bound. The process samples
// its heap in use every 50 ms and reports it with its peak RSS (getrusage) at exit. The
// destination jobs read their parts from the CDN copy by range (provider.CDN is a
// CDNRangeReader), so no part is buffered.
//
//	go test ./delivery/riverqueue/ -run '^$' -bench WorkerMemory -benchtime 1x
func BenchmarkWorkerMemory(b *testing.B) {
	srv := emulator.NeedS3(b)
	h := postgresBackend(b, nil)
	w := newWorkers(b, h.store, srv)
	createCommits(b, h.db)
	tg, _ := w.s3Integration("s3")
	stats := filepath.Join(b.TempDir(), "stats")
	const n, size = 8, 32 << 20
	for b.Loop() {
		p := w.start("-dsn", h.dsn, "-renders", h.renders, "-workers", "8", "-per-workspace", "8", "-stats", stats)
		var plans []riverqueue.Plan
		for i := range n {
			tg.Prefix = fmt.Sprintf("renders/m%d/", i)
			plan, _ := h.render("ws1", fmt.Sprintf("m%d-%d", i, time.Now().UnixNano()), size, tg)
			plans = append(plans, plan)
		}
		start := time.Now()
		ctx := context.Background()
		tx, commit, rollback := h.begin(ctx)
		for _, plan := range plans {
			if _, err := h.q.Enqueue(ctx, tx, plan); err != nil {
				b.Fatal(err)
			}
		}
		if err := commit(); err != nil {
			b.Fatal(err)
		}
		rollback()
		for _, plan := range plans {
			rec := h.waitDoneWithin(plan.WorkspaceID, plan.RenderID, 2*time.Minute)
			if rec.Outputs[0].Status != destination.StatusCompleted {
				b.Fatalf("%s: %+v", plan.RenderID, rec.Outputs[0])
			}
		}
		elapsed := time.Since(start)
		p.stop()
		raw, err := os.ReadFile(stats)
		if err != nil {
			b.Fatal(err)
		}
		var rss, heap float64
		if _, err := fmt.Sscan(string(raw), &rss, &heap); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rss/(1<<20), "peak-rss-MiB")
		b.ReportMetric(heap/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(n*size)/(1<<20)/elapsed.Seconds(), "MiB/s")
	}
}
