package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ilovevideoeditor/outputs/destination"
)

// columns are the table's columns in the order rowArgs writes and scanRow reads them.
const columns = "id, workspace_id, provider, name, is_active, is_default, config, secrets, " +
	lastTestColumns + ", version, created_at, updated_at"

// sealedJSON is one sealed secret as stored in the secrets column.
type sealedJSON struct {
	Ciphertext []byte `json:"ciphertext"`
	KeyID      uint32 `json:"keyId"`
	Hint       string `json:"hint,omitempty"`
}

// rowArgs returns in's column values, in the order of columns.
func (d Dialect) rowArgs(in *destination.Integration) ([]any, error) {
	cfg, err := json.Marshal(in.Config)
	if err != nil {
		return nil, err
	}
	sec := make(map[destination.SecretField]sealedJSON, len(in.Secrets))
	for f, s := range in.Secrets {
		sec[f] = sealedJSON{Ciphertext: s.Ciphertext, KeyID: s.KeyID, Hint: s.Hint}
	}
	secrets, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	lt, err := d.lastTestArgs(in.LastTest)
	if err != nil {
		return nil, err
	}
	return append(append([]any{in.ID, in.WorkspaceID, string(in.Provider), in.Name, in.IsActive, in.IsDefault,
		string(cfg), string(secrets)}, lt...), in.Version, d.timeArg(in.CreatedAt), d.timeArg(in.UpdatedAt)), nil
}

// lastTestColumns are the columns of the last test result, in the order lastTestArgs writes and
// lastTestRow reads them.
const lastTestColumns = "last_test_ok, last_test_code, last_test_message, last_test_warnings, last_tested_at, last_test_duration_ms"

// lastTestArgs returns lt's column values (all NULL for nil).
func (d Dialect) lastTestArgs(lt *destination.TestResult) ([]any, error) {
	if lt == nil {
		return []any{nil, nil, nil, nil, nil, nil}, nil
	}
	w, err := json.Marshal(lt.Warnings)
	if err != nil {
		return nil, err
	}
	return []any{lt.OK, lt.Code, lt.Message, string(w), d.timeArg(lt.TestedAt.Truncate(time.Microsecond).UTC()), lt.DurationMillis}, nil
}

// lastTestRow receives the last test columns of a row.
type lastTestRow struct {
	ok        sql.NullBool
	code, msg sql.NullString
	warnings  []byte
	at        any
	dur       sql.NullInt64
}

func (r *lastTestRow) dest() []any { return []any{&r.ok, &r.code, &r.msg, &r.warnings, &r.at, &r.dur} }

// decode returns the result (nil when there is none), or the name of the column it could not read.
func (r *lastTestRow) decode() (*destination.TestResult, string, error) {
	if !r.ok.Valid {
		return nil, "", nil
	}
	lt := &destination.TestResult{OK: r.ok.Bool, Code: r.code.String, Message: r.msg.String, DurationMillis: r.dur.Int64}
	if r.warnings != nil {
		if err := json.Unmarshal(r.warnings, &lt.Warnings); err != nil {
			return nil, "last_test_warnings", err
		}
	}
	if r.at != nil {
		var err error
		if lt.TestedAt, err = parseTime(r.at); err != nil {
			return nil, "last_tested_at", err
		}
	}
	return lt, "", nil
}

// scanRow reads one row of columns. A row that cannot be decoded gives a *CorruptError for it;
// database errors are returned as they are.
func scanRow(sc interface{ Scan(...any) error }) (*destination.Integration, error) {
	var (
		in               destination.Integration
		provider         string
		cfg, secrets     []byte
		lt               lastTestRow
		created, updated any
	)
	dest := append(append([]any{&in.ID, &in.WorkspaceID, &provider, &in.Name, &in.IsActive, &in.IsDefault, &cfg, &secrets},
		lt.dest()...), &in.Version, &created, &updated)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	in.Provider = destination.Provider(provider)
	bad := func(column string, err error) (*destination.Integration, error) {
		return nil, &CorruptError{Rows: []CorruptRow{{ID: in.ID, WorkspaceID: in.WorkspaceID, Column: column, err: err}}}
	}
	if err := json.Unmarshal(cfg, &in.Config); err != nil {
		return bad("config", err)
	}
	var sec map[destination.SecretField]sealedJSON
	if err := json.Unmarshal(secrets, &sec); err != nil {
		return bad("secrets", err)
	}
	if len(sec) > 0 {
		in.Secrets = make(map[destination.SecretField]destination.Sealed, len(sec))
		for f, s := range sec {
			if len(s.Ciphertext) == 0 {
				return bad("secrets", fmt.Errorf("field %q has no ciphertext", truncate(string(f), 40)))
			}
			in.Secrets[f] = destination.Sealed{Ciphertext: s.Ciphertext, KeyID: s.KeyID, Hint: s.Hint}
		}
	}
	var err error
	if in.CreatedAt, err = parseTime(created); err != nil {
		return bad("created_at", err)
	}
	if in.UpdatedAt, err = parseTime(updated); err != nil {
		return bad("updated_at", err)
	}
	var column string
	if in.LastTest, column, err = lt.decode(); err != nil {
		return bad(column, err)
	}
	return &in, nil
}

