package sqlstore

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL database a Store talks to: SQLite or PostgreSQL.
type Dialect struct {
	name string
	// dir is the migrations directory of the dialect in the embedded FS.
	dir string
	// trueLit and falseLit are the boolean literals.
	trueLit, falseLit string
	// dollar reports positional parameters written $1, $2, ... instead of ?.
	dollar bool
	// textTime reports that timestamps are stored as fixed-width UTC text.
	textTime bool
	// immediate reports that write transactions start with BEGIN IMMEDIATE on a dedicated
	// connection (SQLite's way to take the write lock up front, so they never deadlock).
	immediate bool
	// retryable reports a transient error (lock contention, serialization failure, a concurrent
	// default switch) after which the whole transaction may run again.
	retryable func(error) bool
	// migrationLock is run first in the migration transaction (PostgreSQL: an advisory lock, so
	// concurrent Migrate calls apply each migration once).
	migrationLock string
}

var (
	// SQLite is the dialect of modernc.org/sqlite (driver name "sqlite"), the pure-Go SQLite.
	// Timestamps are stored as UTC text with microsecond precision. Write transactions take the
	// database's write lock up front (BEGIN IMMEDIATE); SQLITE_BUSY and SQLITE_LOCKED are retried.
	// OpenSQLite opens a database with the settings the store expects.
	SQLite = Dialect{name: "sqlite", dir: "migrations/sqlite", trueLit: "1", falseLit: "0",
		textTime: true, immediate: true, retryable: sqliteRetryable}
	// PostgreSQL is the dialect of github.com/jackc/pgx/v5/stdlib (driver name "pgx"). Timestamps
	// are timestamptz (microsecond precision). Serialization failures, deadlocks and a concurrent
	// default switch (the one-default index) are retried.
	PostgreSQL = Dialect{name: "postgres", dir: "migrations/postgres", trueLit: "TRUE", falseLit: "FALSE",
		dollar: true, retryable: pgRetryable,
		migrationLock: "SELECT pg_advisory_xact_lock(7245190734416130371)"}
)

// String returns the dialect's name: "sqlite" or "postgres".
func (d Dialect) String() string { return d.name }

// rebind rewrites ? placeholders to $n for dialects that need it. The store's queries contain
// no ? other than placeholders.
func (d Dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timeFormat is SQLite's stored timestamp form: fixed width, so text order is time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// timeArg converts a timestamp to the dialect's parameter value, truncated to the microsecond.
func (d Dialect) timeArg(t time.Time) any {
	t = t.Truncate(time.Microsecond).UTC()
	if d.textTime {
		return t.Format(timeFormat)
	}
	return t
}

func sqliteRetryable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

func pgRetryable(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation: only the one-default index is a race worth retrying
		return e.ConstraintName == "workspace_integrations_one_default"
	}
	return false
}
