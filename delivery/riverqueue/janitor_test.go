package riverqueue_test

import (
	"context"
	"errors"
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
