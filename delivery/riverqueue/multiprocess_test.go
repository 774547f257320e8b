package riverqueue_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
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

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
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
	bin := filepath.Join(t.TempDir(), "testworker")
	build := exec.Command("go", "build", "-o", bin, "github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testworker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testworker: %v\n%s", err, out)
	}
	db, err := sql.Open("pgx", h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE test_commits (bucket text NOT NULL, object_key text NOT NULL, pid integer NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	var buf bytes.Buffer
	if err := kr.WriteInsecureCleartext(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyset, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	commits := map[string]int{} // "bucket/key" → commits versitygw accepted
	proxy, err := faultproxy.Start(faultproxy.Options{Target: srv.Endpoint, Observe: func(r *http.Request, status int) {
		q := r.URL.Query()
		put := r.Method == http.MethodPut && !q.Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") == ""
		if status == http.StatusOK && (put || (r.Method == http.MethodPost && q.Has("uploadId"))) {
			mu.Lock()
			commits[strings.TrimPrefix(r.URL.Path, "/")]++
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	var targets []riverqueue.Target
	buckets := map[string]string{} // integration → bucket
	for i := range 3 {
		cfg := srv.Bucket(t)
		cfg.Endpoint = proxy.URL
		now := time.Now()
		in := &destination.Integration{ID: fmt.Sprintf("s3-%d", i), WorkspaceID: "ws1", Provider: destination.S3, Name: "s3",
			IsActive: true, Config: cfg.WithoutSecrets(), CreatedAt: now, UpdatedAt: now}
		sealed, err := kr.SealSecret(ctx, in, destination.SecretAccessKey, cfg.SecretAccessKey)
		if err != nil {
			t.Fatal(err)
		}
		in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
		if _, err := h.store.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, riverqueue.Target{IntegrationID: in.ID, Provider: destination.S3})
		buckets[in.ID] = cfg.Bucket
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
	cdnDir := t.TempDir()
	for i := range procs {
		cmd := exec.Command(bin, "-dsn", h.dsn, "-renders", h.renders, "-cdn", cdnDir, "-keyset", keyset, "-workers", "4")
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("worker %d did not shut down in time", i)
			}
		})
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			t.Fatalf("worker %d: %q, %v", i, line, err)
		}
	}

	t.Logf("workers ready after %v", time.Since(began))
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
		rec := h.waitDone(p.WorkspaceID, p.RenderID)
		for _, o := range rec.Outputs {
			if o.Status != destination.StatusCompleted || o.Attempts != 1 {
				t.Fatalf("%s/%s is %s (%s) after %d attempts, want completed after 1", p.RenderID, o.IntegrationID, o.Status, o.ErrorCode, o.Attempts)
			}
		}
	}
	elapsed := time.Since(start)

	// At the server: each of the renders × 3 objects committed once, and nothing else.
	mu.Lock()
	got := len(commits)
	for _, p := range plans {
		for _, tg := range p.Targets {
			k := buckets[tg.IntegrationID] + "/" + tg.Prefix + "render.mp4"
			if n := commits[k]; n != 1 {
				t.Errorf("%s committed %d times at versitygw, want once", k, n)
			}
		}
	}
	mu.Unlock()
	if got != renders*3 {
		t.Fatalf("versitygw committed %d objects, want %d", got, renders*3)
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
