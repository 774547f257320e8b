package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination/storetest"
)

// TestPostgresConnectionsKilled terminates every server connection of the store (as a failover
// or an administrator would) and checks that reads recover on their own, and writes after them.
func TestPostgresConnectionsKilled(t *testing.T) {
	needPostgres(t)
	s, db := newStore(t, openPostgres)
	ctx := context.Background()
	in, err := s.Create(ctx, storetest.Fixture("ws", "x", t0))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		if _, err := s.Get(ctx, "ws", in.ID); err != nil {
			t.Fatalf("round %d, before: %v", round, err)
		}
		// Only this store's connections, from a connection of its own: the store's carry its
		// schema as their application name, so tests of other packages on the same server are
		// left alone.
		var app string
		if err := db.QueryRow(`SELECT current_setting('application_name')`).Scan(&app); err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("pgx", os.Getenv("OUTPUTS_TEST_POSTGRES_DSN"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, app); err != nil {
			t.Fatal(err)
		}
		admin.Close()
		in.Name = "first after the kill"
		if in, err = s.Update(ctx, in); err != nil {
			t.Fatalf("round %d, update first after the kill: %v", round, err)
		}
		if _, err := s.Get(ctx, "ws", in.ID); err != nil {
			t.Fatalf("round %d, read after the kill: %v", round, err)
		}
		if _, err := s.List(ctx, "ws"); err != nil {
			t.Fatalf("round %d, list after the kill: %v", round, err)
		}
		in.Name = "round"
		if in, err = s.Update(ctx, in); err != nil {
			t.Fatalf("round %d, update after the kill: %v", round, err)
		}
	}
}
