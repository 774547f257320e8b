package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
	"github.com/ilovevideoeditor/outputs/internal/pgtest"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// dialects are the databases every test runs on.
var dialects = []struct {
	name string
	need func(t testing.TB) // skips (or fails under CI) when the server is missing
	open func(t testing.TB) (*sql.DB, sqlstore.Dialect)
}{
	{"SQLite", func(testing.TB) {}, openSQLite},
	// A database opened without OpenSQLite's settings (no WAL, no busy timeout): the store's own
	// BEGIN IMMEDIATE and retries must carry it.
	{"SQLiteBare", func(t testing.TB) { testenv.Short(t, "SQLite without WAL or busy timeout is slow under contention") }, openSQLiteBare},
	{"PostgreSQL", needPostgres, openPostgres},
}

func needPostgres(t testing.TB) { testenv.Need(t, "OUTPUTS_TEST_POSTGRES_DSN", "PostgreSQL") }

// openSQLite opens a new SQLite database file in a temporary directory.
func openSQLite(t testing.TB) (*sql.DB, sqlstore.Dialect) {
	db, err := sqlstore.OpenSQLite(filepath.Join(t.TempDir(), "outputs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, sqlstore.SQLite
}

// openSQLiteBare opens a new SQLite database file with the driver's defaults.
func openSQLiteBare(t testing.TB) (*sql.DB, sqlstore.Dialect) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, sqlstore.SQLite
}

var schemaSeq atomic.Int64

// openPostgres opens the test server's database in a new schema of its own, dropped at cleanup.
func openPostgres(t testing.TB) (*sql.DB, sqlstore.Dialect) {
	return openPostgresIn(t, testenv.Need(t, "OUTPUTS_TEST_POSTGRES_DSN", "PostgreSQL"))
}

// createICUDatabase creates a database whose default collation is ICU's en-US (where "a" < "B",
// unlike byte order), dropped at cleanup, and returns its DSN.
func createICUDatabase(t testing.TB) string {
	dsn := testenv.Need(t, "OUTPUTS_TEST_POSTGRES_DSN", "PostgreSQL")
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("outputs_icu_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name + " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"); err != nil {
		t.Skipf("cannot create a database with an ICU collation (PostgreSQL 15+ with ICU needed): %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestScanByteOrderICUCollation: on a PostgreSQL database whose collation orders strings unlike
// bytes, Scan still pages in byte order.
func TestScanByteOrderICUCollation(t *testing.T) {
	needPostgres(t)
	dsn := createICUDatabase(t)
	s, _ := newStore(t, func(t testing.TB) (*sql.DB, sqlstore.Dialect) { return openPostgresIn(t, dsn) })
	storetest.ScanByteOrder(t, s)
}

// openPostgresIn opens the database of dsn in a new schema of its own, dropped at cleanup.
func openPostgresIn(t testing.TB, dsn string) (*sql.DB, sqlstore.Dialect) {
	// Its connections carry the schema as their application name: see TestPostgresConnectionsKilled.
	db, err := sql.Open("pgx", pgtest.SchemaIn(t, dsn, "t"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(20)
	t.Cleanup(func() { db.Close() })
	return db, sqlstore.PostgreSQL
}

// newStore opens and migrates a store on a fresh database of the dialect.
func newStore(t testing.TB, open func(testing.TB) (*sql.DB, sqlstore.Dialect)) (*sqlstore.Store, *sql.DB) {
	db, d := open(t)
	s := sqlstore.New(db, d, nil)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, db
}

func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.need(t)
			t.Parallel() // the dialects use separate databases
			storetest.Run(t, func(t *testing.T) destination.Store {
				s, _ := newStore(t, d.open)
				return s
			})
		})
	}
}

func TestDeliveriesConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.need(t)
			t.Parallel()
			storetest.RunDeliveries(t, func(t *testing.T) destination.DeliveryStore {
				s, _ := newStore(t, d.open)
				return s
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			d.need(b)
			storetest.Benchmark(b, func(b *testing.B) destination.Store {
				s, _ := newStore(b, d.open)
				return s
			})
		})
	}
}

// BenchmarkRawGet is the baseline for BenchmarkStore/*/Get: the same primary-key SELECT through
// database/sql, scanned into untyped values, without decoding.
func BenchmarkRawGet(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			d.need(b)
			s, db := newStore(b, d.open)
			in, err := s.Create(context.Background(), storetest.Fixture("ws", "raw", time.Now()))
			if err != nil {
				b.Fatal(err)
			}
			q := "SELECT * FROM workspace_integrations WHERE workspace_id = ? AND id = ?"
			if d.name == "PostgreSQL" {
				q = "SELECT * FROM workspace_integrations WHERE workspace_id = $1 AND id = $2"
			}
			vals := make([]any, 17)
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := db.QueryRow(q, "ws", in.ID).Scan(ptrs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOpenSQLitePaths opens databases whose paths need escaping in a file: URI.
func TestOpenSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"with space.db", "q?mark.db", "hash#x.db", "pct%20.db"} {
		p := filepath.Join(dir, name)
		db, err := sqlstore.OpenSQLite(p)
		if err != nil {
			t.Fatal(name, err)
		}
		var mode string
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal mode %q, %v; want wal", name, mode, err)
		}
		if err := sqlstore.New(db, sqlstore.SQLite, nil).Migrate(context.Background()); err != nil {
			t.Errorf("%s: Migrate: %v", name, err)
		}
		db.Close()
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: database not at its path: %v", name, err)
		}
	}
}

func TestAddDeliveryTx(t *testing.T) {
	for _, d := range []int{0, 2} { // SQLite, PostgreSQL
		d := dialects[d]
		t.Run(d.name, func(t *testing.T) {
			d.need(t)
			s, db := newStore(t, d.open)
			ctx := context.Background()
			for _, commit := range []bool{false, true} {
				rec := storetest.DeliveryFixture("ws1", 2)
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.AddDeliveryTx(ctx, tx, rec); err != nil {
					t.Fatal(err)
				}
				if commit {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.GetDelivery(ctx, "ws1", rec.RenderID)
				switch {
				case commit && err != nil:
					t.Fatalf("after commit: %v", err)
				case commit:
					if diff := storetest.EqualDelivery(rec, got); diff != "" {
						t.Fatal(diff)
					}
				case !errors.Is(err, destination.ErrNotFound):
					t.Fatalf("after rollback: %v, want ErrNotFound", err)
				}
			}
			if err := s.AddDeliveryTx(ctx, nil, storetest.DeliveryFixture("ws1", 1)); err == nil {
				t.Fatal("AddDeliveryTx without a transaction succeeded")
			}
		})
	}
}
