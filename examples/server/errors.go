package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive"
)

// Errors of the server itself (not of the library).
var (
	// errUnauthenticated: no or unknown credentials (401 with WWW-Authenticate).
	errUnauthenticated = errors.New("unauthenticated")
	// errRenderNotFound: no such render in the caller's workspace (another workspace's reads the same).
	errRenderNotFound = fmt.Errorf("render not found: %w", destination.ErrNotFound)
	// errRenderBusy: the render is still being delivered.
	errRenderBusy = errors.New("the render is still being delivered; wait until it is completed or failed")
	// errNotRoute: no route for the path (404), errMethod: the path exists but not for this method (405).
	errNotRoute = errors.New("no such endpoint")
	errMethod   = errors.New("method not allowed on this endpoint")
)

// stateError is a request refused because of the resource's state (409), with its own code.
type stateError struct {
	code   string
	fields []destination.FieldError
}

func (e *stateError) Error() string { return e.fields[0].Message }

// apiError is the one shape of every error answer: {"error": {"code", "message", "fields",
// "requestId"}}.
type apiError struct {
	Code      string                   `json:"code"`
	Message   string                   `json:"message"`
	Fields    []destination.FieldError `json:"fields,omitempty"`
	RequestID string                   `json:"requestId,omitempty"`
}

type errorBody struct {
	Error apiError `json:"error"`
}

// codeStatus is the documented mapping of error.code to HTTP status (README, openapi.yaml).
var codeStatus = map[string]int{
	"invalid": 400, "authorization_failed": 400, "unauthenticated": 401, "no_workspace": 403, "forbidden": 403,
	"not_found": 404, "method_not_allowed": 405, "conflict": 409, "inactive": 409, "reconnect_required": 409,
	"is_default": 409, "render_busy": 409, "provider_mismatch": 409, "too_large": 413, "internal": 500, "secret_unavailable": 500,
	"unsupported": 501, "timeout": 504,
}

// httpError maps any error of the library or of the server to its HTTP status and client-safe
// error body. It is the only place that does so, and it follows the table of the destination
// package's documentation (one status per error kind, destination.Kind), adding the server's own
// errors; codeStatus is the resulting table (README, openapi.yaml). A validation error is 400
// invalid with every field listed, whatever the fields' codes (a destination naming another
// workspace's integration is a 400 whose field has the code not_found, as the library documents).
// internal reports a server fault, to be logged and never shown.
func httpError(err error) (status int, body apiError, internal bool) {
	var (
		ve  *destination.ValidationError
		se  *stateError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, apiError{Code: "too_large",
			Message: fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit)}, false
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized, apiError{Code: "unauthenticated", Message: "missing or invalid credentials: send Authorization: Bearer <token>"}, false
	case errors.Is(err, drive.ErrCallerMismatch):
		return http.StatusForbidden, apiError{Code: "forbidden", Message: "this Google authorization was started by another user or workspace; start it again while signed in as that user"}, false
	case errors.Is(err, errNotRoute):
		return http.StatusNotFound, apiError{Code: "not_found", Message: errNotRoute.Error()}, false
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: errMethod.Error()}, false
	case errors.Is(err, errRenderBusy):
		return http.StatusConflict, apiError{Code: "render_busy", Message: errRenderBusy.Error()}, false
	case errors.As(err, &se):
		return http.StatusConflict, apiError{Code: se.code, Message: se.Error(), Fields: se.fields}, false
	case errors.Is(err, errRenderNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: "render not found"}, false
	case errors.As(err, &ve) && hasNoWorkspace(ve):
		// the caller, not the body, is the problem: as on every other endpoint
		return http.StatusForbidden, apiError{Code: "no_workspace", Message: kinds[destination.ErrNoWorkspace].message, Fields: ve.Errors}, false
	case errors.As(err, &ve):
		return http.StatusBadRequest, apiError{Code: "invalid", Message: "the request has invalid fields", Fields: ve.Errors}, false
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, apiError{Code: "timeout", Message: "the operation timed out"}, true
	}
	kind := destination.Kind(err)
	if kind == destination.ErrInvalid && isDriveAuthError(err) {
		return http.StatusBadRequest, apiError{Code: "authorization_failed", Message: err.Error()}, false // safe texts
	}
	if k, ok := kinds[kind]; ok {
		return codeStatus[k.code], apiError{Code: k.code, Message: k.message}, codeStatus[k.code] >= 500
	}
	msg := "internal error"
	var pub interface{ PublicMessage() string }
	if errors.As(err, &pub) {
		msg = pub.PublicMessage()
	}
	return http.StatusInternalServerError, apiError{Code: "internal", Message: msg}, true
}

func hasNoWorkspace(ve *destination.ValidationError) bool {
	for _, fe := range ve.Errors {
		if fe.Code == destination.CodeNoWorkspace {
			return true
		}
	}
	return false
}

// kinds gives each library error kind its code and client message (destination's table);
// ErrInternal and anything unknown are "internal".
var kinds = map[error]struct{ code, message string }{
	destination.ErrInvalid:           {"invalid", "the request is invalid"},
	destination.ErrNoWorkspace:       {"no_workspace", "the API key is not linked to a workspace; use a workspace API key or a user token"},
	destination.ErrForbidden:         {"forbidden", "not allowed for this user or workspace"},
	destination.ErrNotFound:          {"not_found", "integration not found"},
	destination.ErrConflict:          {"conflict", destination.ErrConflict.Error()},
	destination.ErrInactive:          {"inactive", destination.ErrInactive.Error()},
	destination.ErrProviderMismatch:  {"provider_mismatch", destination.ErrProviderMismatch.Error()},
	destination.ErrReconnectRequired: {"reconnect_required", destination.ErrReconnectRequired.Error()},
	destination.ErrUnsupported:       {"unsupported", "not available on this server"},
	destination.ErrSecretUnavailable: {"secret_unavailable", destination.ErrSecretUnavailable.Error()},
}

// isDriveAuthError reports the Drive connection's client-facing errors (their texts are safe).
func isDriveAuthError(err error) bool {
	for _, e := range []error{drive.ErrStateInvalid, drive.ErrStateExpired, drive.ErrStateReplayed, drive.ErrAccessDenied,
		drive.ErrAuthorizationFailed, drive.ErrExchangeFailed, drive.ErrNoRefreshToken, drive.ErrScopeNotGranted} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
