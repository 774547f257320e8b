package riverqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/ilovevideoeditor/outputs/destination"
)

// JanitorArgs are the arguments of the periodic janitor job (kind "outputs.janitor"), enqueued
// by River's leader every Config.JanitorInterval when Config.Retention or Config.Sweeper is set.
type JanitorArgs struct{}

// Kind is the River job kind, "outputs.janitor".
func (JanitorArgs) Kind() string { return "outputs.janitor" }

type janitorWorker[TTx any] struct {
	river.WorkerDefaults[JanitorArgs]
	q *Queue[TTx]
}

// Work sweeps the abandoned uploads (Config.Sweeper), then prunes the delivery records finished
// longer than Config.Retention ago, when Config.Deliveries is a destination.DeliveryPruner;
// records in flight are kept. A sweep that fails is logged and tried again at the next run.
func (w *janitorWorker[TTx]) Work(ctx context.Context, _ *river.Job[JanitorArgs]) error {
	q := w.q
	if q.cfg.Sweeper != nil {
		q.sweep(ctx)
	}
	p, ok := q.cfg.Deliveries.(destination.DeliveryPruner)
	if !ok || q.cfg.Retention <= 0 {
		return nil
	}
	n, err := p.PruneDeliveries(ctx, q.now().Add(-q.cfg.Retention))
	if err != nil {
		return fmt.Errorf("riverqueue: janitor: %w", err)
	}
	if n > 0 {
		q.log.InfoContext(ctx, "riverqueue: janitor pruned delivery records", "records", n, "retention", q.cfg.Retention)
	}
	return nil
}

// Sweeper removes abandoned uploads of keys under prefix of an integration initiated before
// olderThan, and reports how many it removed (provider.Client implements it). An integration
// whose provider cannot sweep gives an error wrapping destination.ErrUnsupported.
type Sweeper interface {
	SweepAbandoned(ctx context.Context, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error)
}

// CDNSweeper is an optional interface of Config.CDN (provider.CDN implements it): with
// Config.Sweeper set, the janitor also has it remove the uploads the CDN copies that may have
// abandoned one left in the CDN's bucket, as Sweeper does for destinations.
type CDNSweeper interface {
	SweepAbandoned(ctx context.Context, prefix string, keys []string, olderThan time.Time) (int, error)
}

// IntegrationReader reads one integration of a workspace (destination.Store implements it).
type IntegrationReader interface {
	Get(ctx context.Context, workspaceID, id string) (*destination.Integration, error)
}

// sweepBatch bounds the outputs one janitor run sweeps (the most recently changed first).
const sweepBatch = 500

// sweep removes the uploads the outputs that may have abandoned one left behind.
func (q *Queue[TTx]) sweep(ctx context.Context) {
	l, ok := q.cfg.Deliveries.(destination.AbandonedLister)
	if !ok {
		return
	}
	cut := q.now().Add(-q.cfg.AbandonedAfter)
	refs, err := l.AbandonedOutputs(ctx, cut, sweepBatch)
	if err != nil {
		q.log.WarnContext(ctx, "riverqueue: janitor: listing abandoned outputs", "error", err)
		return
	}
	swept := 0
	for _, o := range refs {
		// Read the output again: one queued again meanwhile (a redelivery) is left alone.
		rec, err := q.cfg.Deliveries.GetDelivery(ctx, o.WorkspaceID, o.RenderID)
		if err != nil {
			continue
		}
		prefix := o.Key[:strings.LastIndex(o.Key, "/")+1]
		var n int
		if o.IntegrationID == "" { // the CDN copy
			cs, ok := q.cfg.CDN.(CDNSweeper)
			if !ok || !rec.CDNSweepable(cut) || rec.Key != o.Key {
				continue
			}
			n, err = cs.SweepAbandoned(ctx, prefix, []string{o.Key}, cut)
		} else {
			if cur := rec.Output(o.IntegrationID); cur == nil || !cur.Sweepable(cut) || cur.Key != o.Key {
				continue
			}
			in, gerr := q.cfg.Integrations.Get(ctx, o.WorkspaceID, o.IntegrationID)
			if gerr != nil {
				continue // deleted: its credentials are gone with it
			}
			n, err = q.cfg.Sweeper.SweepAbandoned(ctx, in, prefix, []string{o.Key}, cut)
		}
		switch {
		case errors.Is(err, destination.ErrUnsupported):
		case err != nil:
			q.log.WarnContext(ctx, "riverqueue: janitor: sweeping an abandoned upload", "workspace", o.WorkspaceID,
				"render", o.RenderID, "integration", o.IntegrationID, "provider", o.Provider, "error", err)
		}
		swept += n
	}
	if swept > 0 {
		q.log.InfoContext(ctx, "riverqueue: janitor swept abandoned uploads", "uploads", swept, "abandonedAfter", q.cfg.AbandonedAfter)
	}
}

// janitorJob is the periodic job of the janitor, run once at start and then every interval.
func janitorJob(interval time.Duration, queue string) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return JanitorArgs{}, &river.InsertOpts{Queue: queue, UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
	}, &river.PeriodicJobOpts{ID: "outputs.janitor", RunOnStart: true})
}
