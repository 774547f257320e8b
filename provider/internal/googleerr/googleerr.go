// Package googleerr classifies the errors of Google's API client libraries (googleapi, oauth2)
// for the gcs and drive drivers.
package googleerr

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Classify classifies an OAuth token error or a googleapi.Error; ok is false for others.
func Classify(err error) (provider.Classification, bool) {
	var (
		re   *oauth2.RetrieveError
		gerr *googleapi.Error
	)
	switch {
	case errors.As(err, &re):
		switch re.ErrorCode {
		case "invalid_grant", "invalid_client", "unauthorized_client", "access_denied":
			return provider.Classified(provider.CodeInvalidCredentials, false, provider.ProviderCode(re.ErrorCode)), true
		}
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return provider.Classified(destination.CodeUnavailable, true, "the token service failed"), true
		}
		return provider.Classified(provider.CodeInvalidCredentials, false, provider.ProviderCode(re.ErrorCode)), true
	case errors.As(err, &gerr):
		reason := Reason(gerr)
		c, ok := provider.ByStatus(gerr.Code, reason)
		if !ok {
			return c, false
		}
		if gerr.Code == http.StatusForbidden && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded") {
			c = provider.Classified(destination.CodeThrottled, true, provider.ProviderCode(reason))
		}
		if c.Transient {
			c.RetryAfter = provider.RetryAfter(gerr.Header, time.Now())
		}
		return c, true
	}
	return provider.Classification{}, false
}

// Reason returns the first reason of a googleapi.Error's items, or "".
func Reason(e *googleapi.Error) string {
	for _, it := range e.Errors {
		if it.Reason != "" {
			return it.Reason
		}
	}
	return ""
}
