package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

// FuzzStoredRow plants arbitrary text in a row's JSON and timestamp columns (as a damaged
// database or a hand edit would) and checks that reading never panics: Get either decodes the row
// or returns a *CorruptError for it, and List still returns the healthy row beside it.
func FuzzStoredRow(f *testing.F) {
	f.Add(`{"bucket":"b"}`, `{}`, `["w"]`, "2026-01-02T03:04:05.000006Z")
	f.Add(`{"bucket":5}`, `{"secretAccessKey":{"ciphertext":"AQID","keyId":7,"hint":"••••"}}`, `null`, "2026-01-02T03:04:05Z")
	f.Add(`null`, `{"x":{"ciphertext":"@@"}}`, `{"a":1}`, "")
	f.Add(`[]`, `[]`, `"w"`, "9999-12-31T23:59:59.999999Z")
	f.Add(`{"pathPrefix":"\u0000"}`, `{"k":{"ciphertext":null}}`, `[1]`, "not a time")
	db, d := openSQLite(f)
	s := sqlstore.New(db, d, nil)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	healthy, err := s.Create(ctx, storetest.Fixture("ws", "healthy", t0))
	if err != nil {
		f.Fatal(err)
	}
	victim, err := s.Create(ctx, storetest.Fixture("ws", "victim", t0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, config, secrets, warnings, created string) {
		if _, err := db.Exec("UPDATE workspace_integrations SET config = ?, secrets = ?, last_test_warnings = ?, created_at = ? WHERE id = ?",
			config, secrets, warnings, created, victim.ID); err != nil {
			t.Skip(err)
		}
		in, err := s.Get(ctx, "ws", victim.ID)
		var ce *sqlstore.CorruptError
		switch {
		case err == nil:
			if in.ID != victim.ID {
				t.Fatalf("Get returned %s", in.ID)
			}
		case errors.As(err, &ce):
			if len(ce.Rows) != 1 || ce.Rows[0].ID != victim.ID {
				t.Fatalf("CorruptError rows %+v", ce.Rows)
			}
		default:
			t.Fatalf("Get: %v, want success or a *CorruptError", err)
		}
		l, err := s.List(ctx, "ws")
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("List: %v", err)
		}
		found := false
		for _, in := range l {
			found = found || in.ID == healthy.ID
		}
		if !found {
			t.Fatalf("List lost the healthy row: %v", err)
		}
		// Update repairs whatever the row held.
		fix := storetest.Fixture("ws", "victim", t0)
		fix.ID = victim.ID
		var cur int64
		if err := db.QueryRow("SELECT version FROM workspace_integrations WHERE id = ?", victim.ID).Scan(&cur); err != nil {
			t.Fatal(err)
		}
		fix.Version = cur
		if _, err := s.Update(ctx, fix); err != nil && !errors.Is(err, sqlstore.ErrCorrupt) {
			t.Fatalf("Update of a damaged row: %v", err)
		}
	})
}
