package riverqueue_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
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
