// Command testworker is a delivery worker process for riverqueue's multi-process test: it works
// the queue on PostgreSQL with the test engine and records every upload it performs in the
// test_uploads table, until SIGTERM (graceful shutdown) or SIGKILL.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testengine"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
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
	cdn := flag.String("cdn", "", "CDN directory")
	dest := flag.String("dest", "", "destinations directory")
	workers := flag.Int("workers", 4, "max workers")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	pool, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	db, err := sql.Open("pgx", *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	store := sqlstore.New(db, sqlstore.PostgreSQL, nil)
	pid := os.Getpid()
	eng := &testengine.Engine{Store: store, CDNDir: *cdn, DestDir: *dest,
		OnDeliver: func(ctx context.Context, p riverqueue.Plan, i int) error {
			_, err := db.ExecContext(ctx, "INSERT INTO test_uploads (render_id, integration_id, pid) VALUES ($1, $2, $3)",
				p.RenderID, p.Targets[i].IntegrationID, pid)
			return err
		}}
	q, err := riverqueue.NewPostgres(pool, riverqueue.Config{Engine: eng, Deliveries: store, CDN: eng,
		OpenRender: testengine.OpenRender(*renders), MaxWorkers: *workers, CDNWait: 50 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
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
