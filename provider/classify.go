package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/ilovevideoeditor/outputs/destination"
)

// The codes of a Classification, a destination.TestResult, a destination.UploadError and a
// failed destination.Output. The upload-only codes (source_size_mismatch, throttled, ...) are
// the destination.Code constants.
const (
	CodeOK                   = "ok"
	CodeInvalidCredentials   = "invalid_credentials"
	CodePermissionDenied     = "permission_denied"
	CodeBucketNotFound       = "bucket_not_found"
	CodeWrongRegion          = "wrong_region"
	CodeEndpointUnreachable  = "endpoint_unreachable"
	CodeTLSError             = "tls_error"
	CodeProviderIncompatible = "provider_incompatible"
	CodeTimeout              = "timeout"
	CodeReconnectRequired    = "reconnect_required"
	CodeQuotaExceeded        = "quota_exceeded" // a storage or API quota is used up
	CodeThrottled            = destination.CodeThrottled
	CodeUnknown              = "unknown"
)

// Classification is what Classify makes of an error.
type Classification struct {
	// Code is one of the Code constants or a destination.Code constant.
	Code string
	// Message is an actionable explanation built from fixed text and, at most, the provider's
	// short error code: it never contains a secret, a signature or a raw response body.
	Message string
	// Transient reports that trying again later may succeed (5xx, throttling, connection
	// resets, timeouts).
	Transient bool
	// RetryAfter is the provider's Retry-After hint, when it gave one.
	RetryAfter time.Duration
}

// UploadError returns the classification as a *destination.UploadError caused by err.
func (c Classification) UploadError(err error) *destination.UploadError {
	return &destination.UploadError{Code: c.Code, Message: c.Message, Transient: c.Transient, RetryAfter: c.RetryAfter, Err: err}
}

// ErrorClassifier is an optional Driver interface: ClassifyError classifies an error of the
// driver's own SDK (its API error types, status codes and provider error codes), and reports
// false for an error it does not recognize, which the Client then classifies by its generic
// rules (connection failures, timeouts, gcerrors codes). It keeps the provider SDKs out of this
// package.
type ErrorClassifier interface {
	ClassifyError(err error) (Classification, bool)
}

var messages = map[string]string{
	CodeOK:                             "the connection works",
	CodeInvalidCredentials:             "the storage provider rejected the credentials; check the key and secret and that they are still active",
	CodePermissionDenied:               "the credentials are valid but may not write or delete objects in this bucket; grant write (and delete) permission",
	CodeBucketNotFound:                 "the bucket or container does not exist, or these credentials cannot see it; check its name (and the account or endpoint)",
	CodeWrongRegion:                    "the bucket is in another region than the one configured; set the bucket's region",
	CodeEndpointUnreachable:            "the storage endpoint could not be reached; check the endpoint URL and that it is reachable from the internet",
	CodeTLSError:                       "the TLS connection to the storage endpoint failed; the endpoint needs a valid certificate for its host name",
	CodeProviderIncompatible:           "the storage provider rejected a request it does not support; check that the endpoint belongs to the chosen provider",
	CodeTimeout:                        "the storage provider did not answer in time; try again later",
	CodeReconnectRequired:              "the connection was revoked or expired; reconnect the integration",
	CodeUnknown:                        "the storage provider returned an unexpected error",
	CodeQuotaExceeded:                  "the storage provider refused the request because a quota is used up",
	destination.CodeThrottled:          "the storage provider asked to slow down; try again later",
	destination.CodeUnavailable:        "the storage provider failed or the connection to it broke; try again later",
	destination.CodeCanceled:           "the operation was cancelled",
	destination.CodeSourceSizeMismatch: "the source did not give the declared number of bytes; nothing was stored",
	destination.CodeSourceFailed:       "reading the file to upload failed; nothing was stored",
	destination.CodeChecksumMismatch:   "the storage provider holds other bytes than those sent",
	destination.CodeStalled:            "the upload made no progress for too long",
	destination.CodeInvalidKey:         "the object name cannot be stored as given",
	CodeAccessDenied:                   "the platform may not act as the customer's identity; check the trust policy or IAM binding shown with the integration",
	CodeCredentialsExpired:             "the credential has expired; create a new one",
}

