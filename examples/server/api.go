package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive"
)

// maxBody bounds request bodies (a service-account key is a few KiB).
const maxBody = 64 << 10

// Authenticator maps a request to its caller. A real host checks a JWT or an API key here.
type Authenticator func(*http.Request) (destination.Caller, error)

// errUnauthenticated is returned by an Authenticator that cannot identify the caller.
var errUnauthenticated = errors.New("unauthenticated")

// api serves the documented REST API over an outputs.Service.
type api struct {
	svc  *outputs.Service
	auth Authenticator
	log  *slog.Logger
}

func newHandler(svc *outputs.Service, auth Authenticator, log *slog.Logger) http.Handler {
	a := &api{svc: svc, auth: auth, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/integrations", a.authed(a.list))
	mux.HandleFunc("POST /v1/integrations", a.authed(withBody(a, outputs.DecodeCreateInput, http.StatusCreated,
		func(r *http.Request, c destination.Caller, in outputs.CreateInput) (any, error) {
			return a.svc.CreateIntegration(r.Context(), c, in)
		})))
	mux.HandleFunc("GET /v1/integrations/{id}", a.authed(a.get))
	mux.HandleFunc("PATCH /v1/integrations/{id}", a.authed(withBody(a, outputs.DecodeUpdateInput, http.StatusOK,
		func(r *http.Request, c destination.Caller, in outputs.UpdateInput) (any, error) {
			return a.svc.UpdateIntegration(r.Context(), c, r.PathValue("id"), in)
		})))
	mux.HandleFunc("DELETE /v1/integrations/{id}", a.authed(a.delete))
	mux.HandleFunc("POST /v1/integrations/{id}/test", a.authed(a.test))
	mux.HandleFunc("GET /v1/integrations/drive/auth-url", a.authed(a.driveAuthURL))
	mux.HandleFunc("GET /v1/integrations/drive/callback", a.authed(a.driveCallback))
	mux.HandleFunc("GET /v1/destination", a.authed(a.getDefault))
	mux.HandleFunc("PUT /v1/destination", a.authed(withBody(a, outputs.DecodeCreateInput, http.StatusOK,
		func(r *http.Request, c destination.Caller, in outputs.CreateInput) (any, error) {
			return a.svc.PutDefault(r.Context(), c, in)
		})))
	mux.HandleFunc("DELETE /v1/destination", a.authed(a.deleteDefault))
	mux.HandleFunc("POST /v1/destination/test", a.authed(a.testDefault))
	mux.HandleFunc("POST /v1/renders/resolve", a.authed(a.resolve))
	return mux
}

type handler func(w http.ResponseWriter, r *http.Request, c destination.Caller)

func (a *api) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.auth(r)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: apiError{Code: "unauthenticated", Message: "missing or invalid credentials"}})
			return
		}
		h(w, r, c)
	}
}

func (a *api) list(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := a.svc.ListIntegrations(r.Context(), c)
	a.reply(w, r, http.StatusOK, map[string]any{"integrations": v}, err)
}

// withBody reads and decodes a JSON body, runs do with it and replies; any step's error is
// replied instead.
func withBody[T any](a *api, decode func([]byte) (T, error), status int,
	do func(r *http.Request, c destination.Caller, in T) (any, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, c destination.Caller) {
		body, err := readBody(w, r)
		var in T
		if err == nil {
			in, err = decode(body)
		}
		var v any
		if err == nil {
			v, err = do(r, c, in)
		}
		a.reply(w, r, status, v, err)
	}
}

func (a *api) get(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := a.svc.GetIntegration(r.Context(), c, r.PathValue("id"))
	a.reply(w, r, http.StatusOK, v, err)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	err := a.svc.DeleteIntegration(r.Context(), c, r.PathValue("id"))
	a.reply(w, r, http.StatusNoContent, nil, err)
}

func (a *api) test(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	res, err := a.svc.TestIntegration(r.Context(), c, r.PathValue("id"))
	a.reply(w, r, http.StatusOK, res, err)
}

func (a *api) getDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := a.svc.GetDefault(r.Context(), c)
	a.reply(w, r, http.StatusOK, v, err)
}

func (a *api) deleteDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	a.reply(w, r, http.StatusNoContent, nil, a.svc.DeleteDefault(r.Context(), c))
}

