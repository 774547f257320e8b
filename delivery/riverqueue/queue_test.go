package riverqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
)

// each runs a test on SQLite (in process) and on the PostgreSQL test server.
// The tests mostly wait on River's polling, so they run in parallel.
func each(t *testing.T, sqlite func(*testing.T), postgres func(*testing.T)) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) { t.Parallel(); sqlite(t) })
	t.Run("PostgreSQL", func(t *testing.T) { t.Parallel(); postgres(t) })
}

func TestEnqueueDuplicateAndRollback(t *testing.T) {
	each(t, func(t *testing.T) { testEnqueueDuplicateAndRollback(t, sqliteBackend) },
		func(t *testing.T) { testEnqueueDuplicateAndRollback(t, postgresBackend) })
}

func testEnqueueDuplicateAndRollback[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, nil) // not started: jobs stay queued
	ctx := context.Background()
	p, _ := h.render("ws1", "r1", 1024, h.integration("ws1", "i1", "good"), h.integration("ws1", "i2", "good"))

	tx, _, rollback := h.begin(ctx)
	if res, err := h.q.Enqueue(ctx, tx, p); err != nil || res.Inserted != 3 {
		t.Fatalf("Enqueue in a tx = %+v, %v; want 3 inserted", res, err)
	}
	rollback()
	if n := h.jobs(); n != 0 {
		t.Fatalf("after rollback: %d jobs, want 0", n)
	}
	if _, err := h.status("ws1", "r1"); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("status after rollback: %v, want ErrNotFound (no record)", err)
	}

	if res := h.enqueue(p); res.Inserted != 3 || res.Duplicates != 0 {
		t.Fatalf("Enqueue = %+v, want 3 inserted", res)
	}
	if res := h.enqueue(p); res.Inserted != 0 || res.Duplicates != 3 {
		t.Fatalf("second Enqueue = %+v, want 3 duplicates", res)
	}
	if n := h.jobs(); n != 3 {
		t.Fatalf("after a duplicate enqueue: %d jobs, want 3", n)
	}
	// Nothing ran yet. On a *sql.Tx the record was written pending with the jobs; on a pgx.Tx
	// it appears when the CDN job starts.
	st, err := h.status("ws1", "r1")
	if _, inTx := any(h.store).(riverqueue.TxRecorder[TTx]); inTx {
		if err != nil || st.Status != destination.StatusPending || len(st.Outputs) != 2 || st.Outputs[1].Status != destination.StatusPending {
			t.Fatalf("status before any job ran = %+v, %v; want pending with 2 pending outputs", st, err)
		}
	} else if !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("status before any job ran: %v, want ErrNotFound", err)
	}

	// Bad plans are refused before anything is queued.
	for name, bad := range map[string]riverqueue.Plan{
		"no workspace":         {RenderID: "r", FileName: "f.mp4"},
		"no render":            {WorkspaceID: "ws1", FileName: "f.mp4"},
		"target without ID":    {WorkspaceID: "ws1", RenderID: "r", FileName: "f.mp4", Targets: []riverqueue.Target{{}}},
		"integration repeated": {WorkspaceID: "ws1", RenderID: "r", FileName: "f.mp4", Targets: []riverqueue.Target{p.Targets[0], p.Targets[0]}},
	} {
		tx, _, rollback := h.begin(ctx)
		_, err := h.q.Enqueue(ctx, tx, bad)
		rollback()
		if !errors.Is(err, destination.ErrInvalid) {
			t.Fatalf("Enqueue with %s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestEnqueueFixesFinishedAt: a plan enqueued without FinishedAt gets the time of the Enqueue in
// every job, so the keys ({date}) are the same for every job and attempt, whenever they run; so
// does a job Redeliver adds for it later (an integration added to the render).
func TestEnqueueFixesFinishedAt(t *testing.T) {
	h := sqliteBackend(t, nil) // not started: jobs stay queued
	p, _ := h.render("ws1", "r1", 16, h.integration("ws1", "i1", "good"), h.integration("ws1", "i2", "good"))
	p.FinishedAt = time.Time{}
	before := time.Now()
	h.enqueue(p)
	ctx := context.Background()
	p.Targets = append(p.Targets, h.integration("ws1", "i3", "good"))
	tx, commit, rollback := h.begin(ctx)
	defer rollback()
	if res, err := h.q.Redeliver(ctx, tx, p, "i3"); err != nil || res.Inserted != 1 {
		t.Fatalf("Redeliver of an added integration = %+v, %v", res, err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	res, err := h.q.Client().JobList(ctx, river.NewJobListParams().First(10))
	if err != nil || len(res.Jobs) != 4 {
		t.Fatalf("JobList = %d jobs, %v; want 4", len(res.Jobs), err)
	}
	var at time.Time
	for _, j := range res.Jobs {
		var args struct {
			Plan riverqueue.Plan `json:"plan"`
		}
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			t.Fatal(err)
		}
		if at.IsZero() {
			at = args.Plan.FinishedAt
		}
		if got := args.Plan.FinishedAt; got.Before(before.Add(-time.Second)) || !got.Equal(at) {
			t.Fatalf("job %s has finishedAt %s, want the Enqueue's time in every job (first: %s)", j.Kind, got, at)
		}
	}
}

func TestDeliveryCompletes(t *testing.T) {
	each(t, func(t *testing.T) { testDeliveryCompletes(t, sqliteBackend) },
		func(t *testing.T) { testDeliveryCompletes(t, postgresBackend) })
}

func testDeliveryCompletes[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, nil)
	var mu sync.Mutex
	uploads := map[string]int{}
	h.eng.OnDeliver = func(_ context.Context, p riverqueue.Plan, i int) error {
		mu.Lock()
		defer mu.Unlock()
		uploads[p.RenderID+"/"+p.Targets[i].IntegrationID]++
		return nil
	}
	h.start()
	p, data := h.render("ws1", "r1", 300<<10, h.integration("ws1", "i1", "good"), h.integration("ws1", "i2", "good"))
	h.enqueue(p)
	h.waitDone("ws1", "r1")

	st, err := h.status("ws1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "r1" || st.Status != destination.StatusCompleted || st.URL == "" || len(st.Outputs) != 2 {
		t.Fatalf("render status = %+v", st)
	}
	for i, o := range st.Outputs {
		if o.Status != destination.StatusCompleted || o.OutputKey != "renders/render.mp4" || o.OutputSizeBytes != int64(len(data)) ||
			o.Provider != destination.S3 || o.IntegrationID != p.Targets[i].IntegrationID || o.Transfer != destination.TransferStream {
			t.Fatalf("output %d = %+v", i, o)
		}
		h.mustDeliver(p, o.IntegrationID, data)
	}
	rec, _ := h.store.GetDelivery(context.Background(), "ws1", "r1")
	if rec.Transfer != destination.TransferStream {
		t.Fatalf("CDN copy transfer = %q, want %q", rec.Transfer, destination.TransferStream)
	}
	for _, o := range rec.Outputs {
		if o.Attempts != 1 || o.StartedAt.IsZero() || o.FinishedAt.Before(o.StartedAt) {
			t.Fatalf("output record = %+v, want one attempt with its timestamps", o)
		}
	}
	if _, err := h.status("ws2", "r1"); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("status from another workspace: %v, want ErrNotFound", err)
	}
	// Enqueueing a delivered render again delivers nothing again.
	if res := h.enqueue(p); res.Inserted != 0 {
		t.Fatalf("Enqueue of a delivered render = %+v, want only duplicates", res)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for k, n := range uploads {
		if n != 1 {
			t.Fatalf("%s uploaded %d times, want 1", k, n)
		}
	}
}

func TestRedeliverAfterFixingCredentials(t *testing.T) {
	each(t, func(t *testing.T) { testRedeliver(t, sqliteBackend) },
		func(t *testing.T) { testRedeliver(t, postgresBackend) })
}

func testRedeliver[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, nil)
	h.start()
	ctx := context.Background()
	good, bad := h.integration("ws1", "good", "good"), h.integration("ws1", "bad", "bad")
	p, data := h.render("ws1", "r1", 200<<10, good, bad)
	h.enqueue(p)
	h.waitDone("ws1", "r1")
	st, _ := h.status("ws1", "r1")
	if st.Outputs[0].Status != destination.StatusCompleted || st.Outputs[1].Status != destination.StatusFailed ||
		st.Outputs[1].ErrorCode != "invalid_credentials" {
		t.Fatalf("first delivery = %+v, want good completed and bad failed with invalid_credentials", st.Outputs)
	}

	// Fix the credentials, and remove the render file: the redelivery must stream the CDN copy.
	in, err := h.store.Get(ctx, "ws1", "bad")
	if err != nil {
		t.Fatal(err)
	}
	in.Config.AccessKeyID = "fixed"
	if _, err := h.store.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.renders, "r1")); err != nil {
		t.Fatal(err)
	}
	// An integration added after the render was delivered joins the same redelivery.
	later := h.integration("ws1", "later", "good")
	p.Targets = append(p.Targets, later)

	h.waitSettled()
	tx, commit, rollback := h.begin(ctx)
	res, err := h.q.Redeliver(ctx, tx, p)
	if err != nil {
		rollback()
		t.Fatal(err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 {
		t.Fatalf("Redeliver = %+v, want the failed output and the new one (2 jobs)", res)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ = h.status("ws1", "r1")
		if len(st.Outputs) == 3 && st.Outputs[1].Status == destination.StatusCompleted && st.Outputs[2].Status == destination.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redelivery not done: %+v", st.Outputs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mustDeliver(p, "bad", data)
	h.mustDeliver(p, "later", data)
	rec, _ := h.store.GetDelivery(ctx, "ws1", "r1")
	if o := rec.Output("bad"); o.Attempts != 2 || o.ErrorCode != "" {
		t.Fatalf("redelivered output record = %+v, want 2 attempts, error cleared", o)
	}
	if o := rec.Output("good"); o.Attempts != 1 {
		t.Fatalf("completed output was delivered again: %+v", o)
	}
	// Nothing left to redeliver.
	tx, commit, _ = h.begin(ctx)
	if res, err := h.q.Redeliver(ctx, tx, p); err != nil || res.Inserted != 0 {
		t.Fatalf("Redeliver with nothing failed = %+v, %v", res, err)
	}
	_ = commit()
	tx, _, rollback = h.begin(ctx)
	defer rollback()
	if _, err := h.q.Redeliver(ctx, tx, riverqueue.Plan{WorkspaceID: "ws2", RenderID: "r1", FileName: "x"}); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("Redeliver of another workspace's render: %v, want ErrNotFound", err)
	}
}

func TestShutdownHandsBackInFlightJobs(t *testing.T) {
	each(t, func(t *testing.T) { testShutdown(t, sqliteBackend) },
		func(t *testing.T) { testShutdown(t, postgresBackend) })
}

func testShutdown[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, nil)
	started := make(chan struct{}, 1)
	h.eng.OnDeliver = func(ctx context.Context, p riverqueue.Plan, i int) error {
		started <- struct{}{}
		<-ctx.Done() // a stalled upload: only the shutdown ends it
		return ctx.Err()
	}
	if err := h.q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, data := h.render("ws1", "r1", 1024, h.integration("ws1", "i1", "good"))
	h.enqueue(p)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the destination job never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := h.q.Shutdown(ctx)
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	res, err := h.q.Client().JobList(context.Background(), river.NewJobListParams().Kinds(riverqueue.TargetArgs{}.Kind()))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("JobList = %v, %v", res, err)
	}
	if j := res.Jobs[0]; j.State != rivertype.JobStateAvailable || j.Attempt != 0 {
		t.Fatalf("after shutdown the job is %s at attempt %d, want handed back: available, no attempt spent", j.State, j.Attempt)
	}
	rec, _ := h.store.GetDelivery(context.Background(), "ws1", "r1")
	if o := rec.Outputs[0]; o.Status != destination.StatusPending {
		t.Fatalf("after shutdown the output is %s, want pending", o.Status)
	}

	// Another worker (a new Queue on the same database) finishes it.
	h.eng.OnDeliver = nil
	q2 := h.reopen()
	if err := q2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q2.Shutdown(context.Background()) })
	h.waitDone("ws1", "r1")
	h.mustDeliver(p, "i1", data)
}

