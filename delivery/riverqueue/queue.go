package riverqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Default queue names.
const (
	DefaultCDNQueue     = "outputs_cdn"
	DefaultDeliverQueue = "outputs_deliver"
)

// Config configures a Queue. Engine, Deliveries, CDN and Sealer are required for a Queue that
// works jobs; a Queue that only enqueues (a web process) needs none of them.
type Config struct {
	// Engine delivers one CDN copy or one target per job.
	Engine Engine
	// Deliveries keeps the delivery records the jobs write (sqlstore.Store, memstore.Deliveries).
	Deliveries destination.DeliveryStore
	// CDN streams the CDN copy back to destination jobs (destination.CDN implements it). Their
	// Source names the copy (CDNKey, and the recorded checksum), so when the Engine's own
	// Options.CDN is that CDN, a provider that can copy it server-side does and nothing is
	// streamed (Output.Transfer "copy").
	CDN CDNReader
	// OpenRender opens the render file of a plan for its CDN job. A process without it works
	// destination jobs only (it does not listen on CDNQueue): run the CDN queue where the render
	// files are.
	OpenRender func(ctx context.Context, p Plan) (Source, io.Closer, error)

	// MaxWorkers bounds the jobs this process works at once, per queue. Default 8.
	MaxWorkers int
	// MaxPerWorkspace bounds the jobs of one workspace this process works at once; a job over
	// the bound is handed back (snoozed, no attempt spent) for another slot. Default MaxWorkers/2
	// (at least 1).
	MaxPerWorkspace int
	// JobTimeout bounds one attempt of a job (the engine's whole upload, retries included).
	// A finite timeout is what lets River rescue a job whose worker died. Default 2 h.
	JobTimeout time.Duration
	// RescueAfter is how long after an attempt started River's rescuer may take the job back
	// from a worker that died (killed, lost its machine) and run it again elsewhere; it must be
	// at least JobTimeout (a live worker's attempt ends by then). Default JobTimeout + 1 min.
	// River's rescuer looks every 30 s, on the leader only.
	RescueAfter time.Duration
	// MaxAttempts is how many times River runs a job that crashed, timed out or was rescued.
	// A delivery that fails (the engine's retries spent, or a permanent error) is not retried
	// by River: it is recorded failed and can be redelivered. Default 5.
	MaxAttempts int
	// CDNWait is how long a destination job waits before looking again when the CDN copy is not
	// done yet. Default 500 ms.
	CDNWait time.Duration
	// CDNQueue and DeliverQueue name the River queues (defaults DefaultCDNQueue,
	// DefaultDeliverQueue). Give CDN jobs a queue per rendering machine when render files are
	// local to it.
	CDNQueue, DeliverQueue string
	// FetchPollInterval is how often an idle worker polls when no notification arrives (River's
	// default 1 s).
	FetchPollInterval time.Duration
	// Webhooks, when set, announces output.completed, output.failed and delivery.completed to
	// each workspace's webhook (a webhook/sender.Sender), as River jobs on WebhookQueue (default
	// DefaultWebhookQueue), retried WebhookAttempts times (default 15) with exponential backoff
	// from WebhookBackoff (default 1 s) capped at an hour.
	Webhooks        WebhookSender
	WebhookQueue    string
	WebhookAttempts int
	WebhookBackoff  time.Duration
	// Retention, when set, runs the janitor: a periodic job (every JanitorInterval, default
	// an hour, and once at start) that deletes the delivery records finished longer than
	// Retention ago, when Deliveries is a destination.DeliveryPruner (sqlstore and memstore
	// are). Records in flight are kept. The janitor works on DeliverQueue.
	Retention       time.Duration
	JanitorInterval time.Duration
	// Sweeper, when set with Integrations, makes the janitor also remove what uploads the
	// library started and abandoned (a worker killed mid-upload) still hold at the provider:
	// for each output that may have left one (destination.AbandonedLister: failed, in flight
	// and unchanged, or completed after more than one attempt) last changed more than
	// AbandonedAfter ago, it sweeps the uploads of the output's key initiated before then.
	// provider.Client implements Sweeper (S3 multipart uploads, Azure uncommitted blocks; GCS
	// and Drive sessions cannot be listed and expire by themselves: ErrUnsupported, skipped).
	// Deliveries must be a destination.AbandonedLister (sqlstore and memstore are). When CDN is
	// also a CDNSweeper (provider.CDN), the CDN copies' abandoned uploads are swept the same way.
	Sweeper Sweeper
	// Integrations reads the integration of an output for Sweeper (the Store the engine leases
	// integrations from).
	Integrations IntegrationReader
	// AbandonedAfter is the age after which an upload counts as abandoned; default 24 h. It must
	// be at least RescueAfter (a job whose worker died is rescued by then), and better several
	// times it: a rescued job that resumes an upload finds it swept and starts it again.
	AbandonedAfter time.Duration
	// Sealer seals the upload checkpoints kept in River's job table (see MetadataKeyCheckpoint):
	// required to work jobs; a *crypto.Keyring, such as the one sealing the integrations.
	Sealer Sealer
	// Schema is the PostgreSQL schema of River's tables (empty: the search path).
	Schema string
	// Logger receives the queue's and River's logs. Default slog.Default().
	Logger *slog.Logger
	// Clock stamps the records' transitions. Default time.Now.
	Clock func() time.Time
}