// Classify turns any storage error into a code, a sanitized actionable message and whether a
// retry may help. A nil error is CodeOK. An error that is or wraps a *destination.UploadError
// keeps its classification. Provider SDK errors are understood only by their driver (see
// ErrorClassifier): Client methods classify through it; Classify alone gives such errors the
// generic treatment (connection failures, timeouts, gcerrors codes).
func Classify(err error) Classification { return classifyWith(err, nil) }

// classifyWith classifies err, asking drv first for the errors of its SDK.
func classifyWith(err error, drv any) Classification {
	if err == nil {
		return Classified(CodeOK, false, "")
	}
	if ue := destination.AsUploadError(err); ue != nil {
		return Classification{Code: ue.Code, Message: ue.Message, Transient: ue.Transient, RetryAfter: ue.RetryAfter}
	}
	var self SelfClassifier
	if errors.As(err, &self) {
		code, transient, detail := self.ClassifyCode()
		c := Classified(code, transient, detail)
		var hint RetryAfterHinter
		if errors.As(err, &hint) {
			c.RetryAfter = hint.RetryAfterHint()
		}
		return c
	}
	if cl, ok := classifiedByDriver(err); ok {
		return cl
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		code := CodeUnknown
		for _, f := range destination.AllSecretFields() {
			if ce.Field == string(f) {
				code = CodeInvalidCredentials
			}
		}
		return Classification{Code: code, Message: "the integration's configuration cannot be used: " + ce.Error()}
	}
	if c, ok := classifyGuard(err); ok {
		return c
	}
	if ec, ok := drv.(ErrorClassifier); ok {
		if c, ok := ec.ClassifyError(err); ok {
			return c
		}
	}
	if c, t, d, ok := classifyNet(err); ok {
		return Classified(c, t, d)
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return Classified(CodeBucketNotFound, false, "")
	case gcerrors.PermissionDenied:
		return Classified(CodePermissionDenied, false, "")
	case gcerrors.Unimplemented:
		return Classified(CodeProviderIncompatible, false, "")
	case gcerrors.ResourceExhausted:
		return Classified(destination.CodeThrottled, true, "")
	case gcerrors.Internal:
		return Classified(destination.CodeUnavailable, true, "")
	case gcerrors.DeadlineExceeded:
		return Classified(CodeTimeout, true, "")
	case gcerrors.Canceled:
		return Classified(destination.CodeCanceled, false, "")
	}
	return Classified(CodeUnknown, false, "")
}

// Classified returns the Classification of code with its fixed message, followed by detail in
// parentheses when detail is not empty. Drivers' classifiers build theirs with it; detail must
// never hold text of a response other than a ProviderCode.
func Classified(code string, transient bool, detail string) Classification {
	msg, ok := messages[code]
	if !ok {
		msg = messages[CodeUnknown]
	}
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return Classification{Code: code, Message: msg, Transient: transient}
}

