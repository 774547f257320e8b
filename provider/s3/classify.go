package s3

import (
	"errors"
	"regexp"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ErrorClassifier = (*Driver)(nil)

// expectingRegion reads the bucket's region from S3's AuthorizationHeaderMalformed message
// ("the region 'us-east-1' is wrong; expecting 'eu-west-1'").
var (
	expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]{2,32})'`)
	regionToken     = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*$`)
)

// ClassifyError classifies the errors of aws-sdk-go-v2: S3 error codes first, then the HTTP
// status. The provider's Retry-After hint is kept for transient failures.
func (d *Driver) ClassifyError(err error) (provider.Classification, bool) { return classifyError(err) }

func classifyError(err error) (provider.Classification, bool) {
	var (
		api   smithy.APIError
		awsre *awshttp.ResponseError
	)
	hasResp := errors.As(err, &awsre)
	var c provider.Classification
	switch {
	case errors.As(err, &api):
		st, region := 0, ""
		if hasResp {
			st = awsre.HTTPStatusCode()
			if awsre.Response != nil {
				region = awsre.Response.Header.Get("X-Amz-Bucket-Region")
			}
		}
		if m := expectingRegion.FindStringSubmatch(api.ErrorMessage()); m != nil {
			region = m[1]
		}
		c = classifyS3(api.ErrorCode(), st)
		if c.Code == provider.CodeWrongRegion && regionToken.MatchString(region) {
			c.Message = provider.Classified(provider.CodeWrongRegion, false, "the bucket is in "+region+"; "+provider.ProviderCode(api.ErrorCode())).Message
		}
	case hasResp && awsre.HTTPStatusCode() >= 200 && awsre.HTTPStatusCode() < 300:
		// A success whose answer could not be read (cut off): the request may have worked.
		c = provider.Classified(destination.CodeUnavailable, true, "the answer was cut off")
	case hasResp:
		var ok bool
		if c, ok = provider.ByStatus(awsre.HTTPStatusCode(), ""); !ok {
			return c, false
		}
	default:
		return provider.Classification{}, false
	}
	if c.Transient && hasResp && awsre.Response != nil {
		c.RetryAfter = provider.RetryAfter(awsre.Response.Header, time.Now())
	}
	return c, true
}

func classifyS3(code string, status int) provider.Classification {
	d := provider.ProviderCode(code)
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
		"InvalidSecurity", "XAdminUserNotFound", "InvalidClientTokenId", "UnrecognizedClientException":
		return provider.Classified(provider.CodeInvalidCredentials, false, d)
	case "AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden":
		return provider.Classified(provider.CodePermissionDenied, false, d)
	case "NoSuchBucket":
		return provider.Classified(provider.CodeBucketNotFound, false, d)
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException",
		"InvalidRegion", "AuthorizationQueryParametersError", "MovedPermanently":
		return provider.Classified(provider.CodeWrongRegion, false, d)
	case "NotImplemented", "XAmzContentSHA256Mismatch", "AccessControlListNotSupported", "InvalidDigest",
		"MissingContentLength", "UnsupportedHeader", "InvalidRequest", "InvalidArgument":
		return provider.Classified(provider.CodeProviderIncompatible, false, d)
	case "BadDigest":
		// The bytes arrived damaged (Content-MD5 or checksum mismatch): sending them again may work.
		return provider.Classified(destination.CodeChecksumMismatch, true, d)
	case "RequestTimeout", "RequestTimeoutException":
		return provider.Classified(provider.CodeTimeout, true, d)
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests":
		return provider.Classified(destination.CodeThrottled, true, d)
	case "ServiceUnavailable", "InternalError", "InternalServerError":
		return provider.Classified(destination.CodeUnavailable, true, d)
	case "RequestTimeTooSkewed":
		c := provider.Classified(provider.CodeUnknown, false, "")
		c.Message += " (the server clock is off; " + d + ")"
		return c
	}
	if c, ok := provider.ByStatus(status, code); ok {
		return c
	}
	return provider.Classified(provider.CodeUnknown, false, d)
}
