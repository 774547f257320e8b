package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Benchmark runs the store benchmarks: Get of one integration, List of a workspace with 100,
// and 100 goroutines each switching the workspace default to its own integration. newStore is
// called once per sub-benchmark and must return an empty store.
func Benchmark(b *testing.B, newStore func(b *testing.B) destination.Store) {
	ctx := context.Background()
	fill := func(b *testing.B, s destination.Store, n int) (string, []*destination.Integration) {
		ws := newWorkspace()
		out := make([]*destination.Integration, n)
		for i := range n {
			in, err := s.Create(ctx, Fixture(ws, fmt.Sprintf("bench %d", i), base.Add(time.Duration(i)*time.Microsecond)))
			if err != nil {
				b.Fatal(err)
			}
			out[i] = in
		}
		return ws, out
	}
	b.Run("Get", func(b *testing.B) {
		s := newStore(b)
		ws, all := fill(b, s, 100)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, ws, all[i%len(all)].ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List100", func(b *testing.B) {
		s := newStore(b)
		ws, _ := fill(b, s, 100)
		b.ReportAllocs()
		for b.Loop() {
			l, err := s.List(ctx, ws)
			if err != nil || len(l) != 100 {
				b.Fatal(len(l), err)
			}
		}
	})
	// One op is a round of 100 concurrent default switches.
	b.Run("DefaultSwitch100", func(b *testing.B) {
		s := newStore(b)
		ws, all := fill(b, s, racers)
		b.ReportAllocs()
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make(chan error, len(all))
			for _, in := range all {
				wg.Go(func() {
					for {
						cur, err := s.Get(ctx, ws, in.ID)
						if err == nil {
							cur.IsDefault = true
							_, err = s.Update(ctx, cur)
						}
						if !errors.Is(err, destination.ErrConflict) {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
