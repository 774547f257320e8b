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
	"strings"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/ilovevideoeditor/outputs/destination"
)

// The codes of a Classification, a destination.TestResult and a failed destination.Output.
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
	CodeThrottled            = "throttled"      // the provider asked to slow down
	CodeUnknown              = "unknown"
)

// Classification is what Classify makes of an error.
type Classification struct {
	// Code is one of the Code constants.
	Code string
	// Message is an actionable explanation built from fixed text and, at most, the provider's
	// short error code: it never contains a secret, a signature or a raw response body.
	Message string
	// Transient reports that trying again later may succeed (5xx, throttling, connection
	// resets, timeouts).
	Transient bool
}

var messages = map[string]string{
	CodeOK:                   "the connection works",
	CodeInvalidCredentials:   "the storage provider rejected the credentials; check the key and secret and that they are still active",
	CodePermissionDenied:     "the credentials are valid but may not write or delete objects in this bucket; grant write (and delete) permission",
	CodeBucketNotFound:       "the bucket or container does not exist, or these credentials cannot see it; check its name (and the account or endpoint)",
	CodeWrongRegion:          "the bucket is in another region than the one configured; set the bucket's region",
	CodeEndpointUnreachable:  "the storage endpoint could not be reached; check the endpoint URL and that it is reachable from the internet",
	CodeTLSError:             "the TLS connection to the storage endpoint failed; the endpoint needs a valid certificate for its host name",
	CodeProviderIncompatible: "the storage provider rejected a request it does not support; check that the endpoint belongs to the chosen provider",
	CodeTimeout:              "the storage provider did not answer in time; try again later",
	CodeReconnectRequired:    "the connection was revoked or expired; reconnect the integration",
	CodeAccessDenied:         "the platform may not act as the customer's identity; check the trust policy or IAM binding shown with the integration",
	CodeCredentialsExpired:   "the credential has expired; create a new one",
	CodeQuotaExceeded:        "the storage provider refused the request because a quota is used up",
	CodeThrottled:            "the storage provider asked to slow down; try again later",
	CodeUnknown:              "the storage provider returned an unexpected error",
}

// Classify turns any storage error into a code, a sanitized actionable message and whether a
// retry may help. A nil error is CodeOK.
func Classify(err error) Classification {
	if err == nil {
		return mk(CodeOK, false, "")
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
	code, transient, detail := classify(err)
	return mk(code, transient, detail)
}

func mk(code string, transient bool, detail string) Classification {
	msg := messages[code]
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return Classification{Code: code, Message: msg, Transient: transient}
}

// safeToken keeps a provider's error code only when it looks like one (letters, digits, ".",
// "_", "-"), so nothing else of a response ever reaches a message.

// expectingRegion reads the bucket's region from S3's AuthorizationHeaderMalformed message
// ("the region 'us-east-1' is wrong; expecting 'eu-west-1'").
var (
	expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]{2,32})'`)
	regionToken     = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*$`)
)

var safeToken = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,63}$`)

func providerCode(c string) string {
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

func classify(err error) (code string, transient bool, detail string) {
	var self SelfClassifier
	if errors.As(err, &self) {
		return self.ClassifyCode()
	}
	switch {
	case errors.Is(err, destination.ErrReconnectRequired):
		return CodeReconnectRequired, false, ""
	case errors.Is(err, destination.ErrSecretUnavailable):
		return CodeInvalidCredentials, false, "the stored credentials could not be decrypted; enter them again"
	case errors.Is(err, ErrBlockedAddress), // *BlockedAddressError included
		// Some libraries (the OAuth token fetch among them) flatten the errors they wrap with %v,
		// so the guard's refusal is recognized by its text too.
		strings.Contains(err.Error(), blockedMessage):
		// Never where the endpoint resolves: that would map the host's internal DNS for tenants.
		return CodeEndpointUnreachable, false, "the endpoint is not allowed"
	}
	if c, t, d, ok := classifyAPI(err); ok {
		return c, t, d
	}
	if c, t, d, ok := classifyNet(err); ok {
		return c, t, d
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return CodeBucketNotFound, false, ""
	case gcerrors.PermissionDenied:
		return CodePermissionDenied, false, ""
	case gcerrors.Unimplemented:
		return CodeProviderIncompatible, false, ""
	case gcerrors.ResourceExhausted, gcerrors.Internal:
		return CodeUnknown, true, ""
	case gcerrors.DeadlineExceeded:
		return CodeTimeout, true, ""
	case gcerrors.Canceled:
		return CodeUnknown, true, "the operation was canceled"
	}
	return CodeUnknown, false, ""
}

// classifyAPI reads the error types of the provider SDKs.
func classifyAPI(err error) (code string, transient bool, detail string, ok bool) {
	var (
		re    *oauth2.RetrieveError
		gerr  *googleapi.Error
		azerr *azcore.ResponseError
		api   smithy.APIError
		awsre *awshttp.ResponseError
	)
	switch {
	case errors.As(err, &re):
		switch re.ErrorCode {
		case "invalid_grant", "invalid_client", "unauthorized_client", "access_denied":
			return CodeInvalidCredentials, false, providerCode(re.ErrorCode), true
		}
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return CodeUnknown, true, "the token service failed", true
		}
		return CodeInvalidCredentials, false, providerCode(re.ErrorCode), true
	case errors.Is(err, storage.ErrBucketNotExist):
		return CodeBucketNotFound, false, "", true
	case errors.As(err, &gerr):
		return byStatus(gerr.Code, gcsReason(gerr))
	case errors.As(err, &azerr):
		return classifyAzure(azerr)
	case errors.As(err, &api):
		st, region := 0, ""
		if errors.As(err, &awsre) {
			st = awsre.HTTPStatusCode()
			if awsre.Response != nil {
				region = awsre.Response.Header.Get("X-Amz-Bucket-Region")
			}
		}
		if m := expectingRegion.FindStringSubmatch(api.ErrorMessage()); m != nil {
			region = m[1]
		}
		code, transient, detail, ok := classifyS3(api.ErrorCode(), st)
		if code == CodeWrongRegion && regionToken.MatchString(region) {
			detail = "the bucket is in " + region + "; " + detail
		}
		return code, transient, detail, ok
	case errors.As(err, &awsre):
		return byStatus(awsre.HTTPStatusCode(), "")
	}
	return "", false, "", false
}

