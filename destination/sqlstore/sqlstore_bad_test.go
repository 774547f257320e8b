package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

// forEachDialect runs fn on a fresh, migrated store of every dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *sqlstore.Store, db *sql.DB, d sqlstore.Dialect)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.need(t)
			db, dialect := d.open(t)
			s := sqlstore.New(db, dialect, nil)
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			fn(t, s, db, dialect)
		})
	}
}

// rawExec runs a statement written with ? placeholders directly on the database.
func rawExec(t *testing.T, db *sql.DB, d sqlstore.Dialect, q string, args ...any) {
	t.Helper()
	if d.String() == "postgres" {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
		}
	}
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestMigrateIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, db *sql.DB, d sqlstore.Dialect) {
		ctx := context.Background()
		in, err := s.Create(ctx, storetest.Fixture("ws", "kept", t0))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := sqlstore.New(db, d, nil).Migrate(ctx); err != nil {
					t.Errorf("concurrent Migrate: %v", err)
				}
			})
		}
		wg.Wait()
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM outputs_schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := d.Migrations()
		if n != len(ms) || n == 0 {
			t.Fatalf("%d migrations recorded, want %d", n, len(ms))
		}
		if _, err := s.Get(ctx, "ws", in.ID); err != nil {
			t.Fatalf("data lost by Migrate: %v", err)
		}
	})
}

func TestTimestampPrecision(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, _ *sql.DB, _ sqlstore.Dialect) {
		ctx := context.Background()
		in := storetest.Fixture("ws", "ns", time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("x", -7*3600)))
		in.LastTest.TestedAt = in.CreatedAt.Add(999)
		out, err := s.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "ws", in.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := in.CreatedAt.Truncate(time.Microsecond)
		for what, v := range map[string]time.Time{"Create": out.CreatedAt, "Get": got.CreatedAt} {
			if !v.Equal(want) || v.Location() != time.UTC {
				t.Errorf("%s CreatedAt = %v, want %v in UTC", what, v, want.UTC())
			}
		}
		if !got.LastTest.TestedAt.Equal(in.LastTest.TestedAt.Truncate(time.Microsecond)) {
			t.Errorf("TestedAt = %v, want %v", got.LastTest.TestedAt, in.LastTest.TestedAt.Truncate(time.Microsecond))
		}
	})
}

func TestInvalidValues(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, _ *sql.DB, _ sqlstore.Dialect) {
		ctx := context.Background()
		cases := []struct {
			field  string
			change func(*destination.Integration)
		}{
			{"name", func(in *destination.Integration) { in.Name = "a\x00b" }},
			{"config.bucket", func(in *destination.Integration) { in.Config.Bucket = "bad\xffutf8" }},
			{"config.pathPrefix", func(in *destination.Integration) { in.Config.PathPrefix = "x\x00" }},
			{"workspaceId", func(in *destination.Integration) { in.WorkspaceID = "ws\x00" }},
			{"secrets.hint", func(in *destination.Integration) {
				in.Secrets[destination.SecretAccessKey] = destination.Sealed{Ciphertext: []byte{1}, Hint: "\xfe"}
			}},
			{"secrets", func(in *destination.Integration) {
				in.Secrets[destination.SecretAccessKey] = destination.Sealed{Hint: "••••"}
			}},
			{"lastTest.message", func(in *destination.Integration) { in.LastTest.Message = "\x00" }},
			{"lastTest.warnings", func(in *destination.Integration) { in.LastTest.Warnings = []string{"ok", "\xc3"} }},
			{"createdAt", func(in *destination.Integration) { in.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
			{"updatedAt", func(in *destination.Integration) { in.UpdatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		}
		for _, tc := range cases {
			in := storetest.Fixture("ws", "x", t0)
			tc.change(in)
			_, err := s.Create(ctx, in)
			var ve *destination.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("%s: Create error %v, want a *ValidationError", tc.field, err)
			}
			if _, ok := ve.Field(tc.field); !ok {
				t.Errorf("%s: error %v does not name the field", tc.field, err)
			}
			ok, err := s.Create(ctx, storetest.Fixture("ws", "x", t0))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(ok)
			if _, err := s.Update(ctx, ok); !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("%s: Update error %v, want ErrInvalid", tc.field, err)
			}
		}
		l, err := s.List(ctx, "ws")
		if err != nil || len(l) != len(cases) {
			t.Fatalf("List = %d, %v; want only the %d valid ones", len(l), err, len(cases))
		}
	})
}

