package riverqueue_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/riverqueue/river"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
)

// The SIGKILL harness's sizes. By default a smaller variant runs (CI time); OUTPUTS_TEST_KILL_FULL=1
// runs the issue's: 256 MiB, 5 kills per delivery.
const (
	killSize, killParts, killKills             = 48 << 20, 5 << 20, 2
	killFullSize, killFullParts, killFullKills = 256 << 20, 8 << 20, 5
	killConcurrency                            = 2
	killSlack                                  = 64 << 10
)

// killRow is one provider of the harness: the target it delivers to, and what it checks after.
type killRow struct {
	name string
	// resumes says why the row cannot run yet ("" when it can): its driver must implement
	// provider.SessionAborter and checkpoint its parts.
	skip string
	// setup creates the integration (reached through proxy) and returns its target and a check
	// of the delivered object and of what is left.
	setup func(t *testing.T, proxy func(target string) string) (destination.Integration, destination.Config, func(t *testing.T, key string, sum []byte))
	proxy *faultproxy.Proxy
}

func resumes(d any) string {
	if _, ok := d.(provider.SessionAborter); !ok {
		return "its driver does not resume checkpointed uploads yet (no provider.SessionAborter)"
	}
	return ""
}

// TestSIGKILLResume kills the worker process at a random point of the uploads of one render to
// each provider (one delivery each, all in flight at once), again and again: each time a new
// worker process resumes them from their checkpoints (River's rescuer runs the killed jobs
// again). Every delivery completes, the objects are byte-identical, the bytes sent again
// (counted by a proxy in front of each emulator) stay within part size × concurrency per kill,
// and no multipart upload or uncommitted block is left. Rows of drivers that do not resume yet
// skip.
func TestSIGKILLResume(t *testing.T) {
	testenv.Short(t, "builds and SIGKILLs worker processes")
	srv := emulator.NeedS3(t)
	size, partSize, kills := int64(killSize), int64(killParts), killKills
	if os.Getenv("OUTPUTS_TEST_KILL_FULL") == "1" {
		size, partSize, kills = killFullSize, killFullParts, killFullKills
	}
	jobTimeout := 15*time.Second + time.Duration(size>>20)*100*time.Millisecond
	rescueAfter := jobTimeout + time.Second

	var workerArgs []string // flags the rows' setups add (what a provider's worker driver needs)
	rows := []*killRow{
		{name: "s3", setup: func(t *testing.T, proxy func(string) string) (destination.Integration, destination.Config, func(*testing.T, string, []byte)) {
			cfg := srv.Bucket(t)
			raw := srv.Client(nil)
			bucket := cfg.Bucket
			cfg.Endpoint = proxy(srv.Endpoint)
			in := destination.Integration{Provider: destination.S3, Config: cfg.WithoutSecrets()}
			return in, cfg, func(t *testing.T, key string, sum []byte) {
				out, err := raw.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
				if err != nil {
					t.Errorf("s3: %v", err)
					return
				}
				defer out.Body.Close()
				h := sha256.New()
				_, _ = bufio.NewReader(out.Body).WriteTo(h)
				if !bytes.Equal(h.Sum(nil), sum) {
					t.Errorf("s3: the object differs from the render")
				}
				ups, err := raw.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
				if err != nil || len(ups.Uploads) != 0 {
					t.Errorf("s3: multipart uploads left: %d, %v", len(ups.Uploads), err)
				}
			}
		}},
		{name: "azure", skip: resumes(azure.NewDriver(azure.Options{})), setup: func(t *testing.T, proxy func(string) string) (destination.Integration, destination.Config, func(*testing.T, string, []byte)) {
			az := emulator.NeedAzure(t)
			cfg := az.Container(t)
			raw := az.RawAzure(t, cfg)
			cc := az.ContainerClient(t, cfg.AzureContainerName)
			cfg.Endpoint = proxy(az.Endpoint)
			in := destination.Integration{Provider: destination.Azure, Config: cfg.WithoutSecrets()}
			return in, cfg, func(t *testing.T, key string, sum []byte) {
				got, err := raw.Sum(context.Background(), key)
				if err != nil || !bytes.Equal(got, sum) {
					t.Errorf("azure: the blob differs from the render (%v)", err)
				}
				if n, err := emulator.UncommittedBlocks(context.Background(), cc, ""); err != nil || n != 0 {
					t.Errorf("azure: %d uncommitted blocks left, %v", n, err)
				}
			}
		}},
		{name: "gcs", skip: resumes(gcs.NewDriver(gcs.Options{})), setup: func(t *testing.T, proxy func(string) string) (destination.Integration, destination.Config, func(*testing.T, string, []byte)) {
			cfg := emulator.GCS(t)
			raw := emulator.RawGCS(cfg)
			endpoint := cfg.Endpoint
			cfg.Endpoint = proxy(endpoint)
			// The worker admits the key's token_uri, the token endpoint of this process.
			workerArgs = append(workerArgs, "-gcs-token-host", emulator.TokenHost())
			in := destination.Integration{Provider: destination.GCS, Config: cfg.WithoutSecrets()}
			return in, cfg, func(t *testing.T, key string, sum []byte) {
				got, err := raw.Sum(context.Background(), key)
				if err != nil || !bytes.Equal(got, sum) {
					t.Errorf("gcs: the object differs from the render (%v)", err)
				}
				if names, err := gcsObjects(endpoint, cfg.Bucket); err != nil || len(names) != 1 || names[0] != key {
					t.Errorf("gcs: objects in the bucket: %q, %v; want only %q", names, err, key)
				}
			}
		}},
		{name: "drive", skip: resumes(drive.NewDriver(drive.DriverOptions{})), setup: func(t *testing.T, proxy func(string) string) (destination.Integration, destination.Config, func(*testing.T, string, []byte)) {
			// The fake runs in this process; the workers reach it by URL (through the proxy),
			// and refresh their access tokens at its token endpoint.
			fake := drivetest.NewServer(drivetest.Options{RequireAuth: true})
			t.Cleanup(fake.Close)
			oc := fake.OAuthConfig("")
			workerArgs = append(workerArgs, "-drive-endpoint", proxy(fake.URL())+"/drive/v3/", "-drive-token-url", oc.Endpoint.TokenURL,
				"-drive-client-id", oc.ClientID, "-drive-client-secret", oc.ClientSecret)
			cfg := destination.Config{DriveRefreshToken: fake.IssueRefreshToken()}
			in := destination.Integration{Provider: destination.Drive, Config: cfg.WithoutSecrets()}
			return in, cfg, func(t *testing.T, key string, sum []byte) {
				var files []drivetest.Item
				for _, it := range fake.Items() {
					if it.MimeType != drivetest.FolderMimeType && !it.Trashed {
						files = append(files, it)
					}
				}
				if len(files) != 1 || files[0].Name != path.Base(key) {
					t.Errorf("drive: files %+v, want only %s", files, path.Base(key))
					return
				}
				b, _ := fake.Content(files[0].ID)
				if got := sha256.Sum256(b); !bytes.Equal(got[:], sum) {
					t.Errorf("drive: the file differs from the render (%d bytes)", len(b))
				}
				if n := fake.Sessions(); n != 0 {
					t.Errorf("drive: %d unfinished upload sessions left", n)
				}
			}
		}},
	}
	for _, r := range rows {
		if r.skip == "" && r.setup == nil {
			r.skip = "its driver resumes, but this harness does not set up its emulator yet"
		}
		if r.skip != "" {
			t.Run(r.name, func(t *testing.T) { t.Skip(r.skip) })
		}
	}

	// Enqueues; its MaxAttempts is the jobs' (each kill spends an attempt).
	h := postgresBackend(t, func(c *riverqueue.Config) { c.MaxAttempts = 20 })
	// A leader that works no delivery: it runs River's rescuer, and is never killed.
	leader, err := h.openWith(h.config(func(c *riverqueue.Config) {
		c.CDNQueue, c.DeliverQueue, c.WebhookQueue = "kill_unused_cdn", "kill_unused_deliver", "kill_unused_webhook"
		c.JobTimeout, c.RescueAfter, c.MaxAttempts = jobTimeout, rescueAfter, 20
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = leader.Shutdown(ctx)
	})

	bin := filepath.Join(t.TempDir(), "testworker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testworker").CombinedOutput(); err != nil {
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
	p, data := h.render("ws1", "big", int(size))
	sum := sha256.Sum256(data)
	var live []*killRow
	checks := map[string]func(*testing.T, string, []byte){}
	for _, r := range rows {
		if r.skip != "" {
			continue
		}
		in, cfg, check := r.setup(t, func(target string) string {
			px, err := faultproxy.Start(faultproxy.Options{Target: target})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { px.Close() })
			r.proxy = px
			return px.URL
		})
		now := time.Now()
		in.ID, in.WorkspaceID, in.Name, in.IsActive, in.CreatedAt, in.UpdatedAt = r.name, "ws1", r.name, true, now, now
		in.Secrets = map[destination.SecretField]destination.Sealed{}
		for f, v := range map[destination.SecretField]string{destination.SecretAccessKey: cfg.SecretAccessKey,
			destination.SecretAzureAccountKey: cfg.AzureAccountKey, destination.SecretGCSServiceAcct: cfg.GCSServiceAccountJSON,
			destination.SecretDriveRefresh: cfg.DriveRefreshToken} {
			if v == "" {
				continue
			}
			sealed, err := kr.SealSecret(ctx, &in, f, v)
			if err != nil {
				t.Fatal(err)
			}
			in.Secrets[f] = sealed
		}
		if _, err := h.store.Create(ctx, &in); err != nil {
			t.Fatal(err)
		}
		p.Targets = append(p.Targets, riverqueue.Target{IntegrationID: in.ID, Provider: in.Provider, Prefix: "renders/"})
		checks[r.name] = check
		live = append(live, r)
	}
	if len(live) == 0 {
		t.Skip("no provider resumes yet")
	}

	cdnDir := t.TempDir()
	startWorker := func() *exec.Cmd {
		args := append([]string{"-dsn", h.dsn, "-renders", h.renders, "-cdn", cdnDir, "-keyset", keyset, "-workers", "8",
			"-job-timeout", jobTimeout.String(), "-rescue-after", rescueAfter.String(), "-max-attempts", "20",
			"-part-size", fmt.Sprint(partSize), "-concurrency", fmt.Sprint(killConcurrency)}, workerArgs...)
		return startReady(t, bin, args)
	}
	sent := func() (n int64) {
		for _, r := range live {
			n += r.proxy.BodyBytes(http.MethodPut)
		}
		return n
	}
	sentOf := func(r *killRow) int64 { return r.proxy.BodyBytes(http.MethodPut) }

	began := time.Now()
	h.enqueue(p)
	w := startWorker()
	t.Cleanup(func() {
		_ = w.Process.Kill()
		_ = w.Wait()
	})
	var resumeTimes []time.Duration
	for k := range kills {
		// Kill once every delivery sent between concurrency+1 and concurrency+2 parts more in
		// this round (a part sent again does not count as progress).
		base := map[*killRow]int64{}
		at := map[*killRow]int64{}
		for _, r := range live {
			base[r] = sentOf(r)
			at[r] = partSize*(killConcurrency+1) + rand.Int64N(partSize)
		}
		deadline := time.Now().Add(2 * jobTimeout)
		for {
			ready := true
			rec, _ := h.store.GetDelivery(ctx, "ws1", "big")
			for _, r := range live {
				// A delivery already done is not waited for (it had fewer kills). One that has sent
				// as many bytes as the render (at most its last parts are left) is waited for until
				// it is done: a kill between its commit and the record of its completion would
				// make the next run upload it again, whole (a second commit), which the harness
				// does not measure (the rows are not equally fast). Not GCS: after the fake's
				// duplicated chunk (below) it uploads afresh, so its count says nothing of its end.
				done := rec != nil && rec.Output(r.name) != nil && rec.Output(r.name).Status == destination.StatusCompleted
				ready = ready && (done || (sentOf(r)-base[r] >= at[r] && (sentOf(r) < size || r.name == "gcs")))
			}
			if ready || (rec != nil && rec.Done()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the uploads did not reach their kill points (sent %d bytes)", k+1, sent())
			}
			time.Sleep(2 * time.Millisecond)
		}
		if rec, _ := h.store.GetDelivery(ctx, "ws1", "big"); rec != nil && rec.Done() {
			t.Logf("every delivery was done before kill %d", k+1)
			break
		}
		_ = w.Process.Kill()
		_ = w.Wait()
		killedAt, before := time.Now(), sent()
		var each []string
		for _, r := range live {
			each = append(each, fmt.Sprintf("%s %d", r.name, sentOf(r)))
		}
		t.Logf("kill %d at %v: %d bytes sent in all (%s)", k+1, killedAt.Sub(began).Round(time.Millisecond), before, strings.Join(each, ", "))
		time.Sleep(500 * time.Millisecond) // let the proxies forward what the dead process had sent
		for n := int64(-1); n != sent(); {
			n = sent()
			time.Sleep(200 * time.Millisecond)
		}
		before = sent()
		w = startWorker()
		for sent() == before {
			if rec, _ := h.store.GetDelivery(ctx, "ws1", "big"); rec != nil && rec.Done() {
				break // what was left needed no PUT body (a completion, a commit of blocks)
			}
			if time.Since(killedAt) > rescueAfter+2*time.Minute {
				t.Fatalf("kill %d: nothing resumed after %v", k+1, time.Since(killedAt))
			}
			time.Sleep(10 * time.Millisecond)
		}
		resumeTimes = append(resumeTimes, time.Since(killedAt).Round(time.Millisecond))
	}

	keys := map[string]string{}
	deadline := time.Now().Add(2*jobTimeout + time.Minute)
	for {
		rec, err := h.store.GetDelivery(ctx, "ws1", "big")
		if err == nil && rec.Done() {
			for _, o := range rec.Outputs {
				if o.Status != destination.StatusCompleted {
					t.Fatalf("%s is %s (%s: %s)", o.IntegrationID, o.Status, o.ErrorCode, o.Error)
				}
				keys[o.IntegrationID] = o.Key
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not done in time: %+v, %v", rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d kills, %d MiB, parts of %d MiB × %d: done %v after enqueue; resumed (new bytes on the wire) %v after each kill",
		kills, size>>20, partSize>>20, killConcurrency, time.Since(began).Round(time.Millisecond), resumeTimes)
	kills = len(resumeTimes) // fewer when every delivery was done earlier
	for _, r := range live {
		resent := sentOf(r) - size
		// The bound, plus what is not part data but travels in PUT bodies too (Azure's block
		// lists).
		bound := int64(kills)*partSize*killConcurrency + killSlack
		t.Logf("%s: %d bytes sent again over %d kills (%.1f MiB per kill; bound %d MiB per kill)",
			r.name, resent, kills, float64(resent)/float64(kills)/(1<<20), partSize*killConcurrency>>20)
		switch {
		case r.name == "gcs" && resent > bound && resent <= bound+int64(kills)*size:
			// On fake-gcs-server a kill between a stored chunk and its checkpoint's save can make
			// the fake append that chunk twice when it is sent again; the driver's verify catches
			// it (checksum mismatch: it deletes the object and uploads afresh), so the object is
			// right but the bytes sent again exceed the bound by up to one whole upload per kill.
			// The same is seen after a resume answered "unavailable" by the fake (the driver then
			// starts afresh). Logged, not failed, for GCS only (the check of the object below
			// still runs).
			t.Logf("gcs: %d bytes sent again, over the bound %d: the driver uploaded afresh on fake-gcs-server (see the worker's warnings)", resent, bound)
		case resent < 0 || resent > bound:
			t.Errorf("%s: %d bytes sent again, want at most %d", r.name, resent, bound)
		}
		checks[r.name](t, keys[r.name], sum[:])
	}
	// The checkpoints were cleared from the jobs' metadata.
	jobs, err := h.q.Client().JobList(ctx, river.NewJobListParams().First(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Jobs {
		var md map[string]json.RawMessage
		_ = json.Unmarshal(j.Metadata, &md)
		if v, ok := md[riverqueue.MetadataKeyCheckpoint]; ok && string(v) != "null" {
			t.Errorf("job %d (%s) keeps a checkpoint: %s", j.ID, j.Kind, v)
		}
	}
	var commits int
	_ = db.QueryRow("SELECT count(*) FROM test_commits WHERE object_key LIKE 'renders/%'").Scan(&commits)
	if commits != 1 {
		t.Errorf("%d commits of the S3 object, want 1", commits)
	}
}

// gcsObjects lists the names of the objects in bucket on the fake-gcs-server at endpoint.
func gcsObjects(endpoint, bucket string) ([]string, error) {
	resp, err := http.Get(endpoint + "/storage/v1/b/" + url.PathEscape(bucket) + "/o")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("objects.list: %s", resp.Status)
	}
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Name)
	}
	return names, nil
}
