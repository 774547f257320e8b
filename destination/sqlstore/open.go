package sqlstore

import (
	"database/sql"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// OpenSQLite opens the SQLite database file path (created when missing) with the settings the
// Store works best with: write-ahead logging (readers never wait for the writer), a 5 s busy
// timeout, and foreign keys on. Hosts may open it themselves with driver "sqlite"; the Store
// also copes without these settings, retrying when the database is busy.
func OpenSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	u := url.URL{Scheme: "file", Opaque: strings.ReplaceAll(url.PathEscape(path), "%2F", "/"), RawQuery: q.Encode()}
	return sql.Open("sqlite", u.String())
}
