package provider

import (
	"errors"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Codes of the delegated-credential failures.
const (
	// CodeAccessDenied: the platform may not assume the customer's role (trust policy, external
	// ID) or impersonate the customer's service account (IAM binding).
	CodeAccessDenied = "access_denied"
	// CodeCredentialsExpired: the credential (a SAS token) has expired.
	CodeCredentialsExpired = "credentials_expired"
)

// HealthReporter is an optional Driver interface: Health describes how in authenticates and
// how healthy its credential is, from its stored configuration alone (no secret is opened, no
// request is made). Client.Health returns it for views; Client.Test adds its warnings and
// expiry to the result and its known problems to a failure's message.
type HealthReporter interface {
	Health(in *destination.Integration, now time.Time) destination.Health
}

// Health returns the driver's description of in's credential, or nil when its driver does not
// report one.
func (c *Client) Health(in *destination.Integration) *destination.Health {
	if in == nil {
		return nil
	}
	hr, ok := c.drivers[in.Provider].(HealthReporter)
	if !ok {
		return nil
	}
	h := hr.Health(in, c.opts.Now())
	return &h
}

// ClassifiedError is an error a driver has classified itself (a refused role assumption, a
// refused impersonation): Classify returns its Class. Err is kept for errors.Is and errors.As;
// its text is not shown.
type ClassifiedError struct {
	Class Classification
	Err   error
}

// Error returns the classification's message.
func (e *ClassifiedError) Error() string { return e.Class.Message }

// Unwrap returns the underlying error.
func (e *ClassifiedError) Unwrap() error { return e.Err }

func classifiedByDriver(err error) (Classification, bool) {
	var ce *ClassifiedError
	if errors.As(err, &ce) {
		return ce.Class, true
	}
	return Classification{}, false
}

// applyHealth adds what h knows to a test result: expiry and warnings always, and on a failure
// the missing permissions or the expiry as the likely cause.
func applyHealth(res *destination.TestResult, h *destination.Health) {
	if h == nil {
		return
	}
	res.CredentialExpiresAt = h.ExpiresAt
	res.Warnings = append(res.Warnings, h.Warnings...)
	if res.OK {
		return
	}
	switch {
	case h.Expired:
		res.Code = CodeCredentialsExpired
		res.Message += "; the credential expired at " + h.ExpiresAt.UTC().Format(time.RFC3339) + ": create a new one"
	case h.MissingPermissions != "" && (res.Code == CodePermissionDenied || res.Code == CodeInvalidCredentials):
		res.Code = CodePermissionDenied
		res.Message += "; the credential lacks " + h.MissingPermissions
	}
}
