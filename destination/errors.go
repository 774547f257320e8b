package destination

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors: the kinds of error the library returns. They are disjoint: an error the
// library returns matches (errors.Is) at most one of them, so a host maps each to one HTTP status
// (see the table in the package documentation). An error that matches none of them (a
// context's, or one a host-supplied part returned unwrapped) is a server fault, like ErrInternal.
var (
	// ErrInvalid: the input failed validation. The error is a *ValidationError listing every
	// problem; each FieldError's Code says why (CodeNotFound for a destination naming an unknown
	// integration, CodeInactive, CodeMismatch, ...), but the error as a whole is only ErrInvalid.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: no such integration in the caller's workspace. An ID that exists in another
	// workspace gives exactly this error too, so existence never leaks across workspaces.
	ErrNotFound = errors.New("integration not found")
	// ErrConflict: the integration changed since the version the caller read (optimistic concurrency).
	ErrConflict = errors.New("integration was modified concurrently; reload it and retry")
	// ErrInactive: the integration is inactive, so it cannot be the default or receive a delivery.
	ErrInactive = errors.New("integration is inactive")
	// ErrProviderMismatch: an operation for one provider was asked of an integration of another.
	ErrProviderMismatch = errors.New("provider does not match the integration")
	// ErrNoWorkspace: the caller (an API key not linked to a workspace) has no workspace.
	ErrNoWorkspace = errors.New("caller is not linked to a workspace")
	// ErrForbidden: the caller is authenticated but may not do this, such as completing a Google
	// Drive connection that another user or workspace started.
	ErrForbidden = errors.New("the caller is not allowed to do this")
	// ErrReconnectRequired: the stored OAuth grant was revoked or expired; the user must connect again.
	ErrReconnectRequired = errors.New("the connection was revoked or expired; reconnect the integration")
	// ErrUnsupported: the operation is not available for this provider or configuration.
	ErrUnsupported = errors.New("operation not supported")
	// ErrSecretUnavailable: a stored secret could not be decrypted (wrong keyset or corrupt
	// data). A server fault: the client's request was fine.
	ErrSecretUnavailable = errors.New("stored credentials could not be decrypted")
	// ErrInternal: a server fault, not the client's doing: sealing a secret failed, the Store
	// failed, and the like. Its text is for logs; tell the client only that the server failed.
	ErrInternal = errors.New("internal error")
)

// Kinds returns every sentinel error, in the order of the package documentation's table.
func Kinds() []error {
	return []error{ErrInvalid, ErrNotFound, ErrConflict, ErrInactive, ErrProviderMismatch, ErrNoWorkspace,
		ErrForbidden, ErrReconnectRequired, ErrUnsupported, ErrSecretUnavailable, ErrInternal}
}

// Kind returns the sentinel err matches (errors.Is), or ErrInternal when it matches none: every
// error is exactly one kind. It returns nil for a nil err.
func Kind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range Kinds() {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrInternal
}

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
	// CodeSecretRequired: a field that decides where a stored secret is sent changed, so the
	// secret must be sent again (it is never re-targeted silently).
	CodeSecretRequired = "secret_required"
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

// ValidationError reports every problem found in one input at once. It matches ErrInvalid, and
// only ErrInvalid, with errors.Is: the codes of its FieldErrors say what is wrong with each field
// (a destination's integration not found, inactive, of another provider) without making the
// error another kind.
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

// Is matches ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

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
