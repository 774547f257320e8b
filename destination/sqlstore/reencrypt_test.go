package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// TestReencryptSweep rotates the keyring and runs crypto.Reencrypt over the store while another
// writer renames integrations: every secret ends under the new primary key with its plaintext
// intact, no rename is lost, and a second sweep rewrites nothing.
func TestReencryptSweep(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, _ *sql.DB, _ sqlstore.Dialect) {
		ctx := context.Background()
		kr, err := crypto.NewInsecureDevelopmentKeyring()
		if err != nil {
			t.Fatal(err)
		}
		oldKey := kr.PrimaryKeyID()
		const n = 30
		plain := map[string]string{}
		var all []*destination.Integration
		for i := range n {
			in := &destination.Integration{
				ID: fmt.Sprintf("018f%04d-0000-7000-8000-000000000000", i), WorkspaceID: fmt.Sprintf("ws%d", i%3),
				Provider: destination.S3, Name: "n", IsActive: true, CreatedAt: t0, UpdatedAt: t0,
				Config: destination.Config{Bucket: "b", AccessKeyID: "AKIA", Region: "us-east-1"},
			}
			secret := fmt.Sprintf("secret-value-%04d-abcdefgh", i)
			sealed, err := kr.SealSecret(ctx, in, destination.SecretAccessKey, secret)
			if err != nil {
				t.Fatal(err)
			}
			in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
			if in, err = s.Create(ctx, in); err != nil {
				t.Fatal(err)
			}
			plain[in.ID] = secret
			all = append(all, in)
		}
		newKey, err := kr.AddKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := kr.Promote(newKey); err != nil {
			t.Fatal(err)
		}

		// A concurrent writer renames every integration during the sweep.
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, in := range all {
				for {
					cur, err := s.Get(ctx, in.WorkspaceID, in.ID)
					if err != nil {
						t.Error(err)
						return
					}
					cur.Name = "renamed"
					if _, err = s.Update(ctx, cur); err == nil {
						break
					} else if !errors.Is(err, destination.ErrConflict) {
						t.Error(err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
		stats, err := crypto.Reencrypt(ctx, s, kr, crypto.ReencryptOptions{PageSize: 7})
		wg.Wait()
		if err != nil || len(stats.Failures) > 0 {
			t.Fatalf("Reencrypt: %v, failures %v", err, stats.Failures)
		}
		if stats.Scanned != n || stats.Rewritten != n {
			t.Fatalf("stats %+v, want %d scanned and rewritten", stats, n)
		}
		page, err := s.Scan(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page {
			sec := in.Secrets[destination.SecretAccessKey]
			if sec.KeyID != newKey || sec.KeyID == oldKey {
				t.Fatalf("%s still sealed by key %d, want %d", in.ID, sec.KeyID, newKey)
			}
			if in.Name != "renamed" {
				t.Fatalf("%s lost its concurrent rename", in.ID)
			}
			got, err := kr.OpenSecret(in, destination.SecretAccessKey)
			if err != nil || got != plain[in.ID] {
				t.Fatalf("%s: secret does not open to its plaintext after the sweep: %v", in.ID, err)
			}
		}
		again, err := crypto.Reencrypt(ctx, s, kr, crypto.ReencryptOptions{})
		if err != nil || again.Rewritten != 0 || again.Scanned != n {
			t.Fatalf("second sweep: %+v, %v; want nothing rewritten", again, err)
		}
	})
}

// TestReencryptSweepPastCorruptRow: a row whose secrets column cannot be decoded is reported as a
// failure, and the sweep still rotates every row after it.
func TestReencryptSweepPastCorruptRow(t *testing.T) {
	s, db := newSQLiteForSweep(t)
	ctx := context.Background()
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		in := &destination.Integration{ID: fmt.Sprintf("018f%04d-0000-7000-8000-000000000000", i), WorkspaceID: "ws",
			Provider: destination.S3, Name: "n", IsActive: true, CreatedAt: t0, UpdatedAt: t0,
			Config: destination.Config{Bucket: "b", AccessKeyID: "AKIA", Region: "us-east-1"}}
		sealed, err := kr.SealSecret(ctx, in, destination.SecretAccessKey, "secret-value-abcdefgh")
		if err != nil {
			t.Fatal(err)
		}
		in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
		if _, err := s.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	bad := "018f0002-0000-7000-8000-000000000000"
	if _, err := db.Exec("UPDATE workspace_integrations SET secrets = ? WHERE id = ?", "{not json", bad); err != nil {
		t.Fatal(err)
	}
	newKey, _ := kr.AddKey()
	if err := kr.Promote(newKey); err != nil {
		t.Fatal(err)
	}
	stats, err := crypto.Reencrypt(ctx, s, kr, crypto.ReencryptOptions{PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats.Failures) != 1 || stats.Failures[0].IntegrationID != bad || stats.Rewritten != 9 {
		t.Fatalf("stats %+v", stats)
	}
}

func newSQLiteForSweep(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.TempDir() + "/sweep.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := sqlstore.New(db, sqlstore.SQLite, nil)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, db
}
