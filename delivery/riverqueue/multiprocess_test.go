package riverqueue_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// TestThreeWorkerProcesses runs 3 worker processes (internal/testworker, built here without
// -race: the real engine, the S3 driver, a file CDN) on one PostgreSQL database and delivers
// 200 renders × 3 S3 buckets on versitygw, reached through a counting proxy
// (internal/faultproxy, no faults): every object is committed exactly once at the server (the
// proxy counts the whole-object PUTs and multipart completions versitygw answered 200, per
// bucket and key; each process also counts what it sent, in test_commits), every record is
// completed after one attempt.
//
// OUTPUTS_RIVER_TEST_PROCS and OUTPUTS_RIVER_TEST_RENDERS change the numbers (figures: 1 vs 3
// processes).
func TestThreeWorkerProcesses(t *testing.T) {
	testenv.Short(t, "builds and runs 3 worker processes")
	srv := emulator.NeedS3(t)
	t.Parallel()
	began := time.Now()
	h := postgresBackend(t, nil) // this process only enqueues
	w := newWorkers(t, h.store, srv)
	db, err := sql.Open("pgx", h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	createCommits(t, db)
	var targets []riverqueue.Target
	buckets := map[string]string{} // integration → bucket
	for i := range 3 {
		tg, bucket := w.s3Integration(fmt.Sprintf("s3-%d", i))
		targets = append(targets, tg)
		buckets[tg.IntegrationID] = bucket
	}
	renders := 200
	if n, err := strconv.Atoi(os.Getenv("OUTPUTS_RIVER_TEST_RENDERS")); err == nil && n > 0 {
		renders = n
	}
	var plans []riverqueue.Plan
	for i := range renders {
		p, _ := h.render("ws1", fmt.Sprintf("r%03d", i), 16<<10)
		for _, tg := range targets {
			tg.Prefix = "renders/" + p.RenderID + "/"
			p.Targets = append(p.Targets, tg)
		}
		plans = append(plans, p)
	}

	procs := 3
	if n, err := strconv.Atoi(os.Getenv("OUTPUTS_RIVER_TEST_PROCS")); err == nil && n > 0 { // figures: 1 vs 3
		procs = n
	}
	for range procs {
		w.start("-dsn", h.dsn, "-renders", h.renders, "-workers", "4")
	}

	t.Logf("workers ready after %v", time.Since(began))
	ctx := context.Background()
	start := time.Now()
	tx, commit, rollback := h.begin(ctx)
	defer rollback()
	for _, p := range plans {
		if _, err := h.q.Enqueue(ctx, tx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		rec := h.waitDoneWithin(p.WorkspaceID, p.RenderID, 2*time.Minute) // one process takes longer
		for _, o := range rec.Outputs {
			if o.Status != destination.StatusCompleted || o.Attempts != 1 {
				t.Fatalf("%s/%s is %s (%s) after %d attempts, want completed after 1", p.RenderID, o.IntegrationID, o.Status, o.ErrorCode, o.Attempts)
			}
		}
	}
	elapsed := time.Since(start)

	// At the server: each of the renders × 3 objects committed once, and nothing else.
	commits := w.commits()
	for _, p := range plans {
		for _, tg := range p.Targets {
			k := buckets[tg.IntegrationID] + "/" + tg.Prefix + "render.mp4"
			if n := commits[k]; n != 1 {
				t.Errorf("%s committed %d times at versitygw, want once", k, n)
			}
		}
	}
	if len(commits) != renders*3 {
		t.Fatalf("versitygw committed %d objects, want %d", len(commits), renders*3)
	}

	var dup, total, pids int
	if err := db.QueryRow("SELECT count(*) FROM (SELECT 1 FROM test_commits GROUP BY bucket, object_key HAVING count(*) > 1) d").Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*), count(DISTINCT pid) FROM test_commits").Scan(&total, &pids); err != nil {
		t.Fatal(err)
	}
	if dup != 0 || total != renders*3 {
		t.Fatalf("commits sent by the workers: %d in all, %d objects committed more than once; want %d, 0", total, dup, renders*3)
	}
	t.Logf("%d renders × 3 S3 buckets on %d worker processes: %v after enqueue, %.0f outputs/s (commits spread over %d processes)",
		renders, procs, elapsed, float64(renders*3)/elapsed.Seconds(), pids)
}

