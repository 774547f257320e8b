package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// queueDB is the database of the durable queue (-queue): River's jobs and the delivery records
// live in it, side by side.
type queueDB struct {
	spec       string          // sqlite:PATH or postgres:DSN, resolved
	sqlDB      *sql.DB         // both: the delivery records (sqlstore); SQLite: River too
	pool       *pgxpool.Pool   // PostgreSQL: River (riverpgxv5)
	deliveries *sqlstore.Store // the records the jobs write and GET /v1/renders/{id} reads
	closers    []func()
}

// queueSpec resolves -queue against -store: "" is no queue (in-process delivery); "sqlite" and
// "postgres" alone use the store's database (the embedded default for a SQLite store is
// "-queue sqlite": River's SQLite driver on the store's file); sqlite:PATH and postgres:DSN name
// one of their own.
func queueSpec(queue, store string) (string, error) {
	kind, arg, _ := strings.Cut(queue, ":")
	skind, sarg, _ := strings.Cut(store, ":")
	switch {
	case queue == "":
		return "", nil
	case (kind == "sqlite" || kind == "postgres") && arg != "":
		return queue, nil
	case (queue == "sqlite" || queue == "postgres") && skind == queue && sarg != "":
		return store, nil
	case queue == "sqlite" || queue == "postgres":
		return "", fmt.Errorf("-queue %s alone uses the store's database: it needs -store %s:…", queue, queue)
	}
	return "", fmt.Errorf("-queue %q: want sqlite, sqlite:PATH, postgres or postgres:DSN", queue)
}

// openQueueDB opens the queue's database and migrates the delivery records' tables (River's own
// are migrated by startQueue).
func openQueueDB(ctx context.Context, spec string) (*queueDB, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	qd := &queueDB{spec: spec}
	var err error
	d := sqlstore.SQLite
	switch kind {
	case "sqlite":
		qd.sqlDB, err = sqlstore.OpenSQLite(arg)
	case "postgres":
		d = sqlstore.PostgreSQL
		qd.sqlDB, err = sql.Open("pgx", arg)
		if err == nil {
			qd.pool, err = pgxpool.New(ctx, arg)
		}
	}
	if qd.sqlDB != nil {
		qd.closers = append(qd.closers, func() { qd.sqlDB.Close() })
	}
	if qd.pool != nil {
		qd.closers = append(qd.closers, qd.pool.Close)
	}
	if err != nil {
		qd.close()
		return nil, fmt.Errorf("open queue: %w", err)
	}
	qd.deliveries = sqlstore.New(qd.sqlDB, d, nil)
	if err := qd.deliveries.Migrate(ctx); err != nil {
		qd.close()
		return nil, fmt.Errorf("migrate queue's delivery records: %w", err)
	}
	return qd, nil
}

func (qd *queueDB) close() {
	for i := len(qd.closers) - 1; i >= 0; i-- {
		qd.closers[i]()
	}
}

// startQueue builds the River queue over the Service's engine, migrates River's schema and
// starts working jobs in this process (it both enqueues and works: CDN copies, destinations,
// redeliveries). The returned stop shuts it down gracefully.
func startQueue(ctx context.Context, qd *queueDB, svc *outputs.Service, cdn destination.CDN, sealer riverqueue.Sealer, sample []byte, log *slog.Logger) (*queued, func(), error) {
	cfg := riverqueue.Config{Engine: svc.Engine(), Deliveries: qd.deliveries, CDN: cdn, Sealer: sealer, Logger: log,
		OpenRender: func(context.Context, riverqueue.Plan) (riverqueue.Source, io.Closer, error) {
			// "Rendering" produced the sample: every render's file is the same bytes.
			return riverqueue.Source{ReaderAt: bytes.NewReader(sample), Size: int64(len(sample))}, nil, nil
		}}
	d := &queued{svc: svc, records: qd.deliveries, requeued: map[string]map[string]time.Time{}}
	var migrate, start func(context.Context) error
	var shutdown func(context.Context) error
	if qd.pool != nil {
		q, err := riverqueue.NewPostgres(qd.pool, cfg)
		if err != nil {
			return nil, nil, err
		}
		migrate, start, shutdown = q.Migrate, q.Start, q.Shutdown
		d.enqueue, d.redeliver = txFuncs(q, func(ctx context.Context) (pgx.Tx, error) { return qd.pool.Begin(ctx) },
			func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
			func(ctx context.Context, tx pgx.Tx) error { return tx.Rollback(ctx) })
	} else {
		q, err := riverqueue.NewSQLite(qd.sqlDB, cfg)
		if err != nil {
			return nil, nil, err
		}
		migrate, start, shutdown = q.Migrate, q.Start, q.Shutdown
		d.enqueue, d.redeliver = txFuncs(q, func(ctx context.Context) (*sql.Tx, error) { return qd.sqlDB.BeginTx(ctx, nil) },
			func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
			func(_ context.Context, tx *sql.Tx) error { return tx.Rollback() })
	}
	if err := migrate(ctx); err != nil {
		return nil, nil, err
	}
	// Jobs outlive requests: the workers run under their own context, stopped by shutdown.
	if err := start(context.WithoutCancel(ctx)); err != nil {
		return nil, nil, fmt.Errorf("start queue: %w", err)
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("queue shutdown", "error", err)
		}
	}
	return d, stop, nil
}

