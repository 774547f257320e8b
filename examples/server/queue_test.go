package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/pgtest"
)

// TestQueueSQLite is the S3 journey (render with a good and a failing destination, status,
// redelivery after fixing the secret) with renders delivered through River on SQLite: the
// store's own file (-store sqlite:PATH -queue sqlite, the embedded default).
func TestQueueSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outputs.db")
	ts, rid := s3Journey(t, config{AllowLocal: true, Store: "sqlite:" + path, Queue: "sqlite"})
	checkRecord(t, ts, rid)
}

// TestQueuePostgres is the same journey through River on PostgreSQL (a schema of its own).
func TestQueuePostgres(t *testing.T) {
	dsn := pgtest.Schema(t, "server_queue")
	ts, rid := s3Journey(t, config{AllowLocal: true, Queue: "postgres:" + dsn})
	checkRecord(t, ts, rid)
}

// checkRecord reads the durable record of rid back, field by field: the render status served
// came from it (queued deliverer), and it kept the attempts of the redelivered output.
func checkRecord(t *testing.T, ts *testServer, rid string) {
	t.Helper()
	q, ok := ts.s.deliver.(*queued)
	if !ok {
		t.Fatalf("deliverer is %T, want the queue", ts.s.deliver)
	}
	rec, err := q.records.GetDelivery(context.Background(), "ws1", rid)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(ts.s.sample))
	if rec.Status != destination.StatusCompleted || rec.Key != cdnKeyPrefix+rid+"/"+renderFileName || rec.SizeBytes != size ||
		rec.URL != ts.URL+"/cdn/renders/"+rid+"/render.mp4" || rec.Attempts != 1 || rec.Checksum == "" {
		t.Errorf("CDN record: %+v", rec.Progress)
	}
	if len(rec.Outputs) != 2 {
		t.Fatalf("outputs: %+v", rec.Outputs)
	}
	o0, o1 := rec.Outputs[0], rec.Outputs[1]
	if o0.Status != destination.StatusCompleted || o0.Key != "renders/campaigns/summer-2026/render.mp4" || o0.SizeBytes != size ||
		o0.Attempts != 1 || o0.Checksum != rec.Checksum || o0.ErrorCode != "" || o0.FinishedAt.IsZero() {
		t.Errorf("output 0 record: %+v", o0)
	}
	if o1.Status != destination.StatusCompleted || o1.Key != "renders/render.mp4" || o1.Attempts != 2 || o1.ErrorCode != "" ||
		o1.Checksum != rec.Checksum || !o1.StartedAt.After(o0.StartedAt) {
		t.Errorf("output 1 record (failed, then redelivered): %+v", o1)
	}
	st := ts.do(req{method: "GET", path: "/v1/renders/" + rid, token: "dev-ws1"}, 200, "").JSON()
	checkFields(t, "status", st, map[string]any{"id": rid, "status": "completed", "url": rec.URL})
	for i, o := range st["outputs"].([]any) {
		r := rec.Outputs[i]
		checkFields(t, fmt.Sprintf("output %d", i), o.(map[string]any), map[string]any{"integrationId": r.IntegrationID,
			"provider": string(r.Provider), "outputKey": r.Key, "outputSizeBytes": float64(r.SizeBytes), "status": "completed"})
	}
}
