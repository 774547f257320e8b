package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

// TestMigrateDeliveryTransfer: a database at migration 0003 (deliveries without a transfer
// column) migrates forward with its records intact, their transfer unknown (""), and then keeps
// the transfer of the copies completed after.
func TestMigrateDeliveryTransfer(t *testing.T) {
	for _, d := range []int{0, 2} { // SQLite, PostgreSQL
		d := dialects[d]
		t.Run(d.name, func(t *testing.T) {
			d.need(t)
			ctx := context.Background()
			db, dialect := d.open(t)
			s := sqlstore.New(db, dialect, nil)
			if err := s.MigrateTo(ctx, 3); err != nil {
				t.Fatalf("MigrateTo(3): %v", err)
			}
			// A completed delivery as the 0003 schema stored it.
			at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
			ts := func(n int) string { return at(n).Format("2006-01-02T15:04:05.000000Z") }
			rawExec(t, db, dialect, "INSERT INTO deliveries (workspace_id, render_id, status, object_key, url, size_bytes, "+
				"checksum, attempts, error_code, error_message, created_at, started_at, finished_at, updated_at) "+
				"VALUES ('ws', 'r_old', 'completed', 'cdn/r.mp4', 'https://cdn/r.mp4', 42, 'crc32c:AQIDBA==', 1, '', '', ?, ?, ?, ?)",
				ts(0), ts(1), ts(2), ts(2))
			rawExec(t, db, dialect, "INSERT INTO delivery_outputs (workspace_id, render_id, integration_id, position, provider, "+
				"status, object_key, url, size_bytes, checksum, attempts, error_code, error_message, created_at, started_at, "+
				"finished_at, updated_at) VALUES ('ws', 'r_old', 'int_1', 0, 's3', 'completed', 'p/r.mp4', 'https://b/p/r.mp4', "+
				"42, 'crc32c:AQIDBA==', 1, '', '', ?, ?, ?, ?)", ts(0), ts(3), ts(4), ts(4))

			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from 0003: %v", err)
			}
			want := &destination.DeliveryRecord{WorkspaceID: "ws", RenderID: "r_old", CreatedAt: at(0),
				Progress: destination.Progress{Status: destination.StatusCompleted, Key: "cdn/r.mp4", URL: "https://cdn/r.mp4",
					SizeBytes: 42, Checksum: "crc32c:AQIDBA==", Attempts: 1, StartedAt: at(1), FinishedAt: at(2), UpdatedAt: at(2)},
				Outputs: []destination.OutputRecord{{IntegrationID: "int_1", Provider: destination.S3, CreatedAt: at(0),
					Progress: destination.Progress{Status: destination.StatusCompleted, Key: "p/r.mp4", URL: "https://b/p/r.mp4",
						SizeBytes: 42, Checksum: "crc32c:AQIDBA==", Attempts: 1, StartedAt: at(3), FinishedAt: at(4), UpdatedAt: at(4)}}}}
			got, err := s.GetDelivery(ctx, "ws", "r_old")
			if err != nil {
				t.Fatalf("GetDelivery of a record from 0003: %v", err)
			}
			if diff := storetest.EqualDelivery(want, got); diff != "" {
				t.Fatalf("record from 0003 after Migrate:\n%s", diff)
			}

			rec := storetest.DeliveryFixture("ws", 1)
			if err := s.AddDelivery(ctx, rec); err != nil {
				t.Fatal(err)
			}
			done := destination.Transition{Status: destination.StatusCompleted, At: at(5), Key: "p/n.mp4", SizeBytes: 7}
			cdn, out := done, done
			cdn.Transfer, out.Transfer = destination.TransferStream, destination.TransferCopy
			if err := s.TransitionRender(ctx, "ws", rec.RenderID, cdn); err != nil {
				t.Fatal(err)
			}
			if err := s.TransitionOutput(ctx, "ws", rec.RenderID, rec.Outputs[0].IntegrationID, out); err != nil {
				t.Fatal(err)
			}
			got, err = s.GetDelivery(ctx, "ws", rec.RenderID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Transfer != destination.TransferStream || got.Outputs[0].Transfer != destination.TransferCopy {
				t.Fatalf("transfer after Migrate: CDN %q, output %q; want stream, copy", got.Transfer, got.Outputs[0].Transfer)
			}
		})
	}
}