// txFuncs returns Enqueue and Redeliver of q, each in a transaction of its own (a real host runs
// them in the transaction that writes its render row).
func txFuncs[TTx any](q *riverqueue.Queue[TTx], begin func(context.Context) (TTx, error),
	commit, rollback func(context.Context, TTx) error,
) (enqueue func(context.Context, outputs.Plan) error, redeliver func(context.Context, outputs.Plan, []string) (riverqueue.EnqueueResult, error)) {
	inTx := func(ctx context.Context, fn func(TTx) error) error {
		tx, err := begin(ctx)
		if err != nil {
			return fmt.Errorf("queue: begin: %w", err)
		}
		if err := fn(tx); err != nil {
			_ = rollback(context.WithoutCancel(ctx), tx)
			return err
		}
		if err := commit(ctx, tx); err != nil {
			return fmt.Errorf("queue: commit: %w", err)
		}
		return nil
	}
	enqueue = func(ctx context.Context, p outputs.Plan) error {
		return inTx(ctx, func(tx TTx) error { _, err := q.Enqueue(ctx, tx, p); return err })
	}
	redeliver = func(ctx context.Context, p outputs.Plan, ids []string) (res riverqueue.EnqueueResult, err error) {
		err = inTx(ctx, func(tx TTx) error { res, err = q.Redeliver(ctx, tx, p, ids...); return err })
		return res, err
	}
	return enqueue, redeliver
}

// queued delivers through River (delivery/riverqueue): a render is queued (one CDN job, one job
// per destination) and its status is the durable delivery record (Service.GetDelivery).
type queued struct {
	svc       *outputs.Service
	records   destination.DeliveryStore
	enqueue   func(context.Context, outputs.Plan) error
	redeliver func(context.Context, outputs.Plan, []string) (riverqueue.EnqueueResult, error)

	mu sync.Mutex
	// requeued are the outputs redelivered by this process, by render and integration, with the
	// time they were queued again: until their job starts, the record still shows the old
	// failure, which status reports as pending.
	requeued map[string]map[string]time.Time
}

func (d *queued) start(ctx context.Context, p outputs.Plan, idx []int) error {
	if idx == nil {
		return d.enqueue(ctx, p)
	}
	ids := make([]string, len(idx))
	for k, i := range idx {
		ids[k] = p.Targets[i].IntegrationID
	}
	at := time.Now().Truncate(time.Millisecond) // records keep milliseconds (SQLite)
	d.mu.Lock()
	m := d.requeued[p.RenderID]
	if m == nil {
		m = map[string]time.Time{}
		d.requeued[p.RenderID] = m
	}
	for _, id := range ids {
		m[id] = at
	}
	d.mu.Unlock()
	// A job that has just failed holds its unique key until River finalizes it (milliseconds):
	// its output is then a duplicate, and nothing was queued. Ask again for a moment.
	res, err := d.redeliver(ctx, p, ids)
	for try := 0; err == nil && res.Inserted == 0 && res.Duplicates > 0 && try < 20; try++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		res, err = d.redeliver(ctx, p, ids)
	}
	if err == nil && res.Inserted == 0 {
		err = errRenderBusy // the keys are held still: a redelivery already queued
	}
	if err != nil {
		d.mu.Lock()
		delete(d.requeued, p.RenderID)
		d.mu.Unlock()
	}
	return err
}

// requeueHold bounds how long a redelivered output shows pending without its job starting (a
// duplicate whose key was held by the job that had just failed is never run).
const requeueHold = 30 * time.Second

// status reads the durable record. A render whose CDN job has not started yet has none (ok
// false). The top-level status is pending until the CDN copy and every output finished (as with
// the in-process engine), then the CDN copy's.
func (d *queued) status(ctx context.Context, c destination.Caller, id string) (*outputs.Delivery, bool, error) {
	rs, err := d.svc.GetDelivery(ctx, c, id)
	if errors.Is(err, destination.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	st := &outputs.Delivery{ID: rs.ID, Status: string(rs.Status), URL: rs.URL, Outputs: rs.Outputs}
	if err := d.overlay(ctx, c.WorkspaceID, st); err != nil {
		return nil, false, err
	}
	if !destination.OutputStatus(st.Status).Terminal() {
		st.Status = renderPending // the CDN copy queued or uploading
	}
	for _, o := range st.Outputs {
		if !o.Status.Terminal() {
			st.Status = renderPending
		}
	}
	return st, true, nil
}

// overlay shows as pending the outputs queued again whose job has not started since.
func (d *queued) overlay(ctx context.Context, ws string, st *outputs.Delivery) error {
	d.mu.Lock()
	m := d.requeued[st.ID]
	d.mu.Unlock()
	if len(m) == 0 {
		return nil
	}
	rec, err := d.records.GetDelivery(ctx, ws, st.ID)
	if err != nil {
		return err
	}
	// This read is newer than st's: a job that started in between must show as it is now.
	fresh := rec.RenderStatus()
	st.Status, st.URL, st.Outputs = string(fresh.Status), fresh.URL, fresh.Outputs
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range st.Outputs {
		o := &st.Outputs[i]
		at, ok := m[o.IntegrationID]
		r := rec.Output(o.IntegrationID)
		if !ok || r == nil {
			continue
		}
		if !r.StartedAt.Before(at) || time.Since(at) >= requeueHold {
			delete(m, o.IntegrationID) // its job started (or never will): the record is live again
			continue
		}
		if r.Status == destination.StatusFailed {
			*o = destination.Output{IntegrationID: o.IntegrationID, Provider: o.Provider, Status: destination.StatusPending}
		}
	}
	if len(m) == 0 {
		delete(d.requeued, st.ID)
	}
	return nil
}
