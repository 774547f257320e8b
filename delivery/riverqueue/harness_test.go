package riverqueue_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testengine"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/internal/pgtest"
)

// harness is one database (its own SQLite file or PostgreSQL schema) with the integrations and
// delivery stores on it, the test engine, and a Queue of it.
type harness[TTx any] struct {
	t       testing.TB
	q       *riverqueue.Queue[TTx]
	store   *sqlstore.Store
	eng     *testengine.Engine
	svc     *outputs.Service
	kr      *crypto.Keyring // seals the integrations and the queue's checkpoints
	renders string
	dsn     string  // PostgreSQL only: the DSN of the schema
	file    string  // SQLite only: the database file
	db      *sql.DB // the database the store is on
	begin   func(ctx context.Context) (TTx, func() error, func())
	// open returns a new Queue on the same database (another worker); openWith one with cfg.
	open     func() (*riverqueue.Queue[TTx], error)
	openWith func(cfg riverqueue.Config) (*riverqueue.Queue[TTx], error)
}

// reopen returns another Queue on the harness's database.
func (h *harness[TTx]) reopen() *riverqueue.Queue[TTx] {
	q, err := h.open()
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

// backend builds harnesses of one database kind. cfg adjusts the Queue's Config.
type backend[TTx any] func(t testing.TB, cfg func(*riverqueue.Config)) *harness[TTx]

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// baseConfig is a Config with fast polling for tests.
func (h *harness[TTx]) config(cfg func(*riverqueue.Config)) riverqueue.Config {
	c := riverqueue.Config{Engine: h.eng, Deliveries: h.store, CDN: h.eng, Sealer: h.kr, OpenRender: testengine.OpenRender(h.renders),
		MaxWorkers: 4, CDNWait: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, Logger: quietLogger()}
	if cfg != nil {
		cfg(&c)
	}
	return c
}

func newHarness[TTx any](t testing.TB, db *sql.DB, d sqlstore.Dialect) *harness[TTx] {
	store := sqlstore.New(db, d, nil)
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatalf("sqlstore Migrate: %v", err)
	}
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := outputs.New(outputs.Options{Store: store, Keyring: kr, Deliveries: store, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := &harness[TTx]{t: t, store: store, svc: svc, kr: kr, db: db, renders: filepath.Join(dir, "renders"),
		eng: &testengine.Engine{Store: store, CDNDir: filepath.Join(dir, "cdn"), DestDir: filepath.Join(dir, "dest")}}
	if err := os.MkdirAll(h.renders, 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func sqliteBackend(t testing.TB, cfg func(*riverqueue.Config)) *harness[*sql.Tx] {
	file := filepath.Join(t.TempDir(), "outputs.db")
	db, err := sqlstore.OpenSQLite(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := newHarness[*sql.Tx](t, db, sqlstore.SQLite)
	h.file = file
	h.openWith = func(c riverqueue.Config) (*riverqueue.Queue[*sql.Tx], error) { return riverqueue.NewSQLite(db, c) }
	h.open = func() (*riverqueue.Queue[*sql.Tx], error) { return h.openWith(h.config(cfg)) }
	h.q, err = h.open()
	if err != nil {
		t.Fatal(err)
	}
	h.begin = func(ctx context.Context) (*sql.Tx, func() error, func()) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx, tx.Commit, func() { _ = tx.Rollback() }
	}
	h.migrate()
	return h
}

func postgresBackend(t testing.TB, cfg func(*riverqueue.Config)) *harness[pgx.Tx] {
	dsn := pgtest.Schema(t, "riverq")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarness[pgx.Tx](t, db, sqlstore.PostgreSQL)
	h.dsn = dsn
	h.openWith = func(c riverqueue.Config) (*riverqueue.Queue[pgx.Tx], error) { return riverqueue.NewPostgres(pool, c) }
	h.open = func() (*riverqueue.Queue[pgx.Tx], error) { return h.openWith(h.config(cfg)) }
	h.q, err = h.open()
	if err != nil {
		t.Fatal(err)
	}
	h.begin = func(ctx context.Context) (pgx.Tx, func() error, func()) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tx, func() error { return tx.Commit(ctx) }, func() { _ = tx.Rollback(ctx) }
	}
	h.migrate()
	return h
}

func (h *harness[TTx]) migrate() {
	if err := h.q.Migrate(context.Background()); err != nil {
		h.t.Fatalf("Migrate: %v", err)
	}
}

// start works the queue until the test ends.
func (h *harness[TTx]) start() {
	if err := h.q.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.q.Shutdown(ctx)
	})
}

// integration creates an active S3 integration of ws with the given access key ID.
func (h *harness[TTx]) integration(ws, id, accessKey string) riverqueue.Target {
	now := time.Now()
	_, err := h.store.Create(context.Background(), &destination.Integration{ID: id, WorkspaceID: ws, Provider: destination.S3,
		Name: id, IsActive: true, Config: destination.Config{Bucket: "b", AccessKeyID: accessKey}, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		h.t.Fatal(err)
	}
	return riverqueue.Target{IntegrationID: id, Provider: destination.S3, Prefix: "renders/"}
}

// render writes a render file of size bytes and returns its plan to targets.
func (h *harness[TTx]) render(ws, id string, size int, targets ...riverqueue.Target) (riverqueue.Plan, []byte) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(h.renders, id), data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return riverqueue.Plan{WorkspaceID: ws, RenderID: id, FileName: "render.mp4", ContentType: "video/mp4",
		FinishedAt: time.Now(), Targets: targets}, data
}

// enqueue enqueues plan in a committed transaction.
func (h *harness[TTx]) enqueue(p riverqueue.Plan) riverqueue.EnqueueResult {
	h.t.Helper()
	ctx := context.Background()
	tx, commit, rollback := h.begin(ctx)
	defer rollback()
	res, err := h.q.Enqueue(ctx, tx, p)
	if err != nil {
		h.t.Fatalf("Enqueue: %v", err)
	}
	if err := commit(); err != nil {
		h.t.Fatalf("commit: %v", err)
	}
	return res
}

// jobs counts the queue's jobs.
func (h *harness[TTx]) jobs() int {
	h.t.Helper()
	res, err := h.q.Client().JobList(context.Background(), river.NewJobListParams().First(10000))
	if err != nil {
		h.t.Fatalf("JobList: %v", err)
	}
	return len(res.Jobs)
}

// status reads the render status through the root Service, as a host's API would.
func (h *harness[TTx]) status(ws, render string) (*destination.RenderStatus, error) {
	return h.svc.GetDelivery(context.Background(), destination.Caller{WorkspaceID: ws}, render)
}

// waitDone waits until the render's record has the CDN copy and every output terminal.
func (h *harness[TTx]) waitDone(ws, render string) *destination.DeliveryRecord {
	h.t.Helper()
	return h.waitDoneWithin(ws, render, 20*time.Second)
}

// waitDoneWithin is waitDone with its own deadline.
func (h *harness[TTx]) waitDoneWithin(ws, render string, d time.Duration) *destination.DeliveryRecord {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		rec, err := h.store.GetDelivery(context.Background(), ws, render)
		if err == nil && rec.Done() {
			return rec
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("render %s not done in time: %+v, %v", render, rec, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSettled waits until River finalized every job (the record changes a moment before River
// marks the job completed or cancelled).
func (h *harness[TTx]) waitSettled() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := h.q.Client().JobList(context.Background(), river.NewJobListParams().States(rivertype.JobStateAvailable,
			rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending))
		if err == nil && len(res.Jobs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("jobs not finalized in time: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// delivered reads what the target of integrationID received.
func (h *harness[TTx]) delivered(p riverqueue.Plan, integrationID string) []byte {
	b, _ := os.ReadFile(h.eng.DestPath(p, integrationID))
	return b
}

func (h *harness[TTx]) mustDeliver(p riverqueue.Plan, integrationID string, want []byte) {
	h.t.Helper()
	if got := h.delivered(p, integrationID); !bytes.Equal(got, want) {
		h.t.Fatalf("%s received %d bytes, want the render's %d", integrationID, len(got), len(want))
	}
}

func removeRender(dir, id string) error { return os.Remove(filepath.Join(dir, id)) }