func TestWorkspaceBound(t *testing.T) {
	each(t, func(t *testing.T) { testWorkspaceBound(t, sqliteBackend) },
		func(t *testing.T) { testWorkspaceBound(t, postgresBackend) })
}

func testWorkspaceBound[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, func(c *riverqueue.Config) { c.MaxWorkers, c.MaxPerWorkspace = 4, 1 })
	var mu sync.Mutex
	running, peak := map[string]int{}, map[string]int{}
	h.eng.OnDeliver = func(_ context.Context, p riverqueue.Plan, _ int) error {
		mu.Lock()
		running[p.WorkspaceID]++
		peak[p.WorkspaceID] = max(peak[p.WorkspaceID], running[p.WorkspaceID])
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		running[p.WorkspaceID]--
		mu.Unlock()
		return nil
	}
	h.start()
	var targets []riverqueue.Target
	for _, id := range []string{"a", "b", "c", "d"} {
		targets = append(targets, h.integration("ws1", id, "good"))
	}
	p, _ := h.render("ws1", "r1", 1024, targets...)
	h.enqueue(p)
	h.waitDone("ws1", "r1")
	mu.Lock()
	defer mu.Unlock()
	if peak["ws1"] != 1 {
		t.Fatalf("ws1 ran %d jobs at once, want at most MaxPerWorkspace = 1", peak["ws1"])
	}
}