// TestSQLiteRestartMidDelivery is the embedded default on one machine: a worker process on a
// SQLite file is killed (SIGKILL) in the middle of a 40 MiB multipart upload to versitygw, a new
// process opens the same file, River's rescuer hands it the job (Config.RescueAfter, small here),
// and the delivery completes: the object byte-identical, committed once, the record completed
// after 2 attempts. It logs the bytes versitygw received for the key (the render's size plus
// what the restart sent again).
//
// The restarted process also runs the janitor (Sweeper, AbandonedAfter and Retention): the
// multipart upload the killed attempt left (its key was recorded when the upload started) is
// aborted once older than AbandonedAfter, so ListMultipartUploads ends empty, and a record
// finished before the retention is pruned while the new one is kept.
func TestSQLiteRestartMidDelivery(t *testing.T) {
	testenv.Short(t, "builds a worker process and waits for River's rescuer (about 30 s)")
	srv := emulator.NeedS3(t)
	t.Parallel()
	h := sqliteBackend(t, nil) // this process only enqueues and reads the record
	w := newWorkers(t, h.store, srv)
	createCommits(t, h.db)
	tg, bucket := w.s3Integration("s3")
	tg.Prefix = "renders/"
	const size = 40 << 20 // 8 parts of 5 MiB
	p, data := h.render("ws1", "r1", size, tg)
	key := "renders/render.mp4"
	args := []string{"-sqlite", h.file, "-renders", h.renders, "-workers", "2", "-part-size", fmt.Sprint(5 << 20),
		"-job-timeout", "10s", "-rescue-after", "10s"}
	first := w.start(args...)
	old := storetest.DeliveryFixture("ws1", 1) // finished long ago: the janitor prunes it
	if err := h.store.AddDelivery(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := h.store.TransitionRender(context.Background(), "ws1", old.RenderID, destination.Transition{
		Status: destination.StatusFailed, At: old.CreatedAt.Add(time.Minute), ErrorCode: "unknown", Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.TransitionOutput(context.Background(), "ws1", old.RenderID, old.Outputs[0].IntegrationID, destination.Transition{
		Status: destination.StatusFailed, At: old.CreatedAt.Add(time.Minute), ErrorCode: "unknown", Error: "x"}); err != nil {
		t.Fatal(err)
	}
	h.enqueue(p)

	select { // the first part is stored: kill the worker with the rest in flight
	case <-w.partStored:
	case <-time.After(60 * time.Second):
		t.Fatal("no part reached versitygw")
	}
	first.kill()
	rec, err := h.store.GetDelivery(context.Background(), "ws1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if o := rec.Outputs[0]; o.Status != destination.StatusUploading || o.Key != key || w.commits()[bucket+"/"+key] != 0 {
		t.Fatalf("after the kill the output is %s (key %q) with %d commits, want uploading %s and none (the render is too small?)",
			o.Status, o.Key, w.commits()[bucket+"/"+key], key)
	}
	if n := len(w.uploads(bucket)); n != 1 {
		t.Fatalf("after the kill %d multipart uploads are open, want the abandoned one", n)
	}
	killedAt := time.Now()
	// The restart: same database file, with the janitor.
	w.start(append(args, "-abandoned-after", "10s", "-janitor-interval", "2s", "-retention", "1h")...)
	rec = h.waitDoneWithin("ws1", "r1", 3*time.Minute)
	o := rec.Outputs[0]
	if o.Status != destination.StatusCompleted || o.Attempts != 2 || o.Key != key || o.SizeBytes != size {
		t.Fatalf("output after the restart = %+v, want completed after 2 attempts, key %s, %d bytes", o, key, size)
	}
	got := w.object(bucket, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("the stored object is %d bytes and differs from the render (%d bytes)", len(got), size)
	}
	if n := w.commits()[bucket+"/"+key]; n != 1 {
		t.Fatalf("%s committed %d times, want once", key, n)
	}
	sent := w.bytesReceived(bucket + "/" + key)
	left := w.uploads(bucket)
	t.Logf("delivered %v after the kill; versitygw received %d bytes for a %d-byte render (%d re-sent); multipart uploads left: %d",
		time.Since(killedAt).Round(time.Second), sent, size, sent-size, len(left))

	deadline := time.Now().Add(90 * time.Second)
	for len(left) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the janitor did not abort the abandoned uploads: %v", left)
		}
		time.Sleep(500 * time.Millisecond)
		left = w.uploads(bucket)
	}
	if _, err := h.store.GetDelivery(context.Background(), "ws1", old.RenderID); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("the record finished before the retention was not pruned: %v", err)
	}
	if _, err := h.store.GetDelivery(context.Background(), "ws1", "r1"); err != nil {
		t.Errorf("the new record was pruned: %v", err)
	}
	if !bytes.Equal(w.object(bucket, key), data) {
		t.Error("the object changed after the sweep")
	}
	t.Logf("the janitor swept the abandoned upload %v after the kill", time.Since(killedAt).Round(time.Second))
}

// workers builds the worker binary (internal/testworker, without -race), writes the keyset
// the processes read, and counts, through a proxy in front of versitygw
// (internal/faultproxy, no faults), the commits versitygw accepted per "bucket/key" (whole
// object PUTs and multipart completions) and the body bytes of the writes it answered.
type workers struct {
	t      testing.TB
	bin    string
	keyset string
	kr     *crypto.Keyring
	store  destination.Store
	srv    emulator.S3Server
	proxy  *faultproxy.Proxy
	cdn    string
	// partStored receives (without blocking) once per UploadPart versitygw answered 200.
	partStored chan struct{}

	mu        sync.Mutex
	committed map[string]int
	received  map[string]int64
}