// Queue runs durable deliveries on River: jobs inserted in the host's transaction, worked by
// any number of processes on the same database. TTx is the driver's transaction type: pgx.Tx
// (NewPostgres) or *sql.Tx (NewSQLite). Safe for concurrent use.
type Queue[TTx any] struct {
	cfg    Config
	driver riverdriver.Driver[TTx]
	client *river.Client[TTx]
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	active map[string]int // jobs being worked, by workspace
}

// NewPostgres returns a Queue on PostgreSQL through riverpgxv5 (many workers on many machines).
func NewPostgres(pool *pgxpool.Pool, cfg Config) (*Queue[pgx.Tx], error) {
	if pool == nil {
		return nil, fmt.Errorf("riverqueue: %w: a pgx pool is required", ErrBadConfig)
	}
	return New(riverpgxv5.New(pool), cfg)
}

// NewSQLite returns a Queue on SQLite through riversqlite (one machine; open db with
// sqlstore.OpenSQLite or the modernc "sqlite" driver). River's own documentation calls its
// SQLite driver early; it passes this package's tests.
func NewSQLite(db *sql.DB, cfg Config) (*Queue[*sql.Tx], error) {
	if db == nil {
		return nil, fmt.Errorf("riverqueue: %w: a database is required", ErrBadConfig)
	}
	return New(riversqlite.New(db), cfg)
}

// ErrBadConfig reports a Queue built without a required part, or an operation its Config
// cannot do (working jobs without an Engine).
var ErrBadConfig = errors.New("invalid queue configuration")