func TestCDNFailureFailsItsOutputs(t *testing.T) {
	each(t, func(t *testing.T) { testCDNFailure(t, sqliteBackend) },
		func(t *testing.T) { testCDNFailure(t, postgresBackend) })
}

// testCDNFailure: the render file is gone before the CDN job runs: the CDN copy fails
// source_unavailable and every output fails cdn_failed (nothing to stream), each once; a
// redelivery queues the CDN copy again and, with the file back, everything completes.
func testCDNFailure[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, nil)
	h.start()
	p, data := h.render("ws1", "r1", 4096, h.integration("ws1", "i1", "good"), h.integration("ws1", "i2", "good"))
	if err := removeRender(h.renders, "r1"); err != nil {
		t.Fatal(err)
	}
	h.enqueue(p)
	rec := h.waitDone("ws1", "r1")
	if rec.Status != destination.StatusFailed || rec.ErrorCode != riverqueue.CodeSourceUnavailable {
		t.Fatalf("CDN copy = %s (%s), want failed %s", rec.Status, rec.ErrorCode, riverqueue.CodeSourceUnavailable)
	}
	for _, o := range rec.Outputs {
		if o.Status != destination.StatusFailed || o.ErrorCode != riverqueue.CodeCDNFailed || o.Attempts != 0 {
			t.Fatalf("output %s = %+v, want failed %s without an upload attempt", o.IntegrationID, o.Progress, riverqueue.CodeCDNFailed)
		}
	}

	if err := os.WriteFile(filepath.Join(h.renders, "r1"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitSettled()
	ctx := context.Background()
	tx, commit, rollback := h.begin(ctx)
	defer rollback()
	if res, err := h.q.Redeliver(ctx, tx, p); err != nil || res.Inserted != 3 {
		t.Fatalf("Redeliver = %+v, %v; want the CDN job and both outputs", res, err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, _ = h.store.GetDelivery(ctx, "ws1", "r1")
		if rec.Status == destination.StatusCompleted && rec.Done() && rec.Outputs[0].Status == destination.StatusCompleted &&
			rec.Outputs[1].Status == destination.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redelivery after a CDN failure not done: %+v", rec)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mustDeliver(p, "i1", data)
	h.mustDeliver(p, "i2", data)
}

func TestInterruptedOnEveryAttempt(t *testing.T) {
	each(t, func(t *testing.T) { testInterrupted(t, sqliteBackend) },
		func(t *testing.T) { testInterrupted(t, postgresBackend) })
}

// lostDatabase is a delivery store whose output i2 cannot start an attempt: each attempt of its
// job ends in an error, as when the worker loses the database (or dies) every time.
type lostDatabase struct{ destination.DeliveryStore }

func (l lostDatabase) TransitionOutput(ctx context.Context, ws, render, integration string, t destination.Transition) error {
	if integration == "i2" && t.Status == destination.StatusUploading {
		return errors.New("connection lost")
	}
	return l.DeliveryStore.TransitionOutput(ctx, ws, render, integration, t)
}

// testInterrupted: a job whose every working attempt (MaxAttempts) is cut short is not left
// for River to discard with its output still in flight: the attempt after them records the
// output failed (interrupted) and has the engine remove the session its checkpoint kept; the
// other output is delivered, with nothing removed.
func testInterrupted[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, func(c *riverqueue.Config) { c.MaxAttempts, c.Deliveries = 2, lostDatabase{c.Deliveries} })
	h.start()
	h.failOne("i1", "i2", riverqueue.CodeInterrupted)
	h.waitSettled()
	res, err := h.q.Client().JobList(context.Background(), river.NewJobListParams().Kinds(riverqueue.TargetArgs{}.Kind()).
		States(rivertype.JobStateCancelled))
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Attempt != 3 {
		t.Fatalf("cancelled jobs %+v, %v; want i2's, after 2 working attempts and the one recording the failure", res, err)
	}
}

// failOne delivers render r1 of ws1 to the integrations good and bad, and checks that bad's
// output failed with code, the engine removed its session only, and good's was delivered.
func (h *harness[TTx]) failOne(good, bad, code string) {
	h.t.Helper()
	p, data := h.render("ws1", "r1", 4096, h.integration("ws1", good, "good"), h.integration("ws1", bad, "good"))
	h.enqueue(p)
	rec := h.waitDoneWithin("ws1", "r1", 30*time.Second)
	if o := rec.Output(bad); o.Status != destination.StatusFailed || o.ErrorCode != code {
		h.t.Fatalf("output %s = %+v, want failed %s", bad, o.Progress, code)
	}
	h.mustDeliver(p, good, data)
	if got := h.eng.Aborts(); !slices.Equal(got, []string{bad + "/r1"}) {
		h.t.Fatalf("sessions removed: %q, want %s's only", got, bad)
	}
}

func TestTimeoutOnLastAttempt(t *testing.T) {
	each(t, func(t *testing.T) { testTimeoutOnLastAttempt(t, sqliteBackend) },
		func(t *testing.T) { testTimeoutOnLastAttempt(t, postgresBackend) })
}

// testTimeoutOnLastAttempt: an output whose last attempt runs out of JobTimeout is recorded
// failed (timeout) and the engine removes the session its checkpoint kept (the engine itself
// keeps a session whose attempt ended with its context, for the next attempt to resume).
func testTimeoutOnLastAttempt[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, func(c *riverqueue.Config) { c.MaxAttempts, c.JobTimeout = 1, 300*time.Millisecond })
	h.eng.OnDeliver = func(ctx context.Context, p riverqueue.Plan, i int) error {
		if p.Targets[i].IntegrationID == "slow" {
			<-ctx.Done() // a stalled upload
			return ctx.Err()
		}
		return nil
	}
	h.start()
	h.failOne("fast", "slow", riverqueue.CodeTimeout)
}

// slowStart is a delivery store where recording the start of output slow's attempt takes until
// the attempt's context ends (a store slowed down by load).
type slowStart struct{ destination.DeliveryStore }

func (s slowStart) TransitionOutput(ctx context.Context, ws, render, integration string, t destination.Transition) error {
	if integration == "slow" && t.Status == destination.StatusUploading {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.DeliveryStore.TransitionOutput(ctx, ws, render, integration, t)
}

func TestTimeoutBeforeStart(t *testing.T) {
	each(t, func(t *testing.T) { testTimeoutBeforeStart(t, sqliteBackend) },
		func(t *testing.T) { testTimeoutBeforeStart(t, postgresBackend) })
}

// testTimeoutBeforeStart: a last attempt that runs out of JobTimeout before it could record its
// start is a timeout too (it failed in CI as "interrupted", the extra attempt River gets
// finding the job exhausted), and its session is removed.
func testTimeoutBeforeStart[TTx any](t *testing.T, b backend[TTx]) {
	h := b(t, func(c *riverqueue.Config) {
		c.MaxAttempts, c.JobTimeout, c.Deliveries = 1, 300*time.Millisecond, slowStart{c.Deliveries}
	})
	h.start()
	h.failOne("fast", "slow", riverqueue.CodeTimeout)
}
