// Package pgtest gives tests a PostgreSQL schema of their own on the shared test server that
// scripts/test.sh starts, so that tests of many packages, run at once, never touch each other's
// tables or connections.
package pgtest

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

var seq atomic.Int64

// Schema creates a new schema in the test server's database (OUTPUTS_TEST_POSTGRES_DSN; the test
// skips, or fails under CI=true, without it), dropped when the test ends, and returns a DSN
// whose connections use it (search_path) and carry its name as their application_name (so a
// test can tell its own connections apart, e.g. to terminate them). prefix names the schema.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	return SchemaIn(t, testenv.Need(t, "OUTPUTS_TEST_POSTGRES_DSN", "PostgreSQL"), prefix)
}

// SchemaIn is Schema in the database of dsn.
func SchemaIn(t testing.TB, dsn, prefix string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), seq.Add(1))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