// New returns a Queue over any River driver.
func New[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Queue[TTx], error) {
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 8
	}
	if cfg.MaxPerWorkspace <= 0 {
		cfg.MaxPerWorkspace = max(1, cfg.MaxWorkers/2)
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 2 * time.Hour
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = cfg.JobTimeout + time.Minute
	}
	if cfg.RescueAfter < cfg.JobTimeout {
		return nil, fmt.Errorf("riverqueue: %w: RescueAfter must be at least JobTimeout", ErrBadConfig)
	}
	if cfg.AbandonedAfter <= 0 {
		cfg.AbandonedAfter = max(24*time.Hour, cfg.RescueAfter)
	}
	if cfg.Sweeper != nil && (cfg.Integrations == nil || cfg.AbandonedAfter < cfg.RescueAfter) {
		return nil, fmt.Errorf("riverqueue: %w: Sweeper needs Integrations and an AbandonedAfter of at least RescueAfter", ErrBadConfig)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.CDNWait <= 0 {
		cfg.CDNWait = 500 * time.Millisecond
	}
	if cfg.CDNQueue == "" {
		cfg.CDNQueue = DefaultCDNQueue
	}
	if cfg.DeliverQueue == "" {
		cfg.DeliverQueue = DefaultDeliverQueue
	}
	if cfg.WebhookQueue == "" {
		cfg.WebhookQueue = DefaultWebhookQueue
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 15
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = time.Second
	}
	if cfg.CDNQueue == cfg.DeliverQueue || cfg.WebhookQueue == cfg.CDNQueue || cfg.WebhookQueue == cfg.DeliverQueue {
		return nil, fmt.Errorf("riverqueue: %w: CDNQueue, DeliverQueue and WebhookQueue must differ", ErrBadConfig)
	}
	q := &Queue[TTx]{cfg: cfg, driver: driver, log: cfg.Logger, now: cfg.Clock, active: map[string]int{}}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.now == nil {
		q.now = time.Now
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &cdnWorker[TTx]{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &targetWorker[TTx]{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &webhookWorker[TTx]{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &janitorWorker[TTx]{q: q}); err != nil {
		return nil, err
	}
	if cfg.JanitorInterval <= 0 {
		cfg.JanitorInterval = time.Hour
	}
	var periodic []*river.PeriodicJob
	if (cfg.Retention > 0 || cfg.Sweeper != nil) && q.works() {
		periodic = append(periodic, janitorJob(cfg.JanitorInterval, cfg.DeliverQueue))
	}
	var cooldown time.Duration // River's default (100 ms), or the poll interval when shorter
	if cfg.FetchPollInterval > 0 && cfg.FetchPollInterval < 100*time.Millisecond {
		cooldown = cfg.FetchPollInterval
	}
	queues := map[string]river.QueueConfig{}
	if q.works() {
		qc := river.QueueConfig{MaxWorkers: cfg.MaxWorkers, FetchPollInterval: cfg.FetchPollInterval, FetchCooldown: cooldown}
		queues[cfg.DeliverQueue] = qc
		if cfg.OpenRender != nil {
			queues[cfg.CDNQueue] = qc
		}
		if cfg.Webhooks != nil {
			queues[cfg.WebhookQueue] = qc
		}
	}
	client, err := river.NewClient(driver, &river.Config{
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        cooldown,
		Schema:               cfg.Schema,
		Logger:               q.log,
	})
	if err != nil {
		return nil, fmt.Errorf("riverqueue: %w", err)
	}
	q.client = client
	return q, nil
}

// works reports whether the Config can work jobs.
func (q *Queue[TTx]) works() bool {
	return q.cfg.Engine != nil && q.cfg.Deliveries != nil && q.cfg.CDN != nil && q.cfg.Sealer != nil
}

// Client returns the River client (for the host's own jobs, events, or River UI).
func (q *Queue[TTx]) Client() *river.Client[TTx] { return q.client }

// Migrate brings River's schema up to date (rivermigrate, line "main"). Run it at start-up, like
// sqlstore.Store.Migrate; it is idempotent.
func (q *Queue[TTx]) Migrate(ctx context.Context) error {
	m, err := rivermigrate.New(q.driver, &rivermigrate.Config{Schema: q.cfg.Schema, Logger: q.log})
	if err != nil {
		return fmt.Errorf("riverqueue: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riverqueue: migrate: %w", err)
	}
	return nil
}

// Start starts working jobs (it returns once the workers run). It fails with ErrBadConfig when
// the Config lacks Engine, Deliveries, CDN or Sealer.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	if !q.works() {
		return fmt.Errorf("riverqueue: start: %w: Engine, Deliveries, CDN and Sealer are required to work jobs", ErrBadConfig)
	}
	return q.client.Start(ctx)
}

// Shutdown stops the queue gracefully: it stops fetching jobs at once, lets the jobs in flight
// finish until ctx is done, then cancels the rest, which are handed back to the queue (no
// attempt spent; their records go back to pending) for another worker. It returns when every
// job has returned.
func (q *Queue[TTx]) Shutdown(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	// The deadline passed: cancel what still runs and wait (bounded) for it to hand back.
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return q.client.StopAndCancel(hard)
}

// TxRecorder is a DeliveryStore that can add a record inside the host's transaction
// (sqlstore.Store implements it for *sql.Tx).
type TxRecorder[TTx any] interface {
	AddDeliveryTx(ctx context.Context, tx TTx, rec *destination.DeliveryRecord) error
}

// EnqueueResult counts the jobs Enqueue or Redeliver inserted and those that already existed.
type EnqueueResult struct {
	Inserted, Duplicates int
}

// Enqueue inserts, in the host's transaction tx, the delivery of plan: a CDN job and one job per
// target, each unique on (workspace, render[, integration]), so enqueueing the same plan again
// (or a retry of the host's transaction) is a no-op. Nothing runs before tx commits; a rolled
// back tx leaves no job. When Config.Deliveries can write in tx (a TxRecorder of TTx, such as
// sqlstore.Store with *sql.Tx), the delivery is recorded pending in tx too; otherwise (pgx.Tx)
// the CDN job records it when it starts, and GetDelivery reports not found until then. A plan
// without FinishedAt gets the time of the call, so that every job and every attempt of the
// delivery names the same keys (the engine's KeyTemplate {date}), however late it runs.
func (q *Queue[TTx]) Enqueue(ctx context.Context, tx TTx, plan Plan) (EnqueueResult, error) {
	if err := checkPlan(plan); err != nil {
		return EnqueueResult{}, err
	}
	now := q.now().Truncate(time.Microsecond) // as the SQL stores keep it
	if plan.FinishedAt.IsZero() {
		plan.FinishedAt = now.UTC()
	}
	if r, ok := q.cfg.Deliveries.(TxRecorder[TTx]); ok {
		if err := r.AddDeliveryTx(ctx, tx, record(plan, now)); err != nil {
			return EnqueueResult{}, fmt.Errorf("riverqueue: enqueue: %w", err)
		}
	}
	params := []river.InsertManyParams{q.cdnParams(plan)}
	for i := range plan.Targets {
		params = append(params, q.targetParams(plan, i))
	}
	return q.insert(ctx, tx, params)
}

// Redeliver queues again, in tx, the outputs of the render of plan that failed, or, when
// integrationIDs are given, only those (an ID of plan's targets not recorded yet is delivered
// for the first time: an integration added later). Destination jobs stream the CDN copy, so
// nothing is rendered again; each leases its integration with its current credentials. A failed
// CDN copy is queued again too (that job needs the render file). Outputs completed or in flight
// are left alone. A render never delivered gives destination.ErrNotFound.
//
// Redeliver writes nothing but jobs in tx (the record changes when they run), so a rolled back
// tx redelivers nothing. An output recorded failed a moment ago may still hold its job's unique
// key until River finalizes that job (milliseconds): it then counts in Duplicates, and a later
// Redeliver queues it. A plan without FinishedAt gets the delivery record's CreatedAt: the
// time Enqueue gave the plan when Config.Deliveries records in the host's transaction
// (TxRecorder), else the time the CDN job first ran.
func (q *Queue[TTx]) Redeliver(ctx context.Context, tx TTx, plan Plan, integrationIDs ...string) (EnqueueResult, error) {
	if err := checkPlan(plan); err != nil {
		return EnqueueResult{}, err
	}
	if q.cfg.Deliveries == nil {
		return EnqueueResult{}, fmt.Errorf("riverqueue: redeliver: %w: Deliveries is required", ErrBadConfig)
	}
	rec, err := q.cfg.Deliveries.GetDelivery(ctx, plan.WorkspaceID, plan.RenderID)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("riverqueue: redeliver: %w", err)
	}
	if plan.FinishedAt.IsZero() {
		plan.FinishedAt = rec.CreatedAt.UTC() // the time Enqueue gave it, as recorded
	}
	want := map[string]bool{}
	for _, id := range integrationIDs {
		want[id] = true
	}
	var params []river.InsertManyParams
	for i, t := range plan.Targets {
		if len(want) > 0 && !want[t.IntegrationID] {
			continue
		}
		if o := rec.Output(t.IntegrationID); o != nil && o.Status != destination.StatusFailed {
			continue
		}
		params = append(params, q.targetParams(plan, i))
	}
	if len(params) == 0 {
		return EnqueueResult{}, nil
	}
	if rec.Status == destination.StatusFailed {
		params = append(params, q.cdnParams(plan))
	}
	return q.insert(ctx, tx, params)
}

