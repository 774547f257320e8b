package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrations holds each dialect's schema changes, one file per version:
// migrations/<dialect>/<version>_<name>.sql, applied in version order.
//
//go:embed migrations
var migrations embed.FS

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the dialect's embedded migrations in version order (for hosts that run
// migrations with their own tool).
func (d Dialect) Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrations, d.dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		v, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlstore: migration file %s is not named <version>_<name>.sql", e.Name())
		}
		b, err := migrations.ReadFile(path.Join(d.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: n, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Migrate brings the database schema up to date: it creates the outputs_schema_migrations table
// when missing and applies, in one transaction, every embedded migration not recorded there.
// Running it again, or from several processes at once, is harmless.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

// migrate is Migrate up to version upTo included (every version when upTo is 0); tests use it to
// build a database of an earlier schema.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	all, err := s.d.Migrations()
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(q querier) error {
		if s.d.migrationLock != "" {
			if _, err := q.ExecContext(ctx, s.d.migrationLock); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS outputs_schema_migrations ("+
			"version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, "SELECT version FROM outputs_schema_migrations")
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range all {
			if applied[m.Version] || upTo > 0 && m.Version > upTo {
				continue
			}
			if _, err := q.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := q.ExecContext(ctx, s.d.rebind("INSERT INTO outputs_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				m.Version, m.Name, time.Now().UTC().Format(timeFormat)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("migrate", err)
}
