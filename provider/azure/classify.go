package azure

import (
	"errors"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ErrorClassifier = (*Driver)(nil)

// ClassifyError classifies azcore response errors by their Azure error code, then by status.
func (d *Driver) ClassifyError(err error) (provider.Classification, bool) {
	var e *azcore.ResponseError
	if !errors.As(err, &e) {
		return provider.Classification{}, false
	}
	c, ok := classifyAzure(e)
	if ok && c.Transient && e.RawResponse != nil {
		c.RetryAfter = provider.RetryAfter(e.RawResponse.Header, time.Now())
	}
	return c, ok
}

func classifyAzure(e *azcore.ResponseError) (provider.Classification, bool) {
	d := provider.ProviderCode(e.ErrorCode)
	// Azure answers a wrong shared key with AuthenticationFailed; Azurite (and some Azure
	// Stack versions) with AuthorizationFailure whose message says authentication failed, while
	// the real AuthorizationFailure (network rules, SAS permissions) says "not authorized".
	if e.ErrorCode == "AuthorizationFailure" && strings.Contains(e.Error(), "failed to authenticate") {
		return provider.Classified(provider.CodeInvalidCredentials, false, d), true
	}
	switch e.ErrorCode {
	case "AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation", "InvalidAccountKey":
		return provider.Classified(provider.CodeInvalidCredentials, false, d), true
	case "AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch",
		"AuthorizationServiceMismatch", "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch",
		"KeyBasedAuthenticationNotPermitted", "AccountIsDisabled", "InsufficientAccountPermissions":
		return provider.Classified(provider.CodePermissionDenied, false, d), true
	case "ContainerNotFound", "ContainerBeingDeleted", "ResourceNotFound", "AccountNotFound":
		return provider.Classified(provider.CodeBucketNotFound, false, d), true
	case "UnsupportedHeader", "UnsupportedQueryParameter", "UnsupportedHttpVerb", "InvalidHeaderValue",
		"FeatureVersionMismatch", "InvalidQueryParameterValue", "UnsupportedXmlNode":
		return provider.Classified(provider.CodeProviderIncompatible, false, d), true
	case "Md5Mismatch", "Crc64Mismatch":
		return provider.Classified(destination.CodeChecksumMismatch, true, d), true
	case "OperationTimedOut":
		return provider.Classified(provider.CodeTimeout, true, d), true
	case "ServerBusy":
		return provider.Classified(destination.CodeThrottled, true, d), true
	case "InternalError":
		return provider.Classified(destination.CodeUnavailable, true, d), true
	}
	return provider.ByStatus(e.StatusCode, e.ErrorCode)
}
