package riverqueue_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob/fileblob"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	s3driver "github.com/ilovevideoeditor/outputs/provider/s3"
)

// TestRealEngineOnS3 runs the queue with the real delivery engine, the real S3 driver against
// versitygw and a file-backed CDN, on SQLite: both S3 targets receive byte-identical objects,
// each committed by exactly one PUT (counted on the wire); a target with a wrong secret fails
// (invalid_credentials, or a reset when the rejection races the body); after its secret is fixed (sealed again by the keyring) Redeliver sends
// it from the CDN copy, the render file being gone.
func TestRealEngineOnS3(t *testing.T) {
	srv := emulator.NeedS3(t)
	t.Parallel()
	h := sqliteBackend(t, nil)
	ctx := context.Background()
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	rec := &emulator.Recorder{}
	client := emulator.NewClient(t, kr, provider.Options{WrapTransport: rec.Wrap}, nil, s3driver.NewDriver(s3driver.Options{RetryMaxAttempts: 1}))
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	cdn, err := provider.NewCDN(bucket, provider.CDNOptions{BaseURL: "https://cdn.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := delivery.New(delivery.Options{Store: h.store, Uploader: client, CDN: cdn, Logger: slog.New(slog.DiscardHandler),
		Retry: delivery.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := h.openWith(riverqueue.Config{Engine: eng, Deliveries: h.store, CDN: cdn, Sealer: h.kr,
		OpenRender: func(_ context.Context, p riverqueue.Plan) (riverqueue.Source, io.Closer, error) {
			return delivery.FileSource(filepath.Join(h.renders, p.RenderID))
		},
		CDNWait: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h.q = q
	h.start()

	// Two buckets and a third target whose secret is wrong.
	cfgs := []destination.Config{srv.Bucket(t), srv.Bucket(t), srv.Bucket(t)}
	cfgs[2].SecretAccessKey = "wrong-secret-key"
	var targets []riverqueue.Target
	for i, cfg := range cfgs {
		now := time.Now()
		in := &destination.Integration{ID: []string{"s3a", "s3b", "s3bad"}[i], WorkspaceID: "ws1", Provider: destination.S3,
			Name: "s3", IsActive: true, Config: cfg.WithoutSecrets(), CreatedAt: now, UpdatedAt: now}
		sealed, err := kr.SealSecret(ctx, in, destination.SecretAccessKey, cfg.SecretAccessKey)
		if err != nil {
			t.Fatal(err)
		}
		in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
		if _, err := h.store.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, riverqueue.Target{IntegrationID: in.ID, Provider: destination.S3, Prefix: "renders/"})
	}
	p, data := h.render("ws1", "r1", 3<<20, targets...)
	h.enqueue(p)
	h.waitDone("ws1", "r1")
	st, err := h.status("ws1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != destination.StatusCompleted || !strings.HasPrefix(st.URL, "https://cdn.example.com/") {
		t.Fatalf("render status = %+v", st)
	}
	for i, o := range st.Outputs[:2] {
		if o.Status != destination.StatusCompleted || o.OutputKey != "renders/render.mp4" || o.OutputSizeBytes != int64(len(data)) ||
			o.Transfer != destination.TransferStream { // a file-backed CDN: S3 cannot copy from it
			t.Fatalf("output %d = %+v", i, o)
		}
	}
	// versitygw answers 403 while the body is still streaming, so the client may see the
	// rejection or a reset connection (the provider's early-answer handling, not the queue's).
	if o := st.Outputs[2]; o.Status != destination.StatusFailed || strings.Contains(o.Error, "wrong-secret-key") {
		t.Fatalf("output with a wrong secret = %+v, want failed", o)
	}
	full, _ := h.store.GetDelivery(ctx, "ws1", "r1")
	if o := full.Output("s3a"); !strings.HasPrefix(o.Checksum, "crc32c:") || full.Checksum != o.Checksum {
		t.Fatalf("checksums recorded: CDN %q, output %q; want the same crc32c", full.Checksum, o.Checksum)
	}

	// Fix the secret, remove the render file, redeliver: streamed from the CDN copy.
	in, err := h.store.Get(ctx, "ws1", "s3bad")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := kr.SealSecret(ctx, in, destination.SecretAccessKey, srv.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	in.Secrets[destination.SecretAccessKey] = sealed
	if _, err := h.store.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := removeRender(h.renders, "r1"); err != nil {
		t.Fatal(err)
	}
	h.waitSettled()
	tx, commit, rollback := h.begin(ctx)
	defer rollback()
	if res, err := h.q.Redeliver(ctx, tx, p, "s3bad"); err != nil || res.Inserted != 1 {
		t.Fatalf("Redeliver = %+v, %v", res, err)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		full, _ = h.store.GetDelivery(ctx, "ws1", "r1")
		if full.Output("s3bad").Status == destination.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redelivery not done: %+v", full.Output("s3bad"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	raw := srv.Client(nil)
	for _, cfg := range cfgs {
		obj, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String("renders/render.mp4")})
		if err != nil {
			t.Fatalf("bucket %s: %v", cfg.Bucket, err)
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("bucket %s holds %d bytes, not the render's %d", cfg.Bucket, len(got), len(data))
		}
	}
	// Each object was committed once: one PUT of the whole object, or one multipart completion.
	commits := map[string]int{}
	for _, r := range rec.Requests() {
		if !strings.HasSuffix(r.URL.Path, "/renders/render.mp4") {
			continue
		}
		if (r.Method == http.MethodPut && !r.URL.Query().Has("partNumber")) || (r.Method == http.MethodPost && r.URL.Query().Has("uploadId")) {
			commits[strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]]++
		}
	}
	for _, cfg := range cfgs[:2] {
		if commits[cfg.Bucket] != 1 {
			t.Fatalf("bucket %s: %d commits, want exactly 1 (%v)", cfg.Bucket, commits[cfg.Bucket], commits)
		}
	}
}
