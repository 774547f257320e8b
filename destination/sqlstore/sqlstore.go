package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/internal/storekit"
)

// Options adjusts a Store. The zero value is ready to use.
type Options struct {
	// RetryFor bounds how long an operation keeps retrying transient failures (SQLITE_BUSY,
	// a PostgreSQL serialization failure or deadlock, a concurrent default switch), with jittered
	// exponential backoff from 1 ms to 50 ms. Zero means 15 s; negative means no retry.
	RetryFor time.Duration
}

// Store is a destination.Store over database/sql. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	d        Dialect
	retryFor time.Duration
	q        queries

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // the read statements, prepared on first use

	// writeSem queues this Store's SQLite write transactions in Go: SQLite's busy handler polls
	// with sleeps of up to 100 ms, which makes contended writers wait far longer than the work.
	// Other processes (and Stores) still meet at SQLite's lock.
	writeSem chan struct{}
}

var _ destination.Store = (*Store)(nil)

// queries are the statements of a Store, rebound for its dialect.
type queries struct {
	insert, get, list, getDefault, scan, update, clearDefault, version, delete, lastTest, setLastTest string
}

// New returns a Store over db, which must be a database of dialect d (opened with driver "sqlite"
// for SQLite, "pgx" for PostgreSQL). opts may be nil. New does not touch the database: call
// Migrate once before use. The Store does not own db; closing it is the caller's business.
func New(db *sql.DB, d Dialect, opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{db: db, d: d, retryFor: opts.RetryFor, writeSem: make(chan struct{}, 1)}
	if s.retryFor == 0 {
		s.retryFor = 15 * time.Second
	}
	const t = "workspace_integrations"
	s.q = queries{
		insert: "INSERT INTO " + t + " (" + columns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
			"ON CONFLICT (id) DO NOTHING",
		get:        "SELECT " + columns + " FROM " + t + " WHERE workspace_id = ? AND id = ?",
		list:       "SELECT " + columns + " FROM " + t + " WHERE workspace_id = ? ORDER BY created_at, id",
		getDefault: "SELECT " + columns + " FROM " + t + " WHERE workspace_id = ? AND is_default = " + d.trueLit,
		scan:       "SELECT " + columns + " FROM " + t + " WHERE id > ? ORDER BY id LIMIT ?",
		// The last test columns are not part of the versioned configuration: only setLastTest writes them.
		update: "UPDATE " + t + " SET provider = ?, name = ?, is_active = ?, is_default = ?, config = ?, secrets = ?, " +
			"version = version + 1, updated_at = ? WHERE workspace_id = ? AND id = ? AND version = ?",
		lastTest: "SELECT " + lastTestColumns + " FROM " + t + " WHERE workspace_id = ? AND id = ?",
		setLastTest: "UPDATE " + t + " SET last_test_ok = ?, last_test_code = ?, last_test_message = ?, last_test_warnings = ?, " +
			"last_tested_at = ?, last_test_duration_ms = ? WHERE workspace_id = ? AND id = ? AND version = ?",
		clearDefault: "UPDATE " + t + " SET is_default = " + d.falseLit + ", version = version + 1, updated_at = ? " +
			"WHERE workspace_id = ? AND is_default = " + d.trueLit + " AND id <> ?",
		version: "SELECT version, created_at FROM " + t + " WHERE workspace_id = ? AND id = ?",
		delete:  "DELETE FROM " + t + " WHERE workspace_id = ? AND id = ?",
	}
	for _, p := range []*string{&s.q.insert, &s.q.get, &s.q.list, &s.q.getDefault, &s.q.scan, &s.q.update,
		&s.q.clearDefault, &s.q.version, &s.q.delete, &s.q.lastTest, &s.q.setLastTest} {
		*p = d.rebind(*p)
	}
	return s
}

// querier is what a transaction body uses: a *sql.Tx, or a *sql.Conn inside BEGIN IMMEDIATE.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// beginError is a failure to start a transaction.
type beginError struct{ err error }

func (e beginError) Error() string { return e.err.Error() }
func (e beginError) Unwrap() error { return e.err }

// errDone ends a transaction body early with a result that is not a database failure (the
// transaction is rolled back and the wrapped error returned as is).
type errDone struct{ err error }

func (e errDone) Error() string { return e.err.Error() }

// retry runs fn until it succeeds, fails for good, or keeps failing transiently for longer
// than Options.RetryFor. A read (idempotent) also runs again when its connection was lost; a
// write only when the failure happened before anything reached the server, so a commit whose
// outcome is unknown is never applied twice.
func (s *Store) retry(ctx context.Context, read bool, fn func() error) error {
	deadline := time.Now().Add(s.retryFor)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		var begin beginError
		if !s.d.retryable(err) && !((read || errors.As(err, &begin)) && s.d.connLost(err)) {
			return err
		}
		// Jittered exponential backoff from 1ms, capped at 50ms.
		backoff := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)))) + time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// tx runs fn in a write transaction, retried as a whole on transient failures.
