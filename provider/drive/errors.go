package drive

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"gocloud.dev/gcerrors"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

// Errors the driver returns; blob.Bucket methods report them with the matching gcerrors code.
var (
	// ErrNotFound: no file at the key (gcerrors.NotFound).
	ErrNotFound = errors.New("drive: object not found")
	// ErrExists: a write with IfNotExist found a file at the key (gcerrors.FailedPrecondition).
	ErrExists = errors.New("drive: object already exists")
	// ErrMetadataTooLarge: the blob's metadata and HTTP attributes do not fit in the file's
	// appProperties (gcerrors.InvalidArgument).
	ErrMetadataTooLarge = errors.New("drive: metadata too large for Drive appProperties")
	// ErrChecksum: the MD5 Drive computed differs from the bytes sent (gcerrors.Internal).
	ErrChecksum = errors.New("drive: uploaded content checksum mismatch")
	// ErrSessionLost: Drive forgot a resumable upload session (gcerrors.Internal); retry the whole upload.
	ErrSessionLost = errors.New("drive: resumable upload session expired or not found")
	// ErrUnimplemented: SignedURL; Drive has no signed URLs (gcerrors.Unimplemented).
	ErrUnimplemented = errors.New("drive: signed URLs are not supported")
)

// ReconnectError reports that the OAuth grant behind the bucket's credentials was revoked or has
// expired (the token endpoint answered invalid_grant): the user must connect Drive again. It
// matches destination.ErrReconnectRequired with errors.Is, and *oauth2.RetrieveError with
// errors.As. Its message never contains a token.
type ReconnectError struct {
	// Code is the OAuth error code ("invalid_grant").
	Code string
	err  error
}

// Error returns a message without credentials.
func (e *ReconnectError) Error() string {
	return "drive: " + destination.ErrReconnectRequired.Error() + " (" + e.Code + ")"
}

// Is matches destination.ErrReconnectRequired.
func (e *ReconnectError) Is(target error) bool { return target == destination.ErrReconnectRequired }

// Unwrap returns the token endpoint's error.
func (e *ReconnectError) Unwrap() error { return e.err }

// QuotaError reports that Drive refused a request for quota or rate reasons (403 or 429 with
// reason storageQuotaExceeded, dailyLimitExceeded, quotaExceeded, teamDriveFileLimitExceeded,
// userRateLimitExceeded, rateLimitExceeded or sharingRateLimitExceeded): not a missing
// permission. It wraps the *googleapi.Error (errors.As reaches it).
type QuotaError struct {
	// Reason is Drive's error reason.
	Reason string
	// Transient reports that Google asks to retry with backoff (the rate limits); a full
	// storage or a used-up daily quota is not fixed by retrying soon.
	Transient bool
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	err        error
}

// quotaReason describes each quota or rate reason: whether Google says to retry, and what the
// user can do.
var quotaReason = map[string]struct {
	transient bool
	code      string // the provider package's classification code
	detail    string
}{
	"storageQuotaExceeded":       {false, "quota_exceeded", "the Google Drive storage of the connected account is full; free space or upgrade its storage plan"},
	"teamDriveFileLimitExceeded": {false, "quota_exceeded", "the shared drive holds as many files as Google allows"},
	"dailyLimitExceeded":         {false, "quota_exceeded", "the application's daily Google Drive API quota is used up; try again tomorrow or raise the quota"},
	"quotaExceeded":              {false, "quota_exceeded", "a Google Drive API quota is used up; try again later or raise the quota"},
	"userRateLimitExceeded":      {true, "throttled", "Google Drive asked to slow down (per-user rate limit); retried with backoff"},
	"rateLimitExceeded":          {true, "throttled", "Google Drive asked to slow down (rate limit); retried with backoff"},
	"sharingRateLimitExceeded":   {true, "throttled", "Google Drive limits how fast files are shared; try again later"},
}

// Error says what was exceeded, without any response body.
func (e *QuotaError) Error() string {
	return "drive: " + quotaReason[e.Reason].detail + " (" + e.Reason + ")"
}

// Unwrap returns Drive's *googleapi.Error.
func (e *QuotaError) Unwrap() error { return e.err }

// ClassifyCode is the error's own classification for provider.Classify: "throttled"
// (transient) for rate limits, "quota_exceeded" for a full storage or a used-up quota, with an
// accurate, fixed detail.
func (e *QuotaError) ClassifyCode() (code string, transient bool, detail string) {
	q := quotaReason[e.Reason]
	return q.code, q.transient, q.detail
}

// RetryAfterHint is Google's Retry-After, for provider.Classify.
func (e *QuotaError) RetryAfterHint() time.Duration { return e.RetryAfter }

// classify turns an OAuth invalid_grant anywhere in err's chain into a *ReconnectError, and a
// quota or rate refusal into a *QuotaError.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var (
		rc *ReconnectError
		qe *QuotaError
		ge *googleapi.Error
	)
	if errors.As(err, &rc) || errors.As(err, &qe) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return &ReconnectError{Code: re.ErrorCode, err: re}
	}
	if errors.As(err, &ge) && (ge.Code == http.StatusForbidden || ge.Code == http.StatusTooManyRequests) {
		reason := ""
		for _, it := range ge.Errors {
			if _, ok := quotaReason[it.Reason]; ok {
				reason = it.Reason
				break
			}
		}
		if reason == "" && ge.Code == http.StatusTooManyRequests {
			reason = "rateLimitExceeded"
		}
		if reason != "" {
			return &QuotaError{Reason: reason, Transient: quotaReason[reason].transient, RetryAfter: retryAfter(err), err: err}
		}
	}
	return err
}

// errorCode maps an error from the driver to a gcerrors code.
func errorCode(err error) gcerrors.ErrorCode {
	switch {
	case err == nil:
		return gcerrors.OK
	case errors.Is(err, context.Canceled):
		return gcerrors.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return gcerrors.DeadlineExceeded
	case errors.Is(err, destination.ErrReconnectRequired):
		return gcerrors.PermissionDenied
	case errors.Is(err, ErrNotFound):
		return gcerrors.NotFound
	case errors.Is(err, ErrExists):
		return gcerrors.FailedPrecondition
	case errors.Is(err, ErrMetadataTooLarge), errors.Is(err, errInvalidKey):
		return gcerrors.InvalidArgument
	case errors.Is(err, ErrUnimplemented):
		return gcerrors.Unimplemented
	case errors.Is(err, ErrChecksum), errors.Is(err, ErrSessionLost):
		return gcerrors.Internal
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client", "access_denied":
			return gcerrors.PermissionDenied
		}
		return gcerrors.Unknown
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return gcerrors.Unknown
	}
	switch ge.Code {
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable:
		return gcerrors.InvalidArgument
	case http.StatusUnauthorized:
		return gcerrors.PermissionDenied
	case http.StatusForbidden:
		if isRateLimit(ge) || isQuota(ge) {
			return gcerrors.ResourceExhausted
		}
		return gcerrors.PermissionDenied
	case http.StatusNotFound, http.StatusGone:
		return gcerrors.NotFound
	case http.StatusConflict:
		return gcerrors.AlreadyExists
	case http.StatusPreconditionFailed:
		return gcerrors.FailedPrecondition
	case http.StatusTooManyRequests:
		return gcerrors.ResourceExhausted
	case http.StatusNotImplemented:
		return gcerrors.Unimplemented
	}
	if ge.Code >= 500 {
		return gcerrors.Internal
	}
	return gcerrors.Unknown
}