// parseTime reads a timestamp column: a time.Time (PostgreSQL) or fixed-format UTC text (SQLite).
func parseTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(timeFormat, v)
	case []byte:
		return time.Parse(timeFormat, string(v))
	}
	return time.Time{}, fmt.Errorf("not a timestamp (%T)", v)
}

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("sqlstore: stored integration could not be decoded")

// CorruptError reports stored rows that cannot be decoded: malformed JSON in the config,
// secrets or last_test_warnings column, a secret without ciphertext, a malformed timestamp.
// Get returns it alone. List and Scan return it together with every row that could be decoded,
// so one corrupt row never hides the others; Rows lists the ones left out. It matches ErrCorrupt,
// and also destination.ErrSecretUnavailable when a secrets column is corrupt. Its message names
// the rows and columns, never their content.
type CorruptError struct {
	Rows []CorruptRow
}

// CorruptRow is one row that could not be decoded.
type CorruptRow struct {
	ID          string
	WorkspaceID string
	// Column is the first column that could not be decoded.
	Column string
	err    error
}

// Unwrap returns the decoding error, which may quote the stored bytes.
func (r CorruptRow) Unwrap() error { return r.err }

// Error names the row and column.
func (r CorruptRow) Error() string {
	return fmt.Sprintf("integration %s: column %s cannot be decoded", r.ID, r.Column)
}

// IDs returns the IDs of the corrupt rows.
func (e *CorruptError) IDs() []string {
	ids := make([]string, len(e.Rows))
	for i, r := range e.Rows {
		ids[i] = r.ID
	}
	return ids
}

// Error lists the corrupt rows and their columns.
func (e *CorruptError) Error() string {
	parts := make([]string, len(e.Rows))
	for i, r := range e.Rows {
		parts[i] = r.Error()
	}
	return "sqlstore: stored integration could not be decoded: " + strings.Join(parts, "; ")
}

// Is matches ErrCorrupt, and destination.ErrSecretUnavailable when a secrets column is corrupt.
func (e *CorruptError) Is(target error) bool {
	if target == ErrCorrupt {
		return true
	}
	if target == destination.ErrSecretUnavailable {
		for _, r := range e.Rows {
			if r.Column == "secrets" {
				return true
			}
		}
	}
	return false
}

// checkValues reports values the database could not store faithfully: strings that are not
// valid UTF-8 or contain NUL (PostgreSQL rejects both, JSON would alter them), and timestamps
// outside years 1-9999. The error is a *destination.ValidationError naming each field, never
// quoting a value.
func checkValues(in *destination.Integration) error {
	var p destination.Problems
	str := func(field, v string) {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			p.Add(field, destination.CodeInvalid, "must be valid UTF-8 without NUL characters")
		}
	}
	tm := func(field string, t time.Time) {
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			p.Add(field, destination.CodeInvalid, "must be a time in years 1 to 9999")
		}
	}
	str("id", in.ID)
	str("workspaceId", in.WorkspaceID)
	str("provider", string(in.Provider))
	str("name", in.Name)
	c := in.Config
	for _, f := range []struct{ name, v string }{
		{"bucket", c.Bucket}, {"accessKeyId", c.AccessKeyID}, {"endpoint", c.Endpoint}, {"region", c.Region},
		{"publicUrl", c.PublicURL}, {"pathPrefix", c.PathPrefix}, {"gcsProjectId", c.GCSProjectID},
		{"azureAccountName", c.AzureAccountName}, {"azureContainerName", c.AzureContainerName}, {"driveFolderId", c.DriveFolderID},
	} {
		str("config."+f.name, f.v)
	}
	for f, s := range in.Secrets {
		str("secrets", string(f))
		str("secrets.hint", s.Hint)
		if len(s.Ciphertext) == 0 {
			p.Add("secrets", destination.CodeRequired, "every sealed secret needs its ciphertext")
		}
	}
	tm("createdAt", in.CreatedAt)
	tm("updatedAt", in.UpdatedAt)
	if lt := in.LastTest; lt != nil {
		str("lastTest.code", lt.Code)
		str("lastTest.message", lt.Message)
		for _, w := range lt.Warnings {
			str("lastTest.warnings", w)
		}
		tm("lastTest.testedAt", lt.TestedAt)
	}
	return p.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
