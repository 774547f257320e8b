package riverqueue_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// TestThreeWorkerProcesses runs 3 worker processes (internal/testworker, built here) on one
// PostgreSQL database and delivers renders × 3 destinations: every output is uploaded exactly
// once (each upload is counted in test_uploads by the process doing it), every record completed.
func TestThreeWorkerProcesses(t *testing.T) {
	testenv.Short(t, "builds and runs 3 worker processes")
	t.Parallel()
	h := postgresBackend(t, nil) // this process only enqueues
	began := time.Now()
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
	if _, err := db.Exec("CREATE TABLE test_uploads (render_id text NOT NULL, integration_id text NOT NULL, pid integer NOT NULL)"); err != nil {
		t.Fatal(err)
	}

	const renders = 30
	targets := []riverqueue.Target{h.integration("ws1", "s3", "good"), h.integration("ws1", "gcs", "good"),
		h.integration("ws2", "azure", "good")}
	var plans []riverqueue.Plan
	for i := range renders {
		p, _ := h.render([]string{"ws1", "ws2"}[i%2], fmt.Sprintf("r%03d", i), 64<<10)
		p.Targets = append(p.Targets, targets...)
		plans = append(plans, p)
	}
	// ws1 owns s3 and gcs, ws2 owns azure: another workspace's integration fails
	// integration_unavailable (the engine leases it in the render's workspace). Either way each
	// output is worked once.
	owner := map[string]string{"s3": "ws1", "gcs": "ws1", "azure": "ws2"}

	for i := range 3 {
		cmd := exec.Command(bin, "-dsn", h.dsn, "-renders", h.renders, "-cdn", h.eng.CDNDir, "-dest", h.eng.DestDir, "-workers", "4")
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
	ctx := context.Background()
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
			want := "completed"
			if owner[o.IntegrationID] != p.WorkspaceID {
				want = "failed"
			}
			if string(o.Status) != want {
				t.Fatalf("%s/%s is %s (%s), want %s", p.RenderID, o.IntegrationID, o.Status, o.ErrorCode, want)
			}
			if o.Attempts != 1 {
				t.Fatalf("%s/%s took %d attempts, want 1", p.RenderID, o.IntegrationID, o.Attempts)
			}
		}
	}
	elapsed := time.Since(start)

	var dup, total, pids int
	if err := db.QueryRow("SELECT count(*) FROM (SELECT 1 FROM test_uploads GROUP BY render_id, integration_id HAVING count(*) > 1) d").Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*), count(DISTINCT pid) FROM test_uploads").Scan(&total, &pids); err != nil {
		t.Fatal(err)
	}
	wantUploads := renders/2*2 + renders/2 // ws1 renders: s3 and gcs; ws2 renders: azure
	if dup != 0 || total != wantUploads {
		t.Fatalf("uploads: %d in all, %d outputs uploaded more than once; want %d, 0", total, dup, wantUploads)
	}
	t.Logf("%d renders × 3 destinations on 3 worker processes: %v (uploads spread over %d processes)", renders, elapsed, pids)
}