func (q *Queue[TTx]) insert(ctx context.Context, tx TTx, params []river.InsertManyParams) (EnqueueResult, error) {
	res, err := q.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("riverqueue: enqueue: %w", err)
	}
	var r EnqueueResult
	for _, j := range res {
		if j.UniqueSkippedAsDuplicate {
			r.Duplicates++
		} else {
			r.Inserted++
		}
	}
	return r, nil
}

// riverAttempts is the MaxAttempts of CDN and destination jobs: Config.MaxAttempts working
// attempts and the one that records the output failed when each of them was interrupted.
func (q *Queue[TTx]) riverAttempts() int { return q.cfg.MaxAttempts + 1 }

func (q *Queue[TTx]) cdnParams(plan Plan) river.InsertManyParams {
	return river.InsertManyParams{Args: CDNArgs{WorkspaceID: plan.WorkspaceID, RenderID: plan.RenderID, Plan: plan},
		InsertOpts: &river.InsertOpts{Queue: q.cfg.CDNQueue, MaxAttempts: q.riverAttempts(), UniqueOpts: river.UniqueOpts{ByArgs: true}}}
}

func (q *Queue[TTx]) targetParams(plan Plan, i int) river.InsertManyParams {
	return river.InsertManyParams{Args: TargetArgs{WorkspaceID: plan.WorkspaceID, RenderID: plan.RenderID,
		IntegrationID: plan.Targets[i].IntegrationID, Index: i, Plan: plan},
		InsertOpts: &river.InsertOpts{Queue: q.cfg.DeliverQueue, MaxAttempts: q.riverAttempts(), UniqueOpts: river.UniqueOpts{ByArgs: true}}}
}