func (a *api) testDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	res, err := a.svc.TestDefault(r.Context(), c)
	a.reply(w, r, http.StatusOK, res, err)
}

// resolve checks a videoJSON's destinations without rendering: the targets it would deliver to.
func (a *api) resolve(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	body, err := readBody(w, r)
	if err != nil {
		a.reply(w, r, 0, nil, err)
		return
	}
	targets, err := a.svc.ResolveDestinations(r.Context(), c, body)
	type target struct {
		IntegrationID string               `json:"integrationId"`
		Provider      destination.Provider `json:"provider"`
		PathPrefix    string               `json:"pathPrefix"`
	}
	out := make([]target, len(targets))
	for i, t := range targets {
		out[i] = target{t.IntegrationID, t.Provider, t.Prefix}
	}
	a.reply(w, r, http.StatusOK, map[string]any{"destinations": out}, err)
}

func (a *api) driveAuthURL(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	u, err := a.svc.DriveAuthURL(r.Context(), c)
	a.reply(w, r, http.StatusOK, map[string]string{"url": u}, err)
}

// driveCallback is reached by the user's browser coming back from Google. It is authenticated
// like every request (the browser's session): the Service refuses a signed-in user other than
// the one the sealed state names (403), so a forwarded link cannot link someone else's Drive.
func (a *api) driveCallback(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	q := r.URL.Query()
	v, err := a.svc.CompleteDrive(r.Context(), c, q.Get("state"), q.Get("code"), q.Get("error"))
	a.reply(w, r, http.StatusOK, v, err)
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

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, &destination.ValidationError{Errors: []destination.FieldError{{Code: destination.CodeTooLong, Message: "request body too large or unreadable"}}}
	}
	return b, nil
}

type apiError struct {
	Code    string                   `json:"code"`
	Message string                   `json:"message"`
	Fields  []destination.FieldError `json:"fields,omitempty"`
}

type errorBody struct {
	Error apiError `json:"error"`
}

// reply writes v with status, or maps err to its HTTP status and a client-safe body.
func (a *api) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err == nil {
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
		return
	}
	var ve *destination.ValidationError
	if errors.As(err, &ve) {
		writeJSON(w, http.StatusBadRequest, errorBody{apiError{Code: "invalid", Message: "the request has invalid fields", Fields: ve.Errors}})
		return
	}
	kind := destination.Kind(err)
	st, ok := statuses[kind]
	switch {
	case kind == destination.ErrInvalid && isDriveAuthError(err):
		writeJSON(w, st.status, errorBody{apiError{Code: "authorization_failed", Message: err.Error()}}) // safe texts
	case ok:
		writeJSON(w, st.status, errorBody{apiError{Code: st.code, Message: st.message}})
	default: // a server fault: logged, never shown
		var pub interface{ PublicMessage() string }
		msg := "internal error"
		if errors.As(err, &pub) {
			msg = pub.PublicMessage()
		}
		a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{apiError{Code: "internal", Message: msg}})
	}
}

// statuses maps the client error kinds to HTTP statuses, by the table of the destination
// package's documentation; every other kind is a server fault (500).
var statuses = map[error]struct {
	status        int
	code, message string
}{
	destination.ErrInvalid:           {http.StatusBadRequest, "invalid", "the request is invalid"},
	destination.ErrNoWorkspace:       {http.StatusForbidden, "no_workspace", "the API key is not linked to a workspace"},
	destination.ErrForbidden:         {http.StatusForbidden, "forbidden", "not allowed for this user or workspace"},
	destination.ErrNotFound:          {http.StatusNotFound, "not_found", "not found"},
	destination.ErrConflict:          {http.StatusConflict, "conflict", destination.ErrConflict.Error()},
	destination.ErrInactive:          {http.StatusConflict, "inactive", destination.ErrInactive.Error()},
	destination.ErrProviderMismatch:  {http.StatusConflict, "provider_mismatch", destination.ErrProviderMismatch.Error()},
	destination.ErrReconnectRequired: {http.StatusConflict, "reconnect_required", destination.ErrReconnectRequired.Error()},
	destination.ErrUnsupported:       {http.StatusNotImplemented, "unsupported", "not available on this server"},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