func gcsReason(e *googleapi.Error) string {
	for _, it := range e.Errors {
		if it.Reason != "" {
			return it.Reason
		}
	}
	return ""
}

// byStatus classifies by HTTP status when the provider gave no better code.
func byStatus(status int, pc string) (string, bool, string, bool) {
	d := providerCode(pc)
	switch {
	case status == http.StatusUnauthorized:
		return CodeInvalidCredentials, false, d, true
	case status == http.StatusForbidden:
		return CodePermissionDenied, false, d, true
	case status == http.StatusNotFound:
		return CodeBucketNotFound, false, d, true
	case status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect:
		return CodeWrongRegion, false, d, true
	case status == http.StatusNotImplemented:
		return CodeProviderIncompatible, false, d, true
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return CodeTimeout, true, d, true
	case status == http.StatusTooManyRequests || status >= 500:
		return CodeUnknown, true, d, true
	case status == 0:
		return "", false, "", false
	}
	return CodeUnknown, false, d, true
}

func classifyS3(c string, status int) (string, bool, string, bool) {
	d := providerCode(c)
	switch c {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
		"InvalidSecurity", "XAdminUserNotFound", "InvalidClientTokenId", "UnrecognizedClientException":
		return CodeInvalidCredentials, false, d, true
	case "AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden":
		return CodePermissionDenied, false, d, true
	case "NoSuchBucket":
		return CodeBucketNotFound, false, d, true
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException",
		"InvalidRegion", "AuthorizationQueryParametersError", "MovedPermanently":
		return CodeWrongRegion, false, d, true
	case "NotImplemented", "XAmzContentSHA256Mismatch", "AccessControlListNotSupported", "InvalidDigest",
		"MissingContentLength", "UnsupportedHeader", "InvalidRequest", "BadDigest":
		return CodeProviderIncompatible, false, d, true
	case "InvalidArgument":
		return CodeProviderIncompatible, false, d, true
	case "RequestTimeout", "RequestTimeoutException":
		return CodeTimeout, true, d, true
	case "SlowDown", "ServiceUnavailable", "InternalError", "Throttling", "ThrottlingException", "RequestLimitExceeded":
		return CodeUnknown, true, d, true
	case "RequestTimeTooSkewed":
		return CodeUnknown, false, "the server clock is off (" + d + ")", true
	}
	if st, tr, _, ok := byStatus(status, c); ok {
		return st, tr, d, true
	}
	return CodeUnknown, false, d, true
}

func classifyAzure(e *azcore.ResponseError) (string, bool, string, bool) {
	d := providerCode(e.ErrorCode)
	// Azure answers a wrong shared key with AuthenticationFailed; Azurite (and some Azure
	// Stack versions) with AuthorizationFailure whose message says authentication failed, while
	// the real AuthorizationFailure (network rules, SAS permissions) says "not authorized".
	if e.ErrorCode == "AuthorizationFailure" && strings.Contains(e.Error(), "failed to authenticate") {
		return CodeInvalidCredentials, false, d, true
	}
	switch e.ErrorCode {
	case "AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation", "InvalidAccountKey":
		return CodeInvalidCredentials, false, d, true
	case "AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch",
		"AuthorizationServiceMismatch", "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch",
		"KeyBasedAuthenticationNotPermitted", "AccountIsDisabled", "InsufficientAccountPermissions":
		return CodePermissionDenied, false, d, true
	case "ContainerNotFound", "ContainerBeingDeleted", "ResourceNotFound", "AccountNotFound":
		return CodeBucketNotFound, false, d, true
	case "UnsupportedHeader", "UnsupportedQueryParameter", "UnsupportedHttpVerb", "InvalidHeaderValue",
		"FeatureVersionMismatch", "InvalidQueryParameterValue", "UnsupportedXmlNode":
		return CodeProviderIncompatible, false, d, true
	case "OperationTimedOut":
		return CodeTimeout, true, d, true
	case "ServerBusy", "InternalError":
		return CodeUnknown, true, d, true
	}
	return byStatus(e.StatusCode, e.ErrorCode)
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
		return CodeUnknown, true, "the operation was canceled", true
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
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF):
		return CodeUnknown, true, "the connection was reset", true
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
