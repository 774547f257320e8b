package riverqueue_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

// TestJanitorPrunes runs the janitor's periodic job through River (SQLite and PostgreSQL): a
// record finished before the retention is deleted, one still in flight is kept whatever its age.
func TestJanitorPrunes(t *testing.T) {
	for _, name := range []string{"SQLite", "PostgreSQL"} {
		t.Run(name, func(t *testing.T) {
			cfg := func(c *riverqueue.Config) { c.Retention, c.JanitorInterval = time.Hour, time.Hour }
			var start func()
			var store destination.DeliveryStore
			if name == "SQLite" {
				h := sqliteBackend(t, cfg)
				start, store = h.start, h.store
			} else {
				h := postgresBackend(t, cfg)
				start, store = h.start, h.store
			}
			ctx := context.Background()
			old, inFlight := storetest.DeliveryFixture("ws1", 1), storetest.DeliveryFixture("ws1", 1)
			for _, r := range []*destination.DeliveryRecord{old, inFlight} {
				if err := store.AddDelivery(ctx, r); err != nil {
					t.Fatal(err)
				}
				at := r.CreatedAt.Add(time.Minute)
				done := destination.Transition{Status: destination.StatusCompleted, At: at, Key: "k", URL: "u", SizeBytes: 1}
				if err := store.TransitionRender(ctx, "ws1", r.RenderID, done); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.TransitionOutput(ctx, "ws1", old.RenderID, old.Outputs[0].IntegrationID,
				destination.Transition{Status: destination.StatusFailed, At: old.CreatedAt.Add(time.Minute), ErrorCode: "unknown", Error: "x"}); err != nil {
				t.Fatal(err)
			}
			start() // the janitor runs once at start
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := store.GetDelivery(ctx, "ws1", old.RenderID)
				if errors.Is(err, destination.ErrNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the finished record was not pruned: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := store.GetDelivery(ctx, "ws1", inFlight.RenderID); err != nil {
				t.Errorf("the record in flight was pruned: %v", err)
			}
		})
	}
}

// sweepCall is one SweepAbandoned the janitor made.
type sweepCall struct {
	prefix    string
	keys      []string
	olderThan time.Time
}

// sweepingCDN is a CDN reader that records the sweeps the janitor asks of it (CDNSweeper).
type sweepingCDN struct {
	riverqueue.CDNReader
	mu    sync.Mutex
	calls []sweepCall
}

func (c *sweepingCDN) SweepAbandoned(_ context.Context, prefix string, keys []string, olderThan time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, sweepCall{prefix, keys, olderThan})
	return 1, nil
}

func (c *sweepingCDN) swept() []sweepCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// noSweeper is a Sweeper for integrations that must not be asked (their integrations do not
// exist).
type noSweeper struct{ t *testing.T }

func (s noSweeper) SweepAbandoned(_ context.Context, in *destination.Integration, _ string, keys []string, _ time.Time) (int, error) {
	s.t.Errorf("swept %v of integration %s, which does not exist", keys, in.ID)
	return 0, nil
}

// noIntegrations finds no integration: the destinations' credentials are gone.
type noIntegrations struct{}

func (noIntegrations) Get(context.Context, string, string) (*destination.Integration, error) {
	return nil, destination.ErrNotFound
}

// TestJanitorSweepsCDN: with Sweeper set and a CDN that is a CDNSweeper, the janitor's first
// run sweeps the key of a CDN copy left uploading (a worker killed mid-copy), under the key's
// own prefix and with the AbandonedAfter cutoff; never a CDN copy completed at its first
// attempt, nor a destination whose integration is gone.
func TestJanitorSweepsCDN(t *testing.T) {
	cdn := &sweepingCDN{}
	var c riverqueue.Config
	h := sqliteBackend(t, func(cfg *riverqueue.Config) {
		cdn.CDNReader = cfg.CDN
		cfg.CDN, cfg.Sweeper, cfg.Integrations, cfg.JanitorInterval = cdn, noSweeper{t}, noIntegrations{}, time.Hour
		cfg.AbandonedAfter = 3 * time.Hour // at least RescueAfter (JobTimeout 2 h + 1 min)
		c = *cfg
	})
	ctx := context.Background()
	stuck, done := storetest.DeliveryFixture("ws1", 1), storetest.DeliveryFixture("ws1", 1)
	at := stuck.CreatedAt.Add(time.Minute)
	for _, r := range []*destination.DeliveryRecord{stuck, done} {
		if err := h.store.AddDelivery(ctx, r); err != nil {
			t.Fatal(err)
		}
		key := "renders/" + r.RenderID + "/render.mp4"
		ts := []destination.Transition{{Status: destination.StatusUploading, At: at, Key: key}}
		if r == done {
			ts = append(ts, destination.Transition{Status: destination.StatusCompleted, At: at, Key: key, URL: "u", SizeBytes: 1})
		}
		for _, tr := range ts {
			if err := h.store.TransitionRender(ctx, "ws1", r.RenderID, tr); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.store.TransitionOutput(ctx, "ws1", r.RenderID, r.Outputs[0].IntegrationID,
			destination.Transition{Status: destination.StatusUploading, At: at, Key: "t/" + r.RenderID + ".mp4"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	h.start()
	deadline := time.Now().Add(15 * time.Second)
	for len(cdn.swept()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	calls := cdn.swept()
	if len(calls) != 1 {
		t.Fatalf("the CDN was asked %d sweeps %+v, want 1 (the copy left uploading)", len(calls), calls)
	}
	want := "renders/" + stuck.RenderID + "/"
	got := calls[0]
	cut := start.Add(-c.AbandonedAfter)
	if got.prefix != want || len(got.keys) != 1 || got.keys[0] != want+"render.mp4" ||
		got.olderThan.Before(cut.Add(-time.Minute)) || got.olderThan.After(time.Now().Add(-c.AbandonedAfter)) {
		t.Errorf("sweep = %+v, want prefix %s, its key, olderThan about %v", got, want, cut)
	}
}