// TestInjection puts SQL fragments in every string field, the ID and workspace included, and
// checks they are stored as data and nothing else changed.
func TestInjection(t *testing.T) {
	payloads := []string{
		`'`, `''`, `"`, `\'`, `'; DROP TABLE workspace_integrations; --`, `' OR '1'='1`, `" OR ""="`,
		`1; UPDATE workspace_integrations SET is_default = TRUE; --`, `$1`, `?`, `%`, `_`, `\x00`, `$$; SELECT 1; $$`,
		`'); DELETE FROM workspace_integrations WHERE ('1'='1`, `E'\\'`, "\\", `*/ /*`, `-- `,
	}
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, db *sql.DB, _ sqlstore.Dialect) {
		ctx := context.Background()
		victim := storetest.Fixture("victim", "untouched", t0)
		victim.IsDefault = true
		victim, err := s.Create(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range payloads {
			in := &destination.Integration{
				ID: p + uuid.NewString(), WorkspaceID: p, Provider: destination.Provider(p), Name: p,
				IsActive: true, IsDefault: true,
				Config: destination.Config{Bucket: p, AccessKeyID: p, Endpoint: p, Region: p, PublicURL: p,
					PathPrefix: p, GCSProjectID: p, AzureAccountName: p, AzureContainerName: p, DriveFolderID: p},
				Secrets:   map[destination.SecretField]destination.Sealed{destination.SecretField(p): {Ciphertext: []byte(p), KeyID: uint32(i), Hint: p}},
				CreatedAt: t0, UpdatedAt: t0,
				LastTest: &destination.TestResult{Code: p, Message: p, Warnings: []string{p}, TestedAt: t0},
			}
			out, err := s.Create(ctx, in)
			if err != nil {
				t.Fatalf("Create with %q: %v", p, err)
			}
			got, err := s.Get(ctx, p, in.ID)
			if err != nil {
				t.Fatalf("Get with %q: %v", p, err)
			}
			if d := storetest.Equal(out, got); d != "" {
				t.Fatalf("payload %q did not round-trip:\n%s", p, d)
			}
			got.Name += p
			if _, err := s.Update(ctx, got); err != nil {
				t.Fatalf("Update with %q: %v", p, err)
			}
			if _, err := s.GetDefault(ctx, p); err != nil {
				t.Fatalf("GetDefault with %q: %v", p, err)
			}
			if err := s.Delete(ctx, p, "x"+p); !errors.Is(err, destination.ErrNotFound) {
				t.Fatalf("Delete of %q: %v", "x"+p, err)
			}
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM workspace_integrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(payloads)+1 {
			t.Fatalf("%d rows, want %d", n, len(payloads)+1)
		}
		got, err := s.Get(ctx, "victim", victim.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := storetest.Equal(victim, got); d != "" {
			t.Fatalf("another workspace changed:\n%s", d)
		}
		page, err := s.Scan(ctx, `' OR '1'='1`, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page {
			if in.ID <= `' OR '1'='1` {
				t.Fatalf("Scan after an injected cursor returned %q", in.ID)
			}
		}
	})
}

// The stored bytes that the corruption tests plant: never to appear in an error message.
const planted = "PLANTED-9f8e7d"

func TestCorruptRows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, db *sql.DB, d sqlstore.Dialect) {
		ctx := context.Background()
		corrupt := map[string]string{ // column → a value that is valid for the column type but not decodable
			"config":             `{"bucket": ["` + planted + `"]}`,
			"secrets":            `{"secretAccessKey": {"ciphertext": "` + planted + `!!", "keyId": 1}}`,
			"last_test_warnings": `{"w": "` + planted + `"}`,
		}
		if d.String() == "sqlite" {
			corrupt["created_at"] = planted
		}
		var good, bad []string
		for i := range 3 {
			in, err := s.Create(ctx, storetest.Fixture("ws", fmt.Sprintf("good %d", i), t0.Add(time.Duration(i)*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			good = append(good, in.ID)
		}
		for col, v := range corrupt {
			in, err := s.Create(ctx, storetest.Fixture("ws", "bad "+col, t0))
			if err != nil {
				t.Fatal(err)
			}
			bad = append(bad, in.ID)
			rawExec(t, db, d, "UPDATE workspace_integrations SET "+col+" = ? WHERE id = ?", v, in.ID)

			_, err = s.Get(ctx, "ws", in.ID)
			var ce *sqlstore.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, sqlstore.ErrCorrupt) {
				t.Fatalf("Get of a row with corrupt %s: %v, want a *CorruptError", col, err)
			}
			if len(ce.Rows) != 1 || ce.Rows[0].ID != in.ID || ce.Rows[0].Column != col {
				t.Fatalf("Get of a row with corrupt %s: %+v", col, ce.Rows)
			}
			if got := errors.Is(err, destination.ErrSecretUnavailable); got != (col == "secrets") {
				t.Errorf("corrupt %s: errors.Is ErrSecretUnavailable = %v", col, got)
			}
			if strings.Contains(err.Error(), planted) {
				t.Fatalf("the error quotes the stored data: %v", err)
			}
		}
		l, err := s.List(ctx, "ws")
		var ce *sqlstore.CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("List error %v, want a *CorruptError", err)
		}
		if got := ids(l); strings.Join(got, ",") != strings.Join(good, ",") {
			t.Fatalf("List returned %v, want the good ones %v", got, good)
		}
		if !sameSet(ce.IDs(), bad) {
			t.Fatalf("CorruptError IDs %v, want %v", ce.IDs(), bad)
		}
		page, err := s.Scan(ctx, "", 100)
		if !errors.As(err, &ce) || len(page) != len(good) || !sameSet(ce.IDs(), bad) {
			t.Fatalf("Scan = %d integrations, %v; want %d and the corrupt IDs", len(page), err, len(good))
		}
		// A corrupt row can be repaired by Update (it needs only its version) or deleted.
		if err := s.Delete(ctx, "ws", bad[0]); err != nil {
			t.Fatalf("Delete of a corrupt row: %v", err)
		}
	})
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

func ids(l []*destination.Integration) []string {
	out := make([]string, len(l))
	for i, in := range l {
		out[i] = in.ID
	}
	return out
}

// TestDatabaseDown checks every method against a database that is closed (SQLite) or not
// listening (PostgreSQL): a clear error, no panic, no password in the message.
func TestDatabaseDown(t *testing.T) {
	const password = "hunter2-do-not-print"
	closed, _ := openSQLite(t)
	closed.Close()
	unreachable, err := sql.Open("pgx", "postgres://outputs:"+password+"@127.0.0.1:1/outputs?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	for name, s := range map[string]*sqlstore.Store{
		"SQLite closed":          sqlstore.New(closed, sqlstore.SQLite, nil),
		"PostgreSQL unreachable": sqlstore.New(unreachable, sqlstore.PostgreSQL, nil),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			in := storetest.Fixture("ws", "x", t0)
			errs := map[string]error{"Migrate": s.Migrate(ctx)}
			_, errs["Create"] = s.Create(ctx, in)
			_, errs["Get"] = s.Get(ctx, "ws", in.ID)
			_, errs["List"] = s.List(ctx, "ws")
			in.Version = 1
			_, errs["Update"] = s.Update(ctx, in)
			errs["Delete"] = s.Delete(ctx, "ws", in.ID)
			_, errs["GetDefault"] = s.GetDefault(ctx, "ws")
			_, errs["Scan"] = s.Scan(ctx, "", 10)
			for op, err := range errs {
				switch {
				case err == nil:
					t.Errorf("%s succeeded on a database that is down", op)
				case errors.Is(err, destination.ErrNotFound), errors.Is(err, destination.ErrConflict):
					t.Errorf("%s: %v; a database that is down is not a missing integration", op, err)
				case !strings.HasPrefix(err.Error(), "sqlstore: "):
					t.Errorf("%s: %v, want an error prefixed sqlstore:", op, err)
				case strings.Contains(err.Error(), password):
					t.Errorf("%s: the error contains the password: %v", op, err)
				}
			}
		})
	}
}