func (s *Store) tx(ctx context.Context, fn func(q querier) error) error {
	err := s.retry(ctx, false, func() error {
		if s.d.immediate {
			return s.immediateTx(ctx, fn)
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return beginError{err} // nothing ran: safe to run again whatever broke
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
	var done errDone
	if errors.As(err, &done) {
		return done.err
	}
	return err
}

// immediateTx runs fn between BEGIN IMMEDIATE and COMMIT on one connection (SQLite).
func (s *Store) immediateTx(ctx context.Context, fn func(q querier) error) (err error) {
	select {
	case s.writeSem <- struct{}{}:
		defer func() { <-s.writeSem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	began := false
	defer func() {
		if err != nil && began {
			// Leave the connection clean, even when ctx is done; drop it if that fails.
			if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}
		_ = conn.Close()
	}()
	// Without a busy timeout (a database not opened by OpenSQLite) BEGIN IMMEDIATE fails at once
	// while another writer holds the lock; give the connection one so SQLite waits instead.
	var timeout int
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
		return err
	}
	if timeout == 0 {
		if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 5000"); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	began = true
	if err := fn(conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *CorruptError
	var ve *destination.ValidationError
	switch {
	case errors.Is(err, destination.ErrNotFound), errors.Is(err, destination.ErrConflict),
		errors.As(err, &ce), errors.As(err, &ve):
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

func (s *Store) check(op string, in *destination.Integration) error {
	if err := storekit.Check(op, in); err != nil {
		return err
	}
	return checkValues(in)
}

// Create inserts a copy of in with version 1. An existing ID (in any workspace) gives
// destination.ErrConflict. When in.IsDefault is set, the workspace's other default is cleared in
// the same transaction (its version grows, its updated_at becomes in.UpdatedAt). Timestamps are
// stored truncated to the microsecond.
func (s *Store) Create(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if err := s.check("create", in); err != nil {
		return nil, err
	}
	c := normalized(in)
	c.Version = 1
	args, err := s.d.rowArgs(c)
	if err != nil {
		return nil, wrap("create integration", err)
	}
	err = s.tx(ctx, func(q querier) error {
		return s.writeRow(ctx, q, c, s.q.insert, args)
	})
	if err != nil {
		return nil, wrap("create integration", err)
	}
	return c, nil
}

// normalized returns a deep copy of in with its timestamps as the store keeps them: UTC,
// truncated to the microsecond.
func normalized(in *destination.Integration) *destination.Integration {
	c := in.Clone()
	c.CreatedAt = c.CreatedAt.Truncate(time.Microsecond).UTC()
	c.UpdatedAt = c.UpdatedAt.Truncate(time.Microsecond).UTC()
	if c.LastTest != nil {
		c.LastTest.TestedAt = c.LastTest.TestedAt.Truncate(time.Microsecond).UTC()
	}
	return c
}

// clearDefault takes the workspace's default lock (PostgreSQL) and clears its other default.
func (s *Store) clearDefault(ctx context.Context, q querier, c *destination.Integration) error {
	if s.d.defaultLock != "" {
		if _, err := q.ExecContext(ctx, s.d.defaultLock, c.WorkspaceID); err != nil {
			return err
		}
	}
	_, err := q.ExecContext(ctx, s.q.clearDefault, s.d.timeArg(c.UpdatedAt), c.WorkspaceID, c.ID)
	return err
}

// Get returns the integration id of workspaceID, destination.ErrNotFound, or a *CorruptError
// when its row cannot be decoded.
func (s *Store) Get(ctx context.Context, workspaceID, id string) (*destination.Integration, error) {
	in, err := s.one(ctx, s.q.get, workspaceID, id)
	return in, wrap("get integration", err)
}

// GetDefault returns the workspace's default integration, or destination.ErrNotFound.
func (s *Store) GetDefault(ctx context.Context, workspaceID string) (*destination.Integration, error) {
	in, err := s.one(ctx, s.q.getDefault, workspaceID)
	return in, wrap("get default integration", err)
}

// stmt returns query prepared on the database, or nil when it cannot be prepared (yet): the
// caller then runs it unprepared. Prepared statements spare SQLite parsing each read again.
func (s *Store) stmt(ctx context.Context, query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st
}

// Close releases the statements the Store prepared. It does not close the database; the Store
// remains usable (it prepares them again).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	return errors.Join(errs...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

func (s *Store) one(ctx context.Context, query string, args ...any) (*destination.Integration, error) {
	var in *destination.Integration
	err := s.retry(ctx, true, func() error {
		var err error
		in, err = scanRow(s.queryRow(ctx, query, args...))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, destination.ErrNotFound
	}
	return in, err
}

// List returns the workspace's integrations ordered by created_at, then ID. When some rows
// cannot be decoded it returns all the others together with a *CorruptError naming them.
func (s *Store) List(ctx context.Context, workspaceID string) ([]*destination.Integration, error) {
	out, err := s.many(ctx, s.q.list, workspaceID)
	return out, wrap("list integrations", err)
}

// Scan returns at most limit integrations of every workspace with ID > after, in ID order.
// Rows that cannot be decoded are left out and named by a *CorruptError returned with the
// others; a sweep continues after the greatest ID of the page and of the error's rows.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]*destination.Integration, error) {
	if limit < 1 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return []*destination.Integration{}, nil
	}
	out, err := s.many(ctx, s.q.scan, after, limit)
	return out, wrap("scan integrations", err)
}

func (s *Store) many(ctx context.Context, query string, args ...any) ([]*destination.Integration, error) {
	var (
		out     []*destination.Integration
		corrupt *CorruptError
	)
	err := s.retry(ctx, true, func() error {
		out, corrupt = []*destination.Integration{}, nil
		rows, err := s.query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			in, err := scanRow(rows)
			var ce *CorruptError
			switch {
			case errors.As(err, &ce):
				if corrupt == nil {
					corrupt = &CorruptError{}
				}
				corrupt.Rows = append(corrupt.Rows, ce.Rows...)
			case err != nil:
				return err
			default:
				out = append(out, in)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if corrupt != nil {
		return out, corrupt
	}
	return out, nil
}

// Update stores in when in.Version is the stored version, incrementing it; created_at is kept.
// A stale version gives destination.ErrConflict, a missing integration destination.ErrNotFound;
// neither changes anything. With in.IsDefault set, the workspace's other default is cleared in
// the same transaction.
func (s *Store) Update(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if err := s.check("update", in); err != nil {
		return nil, err
	}
	c := normalized(in)
	args, err := s.d.rowArgs(c)
	if err != nil {
		return nil, wrap("update integration", err)
	}
	// rowArgs order: id, workspace_id, provider, name, is_active, is_default, config, secrets,
	// six last test columns, version, created_at, updated_at.
	set := append(append([]any{}, args[2:8]...), args[16], c.WorkspaceID, c.ID, c.Version)
	err = s.tx(ctx, func(q querier) error {
		var (
			cur     int64
			created any
		)
		switch err := q.QueryRowContext(ctx, s.q.version, c.WorkspaceID, c.ID).Scan(&cur, &created); {
		case errors.Is(err, sql.ErrNoRows):
			return errDone{destination.ErrNotFound}
		case err != nil:
			return err
		case cur != c.Version:
			return errDone{destination.ErrConflict}
		}
		t, err := parseTime(created)
		if err != nil {
			return errDone{&CorruptError{Rows: []CorruptRow{{ID: c.ID, WorkspaceID: c.WorkspaceID, Column: "created_at", err: err}}}}
		}
		c.CreatedAt = t
		// No row: changed between the version read and the update (PostgreSQL, read committed).
		if err := s.writeRow(ctx, q, c, s.q.update, set); err != nil {
			return err
		}
		// The stored last test, read under the row lock the update holds.
		var lt lastTestRow
		if err := q.QueryRowContext(ctx, s.q.lastTest, c.WorkspaceID, c.ID).Scan(lt.dest()...); err != nil {
			return err
		}
		var column string
		if c.LastTest, column, err = lt.decode(); err != nil {
			return errDone{&CorruptError{Rows: []CorruptRow{{ID: c.ID, WorkspaceID: c.WorkspaceID, Column: column, err: err}}}}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("update integration", err)
	}
	c.Version++
	return c, nil
}

// SetLastTest records result (nil clears it) as the last test of integration id, if its stored
// version is still version (else destination.ErrConflict; destination.ErrNotFound when
// missing). It changes neither the version nor updated_at.
func (s *Store) SetLastTest(ctx context.Context, workspaceID, id string, version int64, result *destination.TestResult) error {
	args, err := s.d.lastTestArgs(result)
	if err != nil {
		return wrap("set last test", err)
	}
	args = append(args, workspaceID, id, version)
	// Writing the same result twice is harmless, so a lost commit may run again.
	err = s.retry(ctx, true, func() error {
		res, err := s.db.ExecContext(ctx, s.q.setLastTest, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			return nil
		}
		var cur int64
		var created any
		switch err := s.db.QueryRowContext(ctx, s.q.version, workspaceID, id).Scan(&cur, &created); {
		case errors.Is(err, sql.ErrNoRows):
			return destination.ErrNotFound
		case err != nil:
			return err
		}
		return destination.ErrConflict
	})
	return wrap("set last test", err)
}

// Delete removes the integration id of workspaceID, or gives destination.ErrNotFound.
func (s *Store) Delete(ctx context.Context, workspaceID, id string) error {
	// Delete is idempotent, but a second run after a lost commit would report ErrNotFound: it
	// runs again only on the transient failures writes retry.
	err := s.retry(ctx, false, func() error {
		res, err := s.db.ExecContext(ctx, s.q.delete, workspaceID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return destination.ErrNotFound
		}
		return nil
	})
	return wrap("delete integration", err)
}

// writeRow clears the workspace's other default when c is the default, then runs the insert or
// update; no row written is a conflict (an existing ID, or a version changed meanwhile).
func (s *Store) writeRow(ctx context.Context, q querier, c *destination.Integration, query string, args []any) error {
	if c.IsDefault {
		if err := s.clearDefault(ctx, q, c); err != nil {
			return err
		}
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errDone{destination.ErrConflict}
	}
	return nil
}