var safeToken = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,63}$`)

// ProviderCode returns "provider code <c>" when c looks like a provider's error code (letters,
// digits, ".", "_", "-"; at most 64), else "": nothing else of a response ever reaches a
// message.
func ProviderCode(c string) string {
	if safeToken.MatchString(c) {
		return "provider code " + c
	}
	return ""
}

// SelfClassifier is implemented by driver errors that know their classification (a Drive quota
// refusal, drive.QuotaError): Classify asks them before reading the SDK error types. The detail
// must be fixed text.
type SelfClassifier interface {
	ClassifyCode() (code string, transient bool, detail string)
}

// RetryAfterHinter is implemented by errors that carry the provider's Retry-After hint.
type RetryAfterHinter interface {
	RetryAfterHint() time.Duration
}

func classifyGuard(err error) (Classification, bool) {
	switch {
	case errors.Is(err, destination.ErrReconnectRequired):
		return Classified(CodeReconnectRequired, false, ""), true
	case errors.Is(err, destination.ErrSecretUnavailable):
		return Classified(CodeInvalidCredentials, false, "the stored credentials could not be decrypted; enter them again"), true
	case errors.Is(err, ErrBlockedAddress), // *BlockedAddressError included
		// Some libraries (the OAuth token fetch among them) flatten the errors they wrap with %v,
		// so the guard's refusal is recognized by its text too.
		strings.Contains(err.Error(), blockedMessage):
		// Never where the endpoint resolves: that would map the host's internal DNS for tenants.
		return Classified(CodeEndpointUnreachable, false, "the endpoint is not allowed"), true
	}
	return Classification{}, false
}

// ByStatus classifies an HTTP status when the provider gave no better code; providerCode, when
// it looks like one, is named in the message. ok is false for status 0.
func ByStatus(status int, providerCode string) (c Classification, ok bool) {
	d := ProviderCode(providerCode)
	switch {
	case status == 0:
		return Classification{}, false
	case status == http.StatusUnauthorized:
		return Classified(CodeInvalidCredentials, false, d), true
	case status == http.StatusForbidden:
		return Classified(CodePermissionDenied, false, d), true
	case status == http.StatusNotFound:
		return Classified(CodeBucketNotFound, false, d), true
	case status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect:
		return Classified(CodeWrongRegion, false, d), true
	case status == http.StatusNotImplemented:
		return Classified(CodeProviderIncompatible, false, d), true
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return Classified(CodeTimeout, true, d), true
	case status == http.StatusTooManyRequests:
		return Classified(destination.CodeThrottled, true, d), true
	case status >= 500:
		return Classified(destination.CodeUnavailable, true, d), true
	}
	return Classified(CodeUnknown, false, d), true
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date, capped at one hour), or 0.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}

// classifyNet reads connection-level failures.
func classifyNet(err error) (code string, transient bool, detail string, ok bool) {
	var (
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		recHdr   tls.RecordHeaderError
		alertErr tls.AlertError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout, true, "", true
	case errors.Is(err, context.Canceled):
		return destination.CodeCanceled, false, "", true
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &recHdr), errors.As(err, &alertErr):
		return CodeTLSError, false, "", true
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout || dnsErr.IsTemporary {
			return CodeEndpointUnreachable, true, "the host name could not be resolved right now", true
		}
		return CodeEndpointUnreachable, false, "the host name does not resolve", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return CodeEndpointUnreachable, true, "connection refused", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CodeEndpointUnreachable, true, "no route to the host", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		// net.ErrClosed: net/http closed the connection under a request body it was writing,
		// because its reader saw the peer reset it (a request is never sent on a connection
		// closed on purpose while it is in use).
		return destination.CodeUnavailable, true, "the connection was reset", true
	case errors.As(err, &netErr) && netErr.Timeout():
		return CodeTimeout, true, "", true
	}
	// Text fallbacks for errors flattened with %v by a library.
	switch msg := err.Error(); {
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return CodeTLSError, false, "", true
	case strings.Contains(msg, "connection refused"):
		return CodeEndpointUnreachable, true, "connection refused", true
	case strings.Contains(msg, "no such host"):
		return CodeEndpointUnreachable, false, "the host name does not resolve", true
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline exceeded"):
		return CodeTimeout, true, "", true
	}
	return "", false, "", false
}

// ErrConfig is matched (errors.Is) by every *ConfigError.
var ErrConfig = errors.New("provider: unusable configuration")

// ConfigError reports an integration config a driver cannot use. Its Field and Message are
// safe to show: drivers never put a secret's value in them.
type ConfigError struct {
	Field   string // the config field, as in the API ("bucket", "gcsServiceAccountJson")
	Message string
}

// Error returns "config.<field>: <message>".
func (e *ConfigError) Error() string { return "config." + e.Field + ": " + e.Message }

// Is matches ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// BadConfig returns a *ConfigError for field.
func BadConfig(field, message string) error { return &ConfigError{Field: field, Message: message} }