func newWorkers(t testing.TB, store destination.Store, srv emulator.S3Server) *workers {
	w := &workers{t: t, store: store, srv: srv, cdn: t.TempDir(), partStored: make(chan struct{}, 1),
		committed: map[string]int{}, received: map[string]int64{}}
	w.bin = filepath.Join(t.TempDir(), "testworker")
	build := exec.Command("go", "build", "-o", w.bin, "github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testworker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testworker: %v\n%s", err, out)
	}
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	w.kr = kr
	w.keyset = filepath.Join(t.TempDir(), "keyset.json")
	var buf bytes.Buffer
	if err := kr.WriteInsecureCleartext(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.keyset, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	w.proxy, err = faultproxy.Start(faultproxy.Options{Target: srv.Endpoint, Observe: w.observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.proxy.Close() })
	return w
}

func (w *workers) observe(r *http.Request, status int) {
	if status != http.StatusOK {
		return
	}
	q := r.URL.Query()
	k := strings.TrimPrefix(r.URL.Path, "/")
	put := r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == ""
	w.mu.Lock()
	defer w.mu.Unlock()
	if put {
		w.received[k] += r.ContentLength
	}
	switch {
	case put && q.Has("partNumber"):
		select {
		case w.partStored <- struct{}{}:
		default:
		}
	case put, r.Method == http.MethodPost && q.Has("uploadId"):
		w.committed[k]++
	}
}

// commits returns the commits versitygw accepted, by "bucket/key".
func (w *workers) commits() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.committed)
}

// bytesReceived returns the body bytes of the writes versitygw accepted for "bucket/key".
func (w *workers) bytesReceived(k string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.received[k]
}

// s3Integration creates an S3 integration of ws1 on a fresh bucket, reached through the
// proxy, and returns its target (no prefix) and the bucket.
func (w *workers) s3Integration(id string) (riverqueue.Target, string) {
	ctx := context.Background()
	cfg := w.srv.Bucket(w.t)
	cfg.Endpoint = w.proxy.URL
	now := time.Now()
	in := &destination.Integration{ID: id, WorkspaceID: "ws1", Provider: destination.S3, Name: "s3",
		IsActive: true, Config: cfg.WithoutSecrets(), CreatedAt: now, UpdatedAt: now}
	sealed, err := w.kr.SealSecret(ctx, in, destination.SecretAccessKey, cfg.SecretAccessKey)
	if err != nil {
		w.t.Fatal(err)
	}
	in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
	if _, err := w.store.Create(ctx, in); err != nil {
		w.t.Fatal(err)
	}
	return riverqueue.Target{IntegrationID: in.ID, Provider: destination.S3}, cfg.Bucket
}

// object reads an object straight from versitygw.
func (w *workers) object(bucket, key string) []byte {
	out, err := w.srv.Client(nil).GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		w.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// uploads lists the multipart uploads open in bucket ("key uploadID").
func (w *workers) uploads(bucket string) []string {
	out, err := w.srv.Client(nil).ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		w.t.Fatalf("list multipart uploads of %s: %v", bucket, err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, *u.Key+" "+*u.UploadId)
	}
	return ids
}

// process is a running worker process.
type process struct {
	t    testing.TB
	cmd  *exec.Cmd
	done bool // killed or stopped
}

// kill ends the process with SIGKILL (its jobs stay running in River until rescued).
func (p *process) kill() {
	p.done = true
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
}

// stop ends the process gracefully (SIGTERM: a Shutdown) and waits for it.
func (p *process) stop() {
	if p.done {
		return
	}
	p.done = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Errorf("worker %d: %v", p.cmd.Process.Pid, err)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		p.t.Errorf("worker %d did not shut down in time", p.cmd.Process.Pid)
	}
}

// start runs a worker process with args (the keyset and CDN are added) until it is ready; the
// test's end stops it gracefully unless it was killed or stopped.
func (w *workers) start(args ...string) *process {
	p := &process{t: w.t, cmd: startReady(w.t, w.bin, append([]string{"-cdn", w.cdn, "-keyset", w.keyset}, args...))}
	w.t.Cleanup(p.stop)
	return p
}

// startReady starts the worker binary bin with args and waits until it says it is ready (a
// worker that does not is killed and fails the test).
func startReady(t testing.TB, bin string, args []string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("worker %d: %q, %v", cmd.Process.Pid, line, err)
	}
	return cmd
}

// createCommits creates the table the worker processes record the commits they send in.
func createCommits(t testing.TB, db *sql.DB) {
	if _, err := db.Exec("CREATE TABLE test_commits (bucket text NOT NULL, object_key text NOT NULL, pid integer NOT NULL)"); err != nil {
		t.Fatal(err)
	}
}
