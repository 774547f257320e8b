package riverqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/ilovevideoeditor/outputs/destination"
)

// JanitorArgs are the arguments of the periodic janitor job (kind "outputs.janitor"), enqueued
// by River's leader every Config.JanitorInterval when Config.Retention is set.
type JanitorArgs struct{}

// Kind is the River job kind, "outputs.janitor".
func (JanitorArgs) Kind() string { return "outputs.janitor" }

type janitorWorker[TTx any] struct {
	river.WorkerDefaults[JanitorArgs]
	q *Queue[TTx]
}

// Work prunes the delivery records finished longer than Config.Retention ago, when
// Config.Deliveries is a destination.DeliveryPruner; records in flight are kept.
func (w *janitorWorker[TTx]) Work(ctx context.Context, _ *river.Job[JanitorArgs]) error {
	q := w.q
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

// janitorJob is the periodic job of the janitor, run once at start and then every interval.
func janitorJob(interval time.Duration, queue string) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return JanitorArgs{}, &river.InsertOpts{Queue: queue, UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
	}, &river.PeriodicJobOpts{ID: "outputs.janitor", RunOnStart: true})
}
