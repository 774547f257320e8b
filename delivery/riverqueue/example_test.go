package riverqueue_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue/internal/testengine"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// The embedded default: one SQLite file holds the integrations, the delivery records and River's
// jobs. The host enqueues in the transaction that commits its render row.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "riverqueue-example")
	defer os.RemoveAll(dir)
	db, _ := sqlstore.OpenSQLite(filepath.Join(dir, "outputs.db"))
	defer db.Close()
	store := sqlstore.New(db, sqlstore.SQLite, nil)
	_ = store.Migrate(ctx)
	now := time.Now()
	_, _ = store.Create(ctx, &destination.Integration{ID: "int_1", WorkspaceID: "ws1", Provider: destination.S3,
		Name: "archive", IsActive: true, CreatedAt: now, UpdatedAt: now})
	_ = os.WriteFile(filepath.Join(dir, "render_1"), []byte("the finished video"), 0o644)

	engine := &testengine.Engine{Store: store, CDNDir: filepath.Join(dir, "cdn"), DestDir: filepath.Join(dir, "dest")} // delivery.Engine in a real host
	keyring, _ := crypto.NewInsecureDevelopmentKeyring()                                                               // the host's keyring (crypto.ReadEncryptedKeyring)
	q, err := riverqueue.NewSQLite(db, riverqueue.Config{Engine: engine, Deliveries: store, CDN: engine, Sealer: keyring,
		OpenRender: testengine.OpenRender(dir), Logger: slog.New(slog.DiscardHandler), FetchPollInterval: 50 * time.Millisecond, CDNWait: 20 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.Migrate(ctx)
	_ = q.Start(ctx)
	defer q.Shutdown(ctx)

	tx, _ := db.BeginTx(ctx, nil)
	// ... INSERT the host's render row in tx ...
	res, err := q.Enqueue(ctx, tx, riverqueue.Plan{WorkspaceID: "ws1", RenderID: "render_1", FileName: "render.mp4",
		Targets: []riverqueue.Target{{IntegrationID: "int_1", Provider: destination.S3, Prefix: "renders/"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = tx.Commit()
	fmt.Println("jobs:", res.Inserted)

	for {
		rec, err := store.GetDelivery(ctx, "ws1", "render_1")
		if err == nil && rec.Done() {
			st := rec.RenderStatus()
			fmt.Println(st.Status, st.Outputs[0].OutputKey, st.Outputs[0].Status)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Output:
	// jobs: 2
	// completed renders/render.mp4 completed
}
