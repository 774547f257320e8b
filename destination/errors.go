package destination

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Every error the library returns for these conditions matches one of them with
// errors.Is, whatever it wraps.
var (
	// ErrNotFound: no such integration in the caller's workspace. An ID that exists in another
	// workspace gives exactly this error too, so existence never leaks across workspaces.
	ErrNotFound = errors.New("integration not found")
	// ErrConflict: the integration changed since the version the caller read (optimistic concurrency).
	ErrConflict = errors.New("integration was modified concurrently; reload it and retry")
	// ErrInvalid: the input failed validation. The error is a *ValidationError listing every problem.
	ErrInvalid = errors.New("invalid input")
	// ErrInactive: the integration is inactive, so it cannot be the default or receive a delivery.
	ErrInactive = errors.New("integration is inactive")
	// ErrProviderMismatch: a destination names a provider other than its integration's.
	ErrProviderMismatch = errors.New("provider does not match the integration")
	// ErrNoWorkspace: the caller (an API key not linked to a workspace) has no workspace.
	ErrNoWorkspace = errors.New("caller is not linked to a workspace")
	// ErrReconnectRequired: the stored OAuth grant was revoked or expired; the user must connect again.
	ErrReconnectRequired = errors.New("the connection was revoked or expired; reconnect the integration")
	// ErrSecretUnavailable: a stored secret could not be decrypted (wrong keyset or corrupt data).
	ErrSecretUnavailable = errors.New("stored credentials could not be decrypted")
	// ErrUnsupported: the operation is not available for this provider or configuration.
	ErrUnsupported = errors.New("operation not supported")
)

// Field error codes: stable, machine-readable reasons a field was rejected.
const (
	CodeRequired    = "required"     // the field is required and missing
	CodeInvalid     = "invalid"      // the value is malformed
	CodeNotAllowed  = "not_allowed"  // the field may not be set here (wrong provider, read-only)
	CodeTooLong     = "too_long"     // the value exceeds its length limit
	CodeDuplicate   = "duplicate"    // the same entry appears twice
	CodeNotFound    = "not_found"    // the referenced integration does not exist
	CodeInactive    = "inactive"     // the referenced integration is inactive
	CodeMismatch    = "mismatch"     // the value does not match the referenced integration
	CodeTooMany     = "too_many"     // more entries than allowed
	CodeNoWorkspace = "no_workspace" // the caller has no workspace
)

// FieldError is one problem with one input field. Field is the JSON path of the field
// ("config.bucket", "destinations[2].provider"). Message is safe to show to the client: it never
// contains the value of a secret field.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns "field: message".
func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError reports every problem found in one input at once. It matches ErrInvalid with
// errors.Is; where a problem also has a sentinel (a destination's integration not found, inactive,
// of another provider; a caller without workspace), errors.Is matches that sentinel too.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error lists the problems, one "field: message" each, separated by "; ".
func (e *ValidationError) Error() string {
	if len(e.Errors) == 0 {
		return "invalid input"
	}
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is matches ErrInvalid, and the sentinels that the field codes stand for.
func (e *ValidationError) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	for _, fe := range e.Errors {
		if s := codeSentinel(fe.Code); s != nil && s == target {
			return true
		}
	}
	return false
}

func codeSentinel(code string) error {
	switch code {
	case CodeNotFound:
		return ErrNotFound
	case CodeInactive:
		return ErrInactive
	case CodeMismatch:
		return ErrProviderMismatch
	case CodeNoWorkspace:
		return ErrNoWorkspace
	}
	return nil
}

// Field returns the first error for the named field, if any.
func (e *ValidationError) Field(name string) (FieldError, bool) {
	for _, fe := range e.Errors {
		if fe.Field == name {
			return fe, true
		}
	}
	return FieldError{}, false
}

// Problems collects field errors; its Err returns nil when there are none.
type Problems struct{ list []FieldError }

// Add records a problem with a field.
func (p *Problems) Add(field, code, message string) {
	p.list = append(p.list, FieldError{Field: field, Code: code, Message: message})
}

// Merge records the problems of err, a *ValidationError, with prefix prepended to their field
// names; any other non-nil error is recorded against prefix itself.
func (p *Problems) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		p.Add(prefix, CodeInvalid, err.Error())
		return
	}
	for _, fe := range ve.Errors {
		if prefix != "" {
			fe.Field = joinField(prefix, fe.Field)
		}
		p.list = append(p.list, fe)
	}
}

func joinField(prefix, field string) string {
	if field == "" {
		return prefix
	}
	if strings.HasPrefix(field, "[") {
		return prefix + field
	}
	return prefix + "." + field
}

// Len reports how many problems were recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err returns a *ValidationError with the recorded problems, or nil when there are none.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: append([]FieldError(nil), p.list...)}
}

// truncate shortens s to at most n bytes (on a rune boundary) for echoing in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
