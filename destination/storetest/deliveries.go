package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// RunDeliveries runs the conformance suite of destination.DeliveryStore: round trip of every
// field, AddDelivery's idempotence and its adding of new outputs, the Transition rules (attempts,
// timestamps, errors cleared, completed kept with its transfer), workspace isolation, validation, copy semantics,
// concurrent transitions of one render's outputs (no lost update), cancelled contexts, and
// retention (destination.DeliveryPruner, when the store implements it).
// newStore is called once per subtest and must return an empty store.
func RunDeliveries(t *testing.T, newStore func(t *testing.T) destination.DeliveryStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, destination.DeliveryStore)
	}{
		{"RoundTrip", testDeliveryRoundTrip},
		{"AddIdempotent", testDeliveryAddIdempotent},
		{"Transitions", testDeliveryTransitions},
		{"WorkspaceIsolation", testDeliveryIsolation},
		{"Invalid", testDeliveryInvalid},
		{"CopySemantics", testDeliveryCopies},
		{"ConcurrentOutputs", testDeliveryConcurrent},
		{"CanceledContext", testDeliveryCanceled},
		{"Prune", testDeliveryPrune},
		{"Abandoned", testDeliveryAbandoned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// DeliveryFixture returns a pending delivery record of workspace ws with n outputs (S3, GCS,
// Azure, ... in turn), queued at base. It is exported for stores' and queues' own tests.
func DeliveryFixture(ws string, n int) *destination.DeliveryRecord {
	providers := []destination.Provider{destination.S3, destination.GCS, destination.Azure, destination.R2}
	rec := &destination.DeliveryRecord{WorkspaceID: ws, RenderID: "render_" + newID(), CreatedAt: base,
		Progress: destination.Progress{Status: destination.StatusPending, UpdatedAt: base}}
	for i := range n {
		rec.Outputs = append(rec.Outputs, destination.OutputRecord{IntegrationID: newID(),
			Provider: providers[i%len(providers)], CreatedAt: base,
			Progress: destination.Progress{Status: destination.StatusPending, UpdatedAt: base}})
	}
	return rec
}

// EqualDelivery reports how got differs from want, or "" when they are the same record under
// the suite's rules (times compared with Equal).
func EqualDelivery(want, got *destination.DeliveryRecord) string {
	if (want == nil) != (got == nil) {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	if want == nil {
		return ""
	}
	w, g := utcRecord(want), utcRecord(got)
	if !reflect.DeepEqual(w, g) {
		return fmt.Sprintf("got  %+v\nwant %+v", g, w)
	}
	return ""
}

func utcRecord(r *destination.DeliveryRecord) *destination.DeliveryRecord {
	c := r.Clone()
	c.CreatedAt = c.CreatedAt.UTC()
	utcProgress(&c.Progress)
	if len(c.Outputs) == 0 {
		c.Outputs = nil
	}
	for i := range c.Outputs {
		c.Outputs[i].CreatedAt = c.Outputs[i].CreatedAt.UTC()
		utcProgress(&c.Outputs[i].Progress)
	}
	return c
}

func utcProgress(p *destination.Progress) {
	for _, t := range []*time.Time{&p.StartedAt, &p.FinishedAt, &p.UpdatedAt} {
		if t.IsZero() {
			*t = time.Time{}
		} else {
			*t = t.UTC()
		}
	}
}

func addDelivery(t *testing.T, s destination.DeliveryStore, rec *destination.DeliveryRecord) {
	t.Helper()
	if err := s.AddDelivery(context.Background(), rec); err != nil {
		t.Fatalf("AddDelivery(%s): %v", rec.RenderID, err)
	}
}

func getDelivery(t *testing.T, s destination.DeliveryStore, ws, render string) *destination.DeliveryRecord {
	t.Helper()
	rec, err := s.GetDelivery(context.Background(), ws, render)
	if err != nil {
		t.Fatalf("GetDelivery(%s): %v", render, err)
	}
	return rec
}

func mustEqualDelivery(t *testing.T, what string, want, got *destination.DeliveryRecord) {
	t.Helper()
	if d := EqualDelivery(want, got); d != "" {
		t.Fatalf("%s differs:\n%s", what, d)
	}
}

func testDeliveryRoundTrip(t *testing.T, s destination.DeliveryStore) {
	rec := DeliveryFixture(newWorkspace(), 2)
	// Every field set, with strings a SQL store must pass as parameters.
	rec.Progress = destination.Progress{Status: destination.StatusCompleted, Key: `renders/it's "quoted"/é.mp4`,
		URL: "https://cdn.example.com/a?sig=x&y=1", SizeBytes: 1 << 40, Checksum: "crc32c:AAAAAA==",
		Transfer: destination.TransferStream, Attempts: 3,
		StartedAt: base.Add(time.Second), FinishedAt: base.Add(2 * time.Second), UpdatedAt: base.Add(2 * time.Second)}
	rec.Outputs[0].Progress = destination.Progress{Status: destination.StatusCompleted, Key: "p/a.mp4",
		URL: "https://b.example.com/p/a.mp4", SizeBytes: 1 << 40, Checksum: "crc32c:AAAAAA==",
		Transfer: destination.TransferCopy, Attempts: 1,
		StartedAt: base.Add(time.Second), FinishedAt: base.Add(3 * time.Second), UpdatedAt: base.Add(3 * time.Second)}
	rec.Outputs[1].Progress = destination.Progress{Status: destination.StatusFailed, Attempts: 2,
		ErrorCode: "permission_denied", Error: `the key lacks s3:PutObject; DROP TABLE x; --`,
		StartedAt: base.Add(3 * time.Second), FinishedAt: base.Add(4 * time.Second), UpdatedAt: base.Add(4 * time.Second)}
	addDelivery(t, s, rec)
	mustEqualDelivery(t, "stored record", rec, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))

	st := getDelivery(t, s, rec.WorkspaceID, rec.RenderID).RenderStatus()
	if st.ID != rec.RenderID || st.Status != destination.StatusCompleted || st.URL != rec.URL || len(st.Outputs) != 2 {
		t.Fatalf("RenderStatus = %+v", st)
	}
	if o := st.Outputs[0]; o.Status != destination.StatusCompleted || o.Transfer != destination.TransferCopy || o.Checksum != "crc32c:AAAAAA==" ||
		o.OutputKey != "p/a.mp4" || o.OutputSizeBytes != 1<<40 {
		t.Fatalf("completed output in RenderStatus = %+v", o)
	}
	if o := st.Outputs[1]; o.Status != destination.StatusFailed || o.ErrorCode != "permission_denied" ||
		o.Provider != rec.Outputs[1].Provider || o.Transfer != "" {
		t.Fatalf("failed output in RenderStatus = %+v", o)
	}
}

func testDeliveryAddIdempotent(t *testing.T, s destination.DeliveryStore) {
	rec := DeliveryFixture(newWorkspace(), 2)
	addDelivery(t, s, rec)
	ctx := context.Background()
	if err := s.TransitionOutput(ctx, rec.WorkspaceID, rec.RenderID, rec.Outputs[0].IntegrationID,
		destination.Transition{Status: destination.StatusUploading, At: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	want := getDelivery(t, s, rec.WorkspaceID, rec.RenderID)
	addDelivery(t, s, rec) // the same again: nothing changes
	mustEqualDelivery(t, "after a second AddDelivery", want, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))

	// A later integration: only the new output is added, after the others.
	more := DeliveryFixture(rec.WorkspaceID, 1)
	more.RenderID = rec.RenderID
	more.Status = destination.StatusFailed // ignored: the record exists
	more.Outputs = append([]destination.OutputRecord{rec.Outputs[0]}, more.Outputs...)
	addDelivery(t, s, more)
	want.Outputs = append(want.Outputs, more.Outputs[1])
	mustEqualDelivery(t, "after adding an integration", want, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))
}

func testDeliveryTransitions(t *testing.T, s destination.DeliveryStore) {
	ctx := context.Background()
	rec := DeliveryFixture(newWorkspace(), 1)
	rec.Status, rec.Outputs[0].Status = "", "" // empty means pending
	addDelivery(t, s, rec)
	ws, render, id := rec.WorkspaceID, rec.RenderID, rec.Outputs[0].IntegrationID
	want := rec.Clone()
	want.Status, want.Outputs[0].Status = destination.StatusPending, destination.StatusPending
	mustEqualDelivery(t, "queued record", want, getDelivery(t, s, ws, render))

	step := func(what string, tr destination.Transition, p *destination.Progress, change func()) {
		t.Helper()
		var err error
		if p == &want.Progress {
			err = s.TransitionRender(ctx, ws, render, tr)
		} else {
			err = s.TransitionOutput(ctx, ws, render, id, tr)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		change()
		mustEqualDelivery(t, what, want, getDelivery(t, s, ws, render))
	}
	at := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
	r, o := &want.Progress, &want.Outputs[0].Progress

	step("CDN uploading", destination.Transition{Status: destination.StatusUploading, At: at(1)}, r, func() {
		r.Status, r.Attempts, r.StartedAt, r.UpdatedAt = destination.StatusUploading, 1, at(1), at(1)
	})
	step("CDN completed", destination.Transition{Status: destination.StatusCompleted, At: at(2), Key: "k/r.mp4",
		URL: "https://cdn/k/r.mp4", SizeBytes: 42, Checksum: "crc32c:AQIDBA==", Transfer: destination.TransferStream}, r, func() {
		r.Status, r.Key, r.URL, r.SizeBytes, r.Checksum = destination.StatusCompleted, "k/r.mp4", "https://cdn/k/r.mp4", 42, "crc32c:AQIDBA=="
		r.Transfer, r.FinishedAt, r.UpdatedAt = destination.TransferStream, at(2), at(2)
	})
	step("CDN failed after completed (ignored)", destination.Transition{Status: destination.StatusFailed, At: at(3),
		ErrorCode: "unknown", Error: "late"}, r, func() {})
	step("CDN completed again (ignored)", destination.Transition{Status: destination.StatusCompleted, At: at(3),
		Key: "k/other.mp4", SizeBytes: 1, Transfer: destination.TransferCopy}, r, func() {})

	step("output uploading", destination.Transition{Status: destination.StatusUploading, At: at(4), Key: "p/r.mp4"}, o, func() {
		o.Status, o.Key, o.Attempts, o.StartedAt, o.UpdatedAt = destination.StatusUploading, "p/r.mp4", 1, at(4), at(4)
	})
	step("output failed", destination.Transition{Status: destination.StatusFailed, At: at(5),
		ErrorCode: "invalid_credentials", Error: "the access key was rejected"}, o, func() {
		o.Status, o.ErrorCode, o.Error, o.FinishedAt, o.UpdatedAt = destination.StatusFailed, "invalid_credentials", "the access key was rejected", at(5), at(5)
	})
	step("output queued again", destination.Transition{Status: destination.StatusPending, At: at(6)}, o, func() {
		o.Status, o.ErrorCode, o.Error, o.UpdatedAt = destination.StatusPending, "", "", at(6)
	})
	step("output second attempt", destination.Transition{Status: destination.StatusUploading, At: at(7)}, o, func() {
		o.Status, o.Attempts, o.StartedAt, o.UpdatedAt = destination.StatusUploading, 2, at(7), at(7)
	})
	step("output completed", destination.Transition{Status: destination.StatusCompleted, At: at(8), Key: "p/r.mp4",
		URL: "https://b/p/r.mp4", SizeBytes: 42, Checksum: "crc32c:AQIDBA==", Transfer: destination.TransferCopy}, o, func() {
		o.Status, o.Key, o.URL, o.SizeBytes, o.Checksum = destination.StatusCompleted, "p/r.mp4", "https://b/p/r.mp4", 42, "crc32c:AQIDBA=="
		o.Transfer, o.FinishedAt, o.UpdatedAt = destination.TransferCopy, at(8), at(8)
	})
	step("output uploading after completed (ignored)", destination.Transition{Status: destination.StatusUploading, At: at(9)}, o, func() {})
	step("output completed again (ignored)", destination.Transition{Status: destination.StatusCompleted, At: at(9),
		Key: "p/r.mp4", URL: "https://b/p/r.mp4", SizeBytes: 42, Transfer: destination.TransferStream}, o, func() {})
	if got := getDelivery(t, s, ws, render).RenderStatus().Outputs[0].Transfer; got != destination.TransferCopy {
		t.Fatalf("RenderStatus output transfer = %q, want %q", got, destination.TransferCopy)
	}
	if !getDelivery(t, s, ws, render).Done() {
		t.Fatal("Done() = false with everything completed")
	}

	wantErr(t, "TransitionOutput of an unknown integration", s.TransitionOutput(ctx, ws, render, newID(),
		destination.Transition{Status: destination.StatusUploading, At: at(10)}), destination.ErrNotFound)
	wantErr(t, "TransitionRender of an unknown render", s.TransitionRender(ctx, ws, "render_missing",
		destination.Transition{Status: destination.StatusUploading, At: at(10)}), destination.ErrNotFound)
	_, err := s.GetDelivery(ctx, ws, "render_missing")
	wantErr(t, "GetDelivery of an unknown render", err, destination.ErrNotFound)
}

func testDeliveryIsolation(t *testing.T, s destination.DeliveryStore) {
	ctx := context.Background()
	rec := DeliveryFixture(newWorkspace(), 1)
	addDelivery(t, s, rec)
	other := newWorkspace()
	_, err := s.GetDelivery(ctx, other, rec.RenderID)
	wantErr(t, "GetDelivery from another workspace", err, destination.ErrNotFound)
	up := destination.Transition{Status: destination.StatusUploading, At: base}
	wantErr(t, "TransitionRender from another workspace", s.TransitionRender(ctx, other, rec.RenderID, up), destination.ErrNotFound)
	wantErr(t, "TransitionOutput from another workspace",
		s.TransitionOutput(ctx, other, rec.RenderID, rec.Outputs[0].IntegrationID, up), destination.ErrNotFound)

	// The same render ID in another workspace is another record.
	mine := DeliveryFixture(other, 2)
	mine.RenderID = rec.RenderID
	addDelivery(t, s, mine)
	mustEqualDelivery(t, "first workspace's record", rec, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))
	mustEqualDelivery(t, "second workspace's record", mine, getDelivery(t, s, other, rec.RenderID))
}

func testDeliveryInvalid(t *testing.T, s destination.DeliveryStore) {
	ctx := context.Background()
	wantErr(t, "AddDelivery(nil)", s.AddDelivery(ctx, nil), destination.ErrInvalid)
	for name, change := range map[string]func(*destination.DeliveryRecord){
		"no workspace":       func(r *destination.DeliveryRecord) { r.WorkspaceID = "" },
		"no render":          func(r *destination.DeliveryRecord) { r.RenderID = "" },
		"NUL in render":      func(r *destination.DeliveryRecord) { r.RenderID = "a\x00b" },
		"bad UTF-8 error":    func(r *destination.DeliveryRecord) { r.Outputs[0].Error = "\xff" },
		"NUL in transfer":    func(r *destination.DeliveryRecord) { r.Outputs[1].Transfer = "copy\x00" },
		"unknown status":     func(r *destination.DeliveryRecord) { r.Status = "done" },
		"no integration":     func(r *destination.DeliveryRecord) { r.Outputs[0].IntegrationID = "" },
		"duplicate output":   func(r *destination.DeliveryRecord) { r.Outputs[1].IntegrationID = r.Outputs[0].IntegrationID },
		"year out of range":  func(r *destination.DeliveryRecord) { r.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"output status junk": func(r *destination.DeliveryRecord) { r.Outputs[1].Status = "'; DROP" },
	} {
		rec := DeliveryFixture(newWorkspace(), 2)
		change(rec)
		wantErr(t, "AddDelivery with "+name, s.AddDelivery(ctx, rec), destination.ErrInvalid)
		if _, err := s.GetDelivery(ctx, rec.WorkspaceID, rec.RenderID); err == nil {
			t.Fatalf("AddDelivery with %s stored a record", name)
		}
	}
	rec := DeliveryFixture(newWorkspace(), 1)
	addDelivery(t, s, rec)
	for name, tr := range map[string]destination.Transition{
		"no status":      {At: base},
		"unknown status": {Status: "done", At: base},
		"NUL in error":   {Status: destination.StatusFailed, At: base, Error: "a\x00"},
		"bad transfer":   {Status: destination.StatusCompleted, At: base, Transfer: "\xff"},
	} {
		wantErr(t, "TransitionOutput with "+name,
			s.TransitionOutput(ctx, rec.WorkspaceID, rec.RenderID, rec.Outputs[0].IntegrationID, tr), destination.ErrInvalid)
	}
	wantErr(t, "TransitionRender without workspace", s.TransitionRender(ctx, "", rec.RenderID,
		destination.Transition{Status: destination.StatusUploading, At: base}), destination.ErrInvalid)
	mustEqualDelivery(t, "after invalid transitions", rec, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))
}

func testDeliveryCopies(t *testing.T, s destination.DeliveryStore) {
	rec := DeliveryFixture(newWorkspace(), 2)
	want := rec.Clone()
	addDelivery(t, s, rec)
	rec.Outputs[0].Key = "mutated after add"
	rec.Outputs = rec.Outputs[:1]
	got := getDelivery(t, s, want.WorkspaceID, want.RenderID)
	got.Outputs[1].Status = destination.StatusFailed
	got.Outputs = nil
	mustEqualDelivery(t, "after mutating values passed and returned", want, getDelivery(t, s, want.WorkspaceID, want.RenderID))
}

func testDeliveryConcurrent(t *testing.T, s destination.DeliveryStore) {
	const n = 12
	rec := DeliveryFixture(newWorkspace(), n)
	addDelivery(t, s, rec)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n+2)
	for _, o := range rec.Outputs {
		wg.Go(func() {
			for _, st := range []destination.OutputStatus{destination.StatusUploading, destination.StatusCompleted} {
				if err := s.TransitionOutput(ctx, rec.WorkspaceID, rec.RenderID, o.IntegrationID,
					destination.Transition{Status: st, At: base.Add(time.Second), Key: o.IntegrationID}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		if err := s.TransitionRender(ctx, rec.WorkspaceID, rec.RenderID,
			destination.Transition{Status: destination.StatusUploading, At: base.Add(time.Second)}); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent transition: %v", err)
	}
	got := getDelivery(t, s, rec.WorkspaceID, rec.RenderID)
	if got.Status != destination.StatusUploading || got.Attempts != 1 {
		t.Fatalf("CDN copy = %s, %d attempts; want uploading, 1", got.Status, got.Attempts)
	}
	for _, o := range got.Outputs {
		if o.Status != destination.StatusCompleted || o.Attempts != 1 || o.Key != o.IntegrationID {
			t.Fatalf("output %s = %s, %d attempts, key %q: a concurrent transition was lost", o.IntegrationID, o.Status, o.Attempts, o.Key)
		}
	}
}

func testDeliveryCanceled(t *testing.T, s destination.DeliveryStore) {
	rec := DeliveryFixture(newWorkspace(), 1)
	addDelivery(t, s, rec)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantErr(t, "AddDelivery with a canceled context", s.AddDelivery(ctx, DeliveryFixture(rec.WorkspaceID, 1)), context.Canceled)
	_, err := s.GetDelivery(ctx, rec.WorkspaceID, rec.RenderID)
	wantErr(t, "GetDelivery with a canceled context", err, context.Canceled)
	up := destination.Transition{Status: destination.StatusUploading, At: base}
	wantErr(t, "TransitionRender with a canceled context", s.TransitionRender(ctx, rec.WorkspaceID, rec.RenderID, up), context.Canceled)
	wantErr(t, "TransitionOutput with a canceled context",
		s.TransitionOutput(ctx, rec.WorkspaceID, rec.RenderID, rec.Outputs[0].IntegrationID, up), context.Canceled)
	mustEqualDelivery(t, "after canceled calls", rec, getDelivery(t, s, rec.WorkspaceID, rec.RenderID))
}

// testDeliveryPrune: finished records last changed before the cutoff are deleted in every
// workspace; a record in flight stays whatever its age, and so does one changed after the
// cutoff.
func testDeliveryPrune(t *testing.T, s destination.DeliveryStore) {
	p, ok := s.(destination.DeliveryPruner)
	if !ok {
		t.Skip("the store does not implement destination.DeliveryPruner")
	}
	ctx := context.Background()
	finish := func(rec *destination.DeliveryRecord, at time.Time, last destination.OutputStatus) {
		t.Helper()
		done := destination.Transition{Status: destination.StatusCompleted, At: at, Key: "k", URL: "u", SizeBytes: 1}
		if err := s.TransitionRender(ctx, rec.WorkspaceID, rec.RenderID, done); err != nil {
			t.Fatal(err)
		}
		for i, o := range rec.Outputs {
			tr := done
			if i == len(rec.Outputs)-1 {
				tr = destination.Transition{Status: last, At: at, ErrorCode: "unknown", Error: "failed"}
			}
			if err := s.TransitionOutput(ctx, rec.WorkspaceID, rec.RenderID, o.IntegrationID, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	ws, other := newWorkspace(), newWorkspace()
	old, otherOld, inFlight, recent := DeliveryFixture(ws, 2), DeliveryFixture(other, 1), DeliveryFixture(ws, 2), DeliveryFixture(ws, 2)
	for _, r := range []*destination.DeliveryRecord{old, otherOld, inFlight, recent} {
		addDelivery(t, s, r)
	}
	finish(old, base.Add(time.Hour), destination.StatusFailed)
	finish(otherOld, base.Add(time.Hour), destination.StatusCompleted)
	finish(inFlight, base.Add(time.Hour), destination.StatusUploading) // its last output still uploading
	finish(recent, base.Add(time.Hour), destination.StatusFailed)
	// recent's failed output changes after the cutoff (queued again by a redelivery).
	if err := s.TransitionOutput(ctx, ws, recent.RenderID, recent.Outputs[1].IntegrationID,
		destination.Transition{Status: destination.StatusFailed, At: base.Add(3 * time.Hour), ErrorCode: "unknown", Error: "failed again"}); err != nil {
		t.Fatal(err)
	}
	n, err := p.PruneDeliveries(ctx, base.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveries = %d, %v; want 2 (the finished records of both workspaces)", n, err)
	}
	for _, r := range []*destination.DeliveryRecord{old, otherOld} {
		_, err := s.GetDelivery(ctx, r.WorkspaceID, r.RenderID)
		wantErr(t, "GetDelivery of a pruned record", err, destination.ErrNotFound)
	}
	for _, r := range []*destination.DeliveryRecord{inFlight, recent} {
		if _, err := s.GetDelivery(ctx, r.WorkspaceID, r.RenderID); err != nil {
			t.Errorf("a record that must stay was pruned: %v", err)
		}
	}
	if n, err := p.PruneDeliveries(ctx, base.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("second PruneDeliveries = %d, %v; want 0", n, err)
	}
	// Adding a pruned render again starts a fresh record (its outputs went with it).
	addDelivery(t, s, old)
	if got := getDelivery(t, s, ws, old.RenderID); len(got.Outputs) != 2 || got.Status != destination.StatusPending {
		t.Errorf("a pruned render added again: %+v", got)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.PruneDeliveries(ctx2, base)
	wantErr(t, "PruneDeliveries with a canceled context", err, context.Canceled)
}

// testDeliveryAbandoned: AbandonedOutputs lists, in every workspace and newest first, the
// outputs and CDN copies with a key last changed before the cutoff that are failed, in flight, or completed
// after more than one attempt; never one without a key, one completed at the first attempt,
// or one changed after the cutoff.
func testDeliveryAbandoned(t *testing.T, s destination.DeliveryStore) {
	l, ok := s.(destination.AbandonedLister)
	if !ok {
		t.Skip("the store does not implement destination.AbandonedLister")
	}
	ctx := context.Background()
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	ws, other := newWorkspace(), newWorkspace()
	rec, rec2 := DeliveryFixture(ws, 6), DeliveryFixture(other, 1)
	addDelivery(t, s, rec)
	addDelivery(t, s, rec2)
	apply := func(r *destination.DeliveryRecord, i int, ts ...destination.Transition) {
		t.Helper()
		for _, tr := range ts {
			if err := s.TransitionOutput(ctx, r.WorkspaceID, r.RenderID, r.Outputs[i].IntegrationID, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	up := func(h int, key string) destination.Transition {
		return destination.Transition{Status: destination.StatusUploading, At: at(h), Key: key}
	}
	fail := destination.Transition{Status: destination.StatusFailed, At: at(2), ErrorCode: "unknown", Error: "failed"}
	done := func(h int, key string) destination.Transition {
		return destination.Transition{Status: destination.StatusCompleted, At: at(h), Key: key, URL: "u", SizeBytes: 1}
	}
	apply(rec, 0, up(1, "a/failed.mp4"), fail)                                                                           // failed: listed
	apply(rec, 1, up(3, "a/inflight.mp4"))                                                                               // uploading (a dead worker): listed
	apply(rec, 2, up(1, "a/once.mp4"), done(2, "a/once.mp4"))                                                            // completed at once: not listed
	apply(rec, 3, up(1, "a/twice.mp4"), up(2, ""), done(4, "a/twice.mp4"))                                               // completed after 2 attempts: listed
	apply(rec, 4, up(1, "a/late.mp4"), up(9, ""))                                                                        // changed after the cutoff: not listed
	apply(rec, 5, destination.Transition{Status: destination.StatusFailed, At: at(1), ErrorCode: "invalid", Error: "x"}) // no key
	apply(rec2, 0, up(1, "b/other.mp4"))                                                                                 // another workspace: listed
	for _, c := range []struct {
		r  *destination.DeliveryRecord
		ts []destination.Transition
	}{
		{rec, []destination.Transition{up(1, "cdn/a.mp4"), done(2, "cdn/a.mp4")}}, // a CDN copy completed at once: not listed
		{rec2, []destination.Transition{up(0, "cdn/b.mp4")}},                      // a CDN copy in flight: listed
	} {
		for _, tr := range c.ts {
			if err := s.TransitionRender(ctx, c.r.WorkspaceID, c.r.RenderID, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := l.AbandonedOutputs(ctx, at(5), 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range got {
		keys = append(keys, o.Key)
		if o.Key == "a/failed.mp4" && (o.WorkspaceID != ws || o.RenderID != rec.RenderID || o.IntegrationID != rec.Outputs[0].IntegrationID ||
			o.Provider != rec.Outputs[0].Provider || o.Status != destination.StatusFailed || o.Attempts != 1 || !o.UpdatedAt.Equal(at(2))) {
			t.Errorf("the failed output = %+v", o)
		}
		if o.Key == "cdn/b.mp4" && (o.WorkspaceID != other || o.RenderID != rec2.RenderID || o.IntegrationID != "" || o.Provider != "" ||
			o.Status != destination.StatusUploading || o.Attempts != 1 || !o.UpdatedAt.Equal(at(0))) {
			t.Errorf("the CDN copy in flight = %+v", o)
		}
	}
	want := []string{"a/twice.mp4", "a/inflight.mp4", "a/failed.mp4", "b/other.mp4", "cdn/b.mp4"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("AbandonedOutputs = %v, want %v (newest first)", keys, want)
	}
	if got, err := l.AbandonedOutputs(ctx, at(5), 2); err != nil || len(got) != 2 || got[0].Key != "a/twice.mp4" {
		t.Errorf("AbandonedOutputs with limit 2 = %+v, %v; want the 2 newest", got, err)
	}
}
