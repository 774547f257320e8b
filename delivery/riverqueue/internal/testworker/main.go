// Command testworker is a delivery worker process for riverqueue's multi-process tests: it works
// the queue on PostgreSQL (-dsn) or on a SQLite file (-sqlite) with the real delivery engine, the S3 driver (loopback allowed) and a
// file-backed CDN (and the Azure, GCS and Drive drivers, for the SIGKILL harness), and records every object commit it sends to S3 (a whole-object PUT or a
// multipart completion) in the test_commits table, until SIGTERM (graceful shutdown).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"gocloud.dev/blob/fileblob"
	"golang.org/x/oauth2"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testworker:", err)
		os.Exit(1)
	}
}

func run() error {
	dsn := flag.String("dsn", "", "PostgreSQL DSN (with search_path)")
	renders := flag.String("renders", "", "directory of render files")
	cdnDir := flag.String("cdn", "", "CDN directory")
	keysetFile := flag.String("keyset", "", "cleartext keyset file (tests only)")
	workers := flag.Int("workers", 4, "max workers")
	perWorkspace := flag.Int("per-workspace", 0, "max jobs of one workspace (0: the queue's default)")
	sqlitePath := flag.String("sqlite", "", "SQLite database file (instead of -dsn)")
	partSize := flag.Int("part-size", 0, "upload part size in bytes (0: the provider default)")
	jobTimeout := flag.Duration("job-timeout", 0, "the queue's JobTimeout (0: its default)")
	rescueAfter := flag.Duration("rescue-after", 0, "the queue's RescueAfter (0: its default)")
	abandonedAfter := flag.Duration("abandoned-after", 0, "run the janitor's sweep with this AbandonedAfter (0: no sweep)")
	janitorInterval := flag.Duration("janitor-interval", 0, "the queue's JanitorInterval (0: its default)")
	retention := flag.Duration("retention", 0, "the queue's Retention (0: no pruning)")
	stats := flag.String("stats", "", "at exit, write the peak RSS and peak heap in use (sampled every 50 ms) to this file")
	maxAttempts := flag.Int("max-attempts", 0, "the queue's MaxAttempts (0: its default)")
	concurrency := flag.Int("concurrency", 0, "upload concurrency (0: the provider default)")
	gcsTokenHost := flag.String("gcs-token-host", "", "host:port of the test token endpoint the GCS keys name (empty: no GCS driver)")
	driveEndpoint := flag.String("drive-endpoint", "", "Drive API endpoint of a drivetest server (empty: no Drive driver)")
	driveTokenURL := flag.String("drive-token-url", "", "the Drive OAuth client's token URL")
	driveClientID := flag.String("drive-client-id", "", "the Drive OAuth client ID")
	driveClientSecret := flag.String("drive-client-secret", "", "the Drive OAuth client secret")
	flag.Parse()
	if *stats != "" {
		defer sampleMemory(*stats)()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var (
		db      *sql.DB
		pool    *pgxpool.Pool
		dialect = sqlstore.PostgreSQL
		insert  = "INSERT INTO test_commits (bucket, object_key, pid) VALUES ($1, $2, $3)"
		err     error
	)
	if *sqlitePath != "" {
		dialect, insert = sqlstore.SQLite, "INSERT INTO test_commits (bucket, object_key, pid) VALUES (?, ?, ?)"
		db, err = sqlstore.OpenSQLite(*sqlitePath)
	} else {
		if pool, err = pgxpool.New(ctx, *dsn); err != nil {
			return err
		}
		defer pool.Close()
		db, err = sql.Open("pgx", *dsn)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := os.Open(*keysetFile)
	if err != nil {
		return err
	}
	kr, err := crypto.ReadInsecureCleartextKeyring(f)
	f.Close()
	if err != nil {
		return err
	}
	pid := os.Getpid()
	count := func(next http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			if (r.Method == http.MethodPut && !q.Has("partNumber")) || (r.Method == http.MethodPost && q.Has("uploadId")) {
				bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
				if _, err := db.ExecContext(r.Context(), insert, bucket, key, pid); err != nil {
					return nil, err
				}
			}
			return next.RoundTrip(r)
		})
	}
	drivers := []provider.Driver{s3.NewDriver(s3.Options{RetryMaxAttempts: 1}), azure.NewDriver(azure.Options{})}
	if *gcsTokenHost != "" {
		drivers = append(drivers, gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{*gcsTokenHost}}))
	}
	if *driveEndpoint != "" {
		drivers = append(drivers, drive.NewDriver(drive.DriverOptions{Options: drive.Options{Endpoint: *driveEndpoint},
			OAuth: &oauth2.Config{ClientID: *driveClientID, ClientSecret: *driveClientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: *driveTokenURL, AuthStyle: oauth2.AuthStyleInParams}}}))
	}
	client, err := provider.New(kr, provider.Options{AllowedNetworks: emulator.Loopback, WrapTransport: count, PartSize: *partSize,
		Concurrency: *concurrency}, drivers...)
	if err != nil {
		return err
	}
	defer client.Close()
	bucket, err := fileblob.OpenBucket(*cdnDir, nil)
	if err != nil {
		return err
	}
	defer bucket.Close()
	cdn, err := provider.NewCDN(bucket, provider.CDNOptions{BaseURL: "https://cdn.example.com"})
	if err != nil {
		return err
	}
	store := sqlstore.New(db, dialect, nil)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, CDN: cdn, Logger: quiet})
	if err != nil {
		return err
	}
	cfg := riverqueue.Config{Engine: eng, Deliveries: store, CDN: cdn, Sealer: kr,
		OpenRender: func(_ context.Context, p riverqueue.Plan) (riverqueue.Source, io.Closer, error) {
			return delivery.FileSource(filepath.Join(*renders, p.RenderID))
		},
		MaxWorkers: *workers, CDNWait: 50 * time.Millisecond, FetchPollInterval: 100 * time.Millisecond, Logger: quiet,
		JobTimeout: *jobTimeout, RescueAfter: *rescueAfter, JanitorInterval: *janitorInterval,
		Retention: *retention, MaxPerWorkspace: *perWorkspace, MaxAttempts: *maxAttempts}
	if *abandonedAfter > 0 {
		cfg.Sweeper, cfg.Integrations, cfg.AbandonedAfter = client, store, *abandonedAfter
	}
	var q queue
	if pool != nil {
		q, err = riverqueue.NewPostgres(pool, cfg)
	} else {
		q, err = riverqueue.NewSQLite(db, cfg)
	}
	if err != nil {
		return err
	}
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return q.Shutdown(sctx)
}

// sampleMemory samples the heap in use every 50 ms; the function it returns stops and writes
// "peak_rss_bytes peak_heap_inuse_bytes" to file.
func sampleMemory(file string) func() {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		_ = os.WriteFile(file, fmt.Appendf(nil, "%d %d\n", ru.Maxrss*1024, peak.Load()), 0o644)
	}
}

// queue is a riverqueue.Queue of either driver.
type queue interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