// checkPlan validates a plan before anything is queued.
func checkPlan(p Plan) error {
	var probs destination.Problems
	if p.WorkspaceID == "" {
		probs.Add("workspaceId", destination.CodeRequired, "is required")
	}
	if p.RenderID == "" {
		probs.Add("renderId", destination.CodeRequired, "is required")
	}
	seen := map[string]bool{}
	for _, t := range p.Targets {
		switch {
		case t.IntegrationID == "":
			probs.Add("targets.integrationId", destination.CodeRequired, "is required")
		case seen[t.IntegrationID]:
			probs.Add("targets.integrationId", destination.CodeDuplicate, "each integration appears once in a plan")
		}
		seen[t.IntegrationID] = true
	}
	return probs.Err()
}

// record is the pending delivery record of plan.
func record(p Plan, now time.Time) *destination.DeliveryRecord {
	rec := &destination.DeliveryRecord{WorkspaceID: p.WorkspaceID, RenderID: p.RenderID, CreatedAt: now,
		Progress: destination.Progress{Status: destination.StatusPending, UpdatedAt: now}}
	for _, t := range p.Targets {
		rec.Outputs = append(rec.Outputs, destination.OutputRecord{IntegrationID: t.IntegrationID, Provider: t.Provider,
			CreatedAt: now, Progress: destination.Progress{Status: destination.StatusPending, UpdatedAt: now}})
	}
	return rec
}

// acquire takes one of the workspace's slots in this process, or reports false when all are
// taken.
func (q *Queue[TTx]) acquire(ws string) (release func(), ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active[ws] >= q.cfg.MaxPerWorkspace {
		return nil, false
	}
	q.active[ws]++
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.active[ws]--; q.active[ws] == 0 {
			delete(q.active, ws)
		}
	}, true
}

// busy is the snooze of a job handed back for a workspace slot: short and jittered so waiting
// jobs do not come back in lockstep.
func busy() error {
	return river.JobSnooze(100*time.Millisecond + rand.N(200*time.Millisecond))
}

func randFloat() float64 { return rand.Float64() }
