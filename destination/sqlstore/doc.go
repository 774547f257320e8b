// Package sqlstore is a destination.Store over database/sql, keeping integrations in the
// workspace_integrations table of a PostgreSQL or SQLite database.
//
//	db, err := sqlstore.OpenSQLite("outputs.db")        // or sql.Open("pgx", dsn) with PostgreSQL
//	store := sqlstore.New(db, sqlstore.SQLite, nil)
//	err = store.Migrate(ctx)                              // once, at start-up; idempotent
//
// # Dialects
//
// SQLite uses modernc.org/sqlite (pure Go, no cgo), PostgreSQL github.com/jackc/pgx/v5/stdlib.
// The schema of each is embedded (embed.FS) as numbered migrations, applied by Store.Migrate and
// recorded in outputs_schema_migrations; Dialect.Migrations exposes them for hosts with their own
// migration tool.
//
// # Schema
//
// One row per integration: id (primary key; COLLATE "C" on PostgreSQL, SQLite's BINARY, so
// Scan pages in byte order whatever the database's collation), workspace_id, provider, name, is_active,
// is_default, config (JSON, no secrets), secrets (JSON: per field the base64 ciphertext, the
// keyset key ID that sealed it, and the masked hint), the last connection test (ok, code,
// message, warnings, tested at, duration; all NULL without one), version, created_at and
// updated_at. A partial unique index on workspace_id WHERE is_default keeps one default per
// workspace even against writers that bypass the Store; an index on (workspace_id, created_at,
// id) serves List.
//
// # Consistency
//
// Create and Update run in a transaction that first clears the workspace's other default, then
// writes the row with an optimistic version check. On SQLite the transaction takes the write lock
// up front (BEGIN IMMEDIATE), so writers queue instead of deadlocking, and a Store queues its own
// writers in Go rather than in SQLite's sleeping busy handler. On PostgreSQL (read committed) a
// transaction that sets a default first takes a transaction-scoped advisory lock on the
// workspace, so default switches queue; a writer that bypasses the Store still meets the unique
// index. Transient failures (SQLITE_BUSY/LOCKED, serialization failures, deadlocks, that index,
// a connection lost under a read or before a transaction began) are retried with jittered
// backoff for up to Options.RetryFor (15 s by default).
//
// # Precision and values
//
// Timestamps are kept to the microsecond and returned in UTC. Strings must be valid UTF-8
// without NUL characters and times within years 1-9999, else Create and Update return a
// *destination.ValidationError naming the field. Every value is passed as a query parameter;
// no input is ever spliced into SQL.
//
// # Corrupt rows
//
// A row that cannot be decoded (malformed JSON, a bad timestamp) is reported by a *CorruptError
// naming its ID and column: Get returns only the error; List and Scan return every other row
// together with the error, so one bad row never hides a workspace's other integrations.
// A database that cannot be reached gives an error wrapping the driver's, prefixed "sqlstore:".
package sqlstore
