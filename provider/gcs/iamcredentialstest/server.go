// Package iamcredentialstest is an in-process fake of Google's IAM Credentials API
// generateAccessToken, for tests of GCS integrations that impersonate the customer's service
// account (provider/gcs with Config.GCSImpersonateServiceAccount).
//
// It speaks the real JSON API: POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken
// with {"scope": [...], "lifetime": "3600s"}, authorized by an OAuth bearer token, answered with
// {"accessToken", "expireTime"} or Google's error shape ({"error": {"code", "message",
// "status"}}): 401 UNAUTHENTICATED for a wrong bearer, 400 INVALID_ARGUMENT for a bad scope or
// lifetime, and 403 PERMISSION_DENIED when the service account does not grant the caller
// roles/iam.serviceAccountTokenCreator or does not exist (Google answers both alike). It
// accepts only the platform's bearer token, and only for the accounts in Options.Grants.
//
// It is written by hand because no IAM Credentials implementation runs locally. The tokens it
// mints are accepted by fake-gcs-server, which accepts any bearer token: tests check the token
// arrived by recording requests.
package iamcredentialstest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// PlatformToken is the bearer token the platform presents: the only one accepted.
	PlatformToken string
	// Grants lists the service accounts (emails) that grant the platform
	// roles/iam.serviceAccountTokenCreator.
	Grants []string
	// Lifetime, when set, replaces the requested lifetime of minted tokens.
	Lifetime time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Call is one generateAccessToken request the server answered.
type Call struct {
	Email    string
	Scope    []string
	Lifetime string
	// Status is "" for success, else the error status returned.
	Status string
	// Token is the minted access token, on success.
	Token string
}

// Server is a running fake IAM Credentials API.
type Server struct {
	// URL is the endpoint (http://127.0.0.1:<port>), for gcs.Options.IAMCredentialsEndpoint.
	URL  string
	srv  *httptest.Server
	opts Options

	mu    sync.Mutex
	calls []Call
}

// NewServer starts the fake on loopback. Close it when done.
func NewServer(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var call Call
	fail := func(code int, status, msg string) {
		call.Status = status
		s.record(call)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	}
	const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":generateAccessToken"
	path := r.URL.EscapedPath()
	if r.Method != http.MethodPost || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		fail(http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	call.Email, _ = url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(path, prefix), suffix))
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.opts.PlatformToken == "" || subtle.ConstantTimeCompare([]byte(bearer), []byte(s.opts.PlatformToken)) != 1 {
		fail(http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	var in struct {
		Scope    []string `json:"scope"`
		Lifetime string   `json:"lifetime"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	call.Scope, call.Lifetime = in.Scope, in.Lifetime
	if len(in.Scope) == 0 {
		fail(http.StatusBadRequest, "INVALID_ARGUMENT", "Scope required.")
		return
	}
	lifetime := time.Hour
	if in.Lifetime != "" {
		d, err := time.ParseDuration(in.Lifetime)
		if err != nil || !strings.HasSuffix(in.Lifetime, "s") || d <= 0 || d > time.Hour {
			fail(http.StatusBadRequest, "INVALID_ARGUMENT", "The lifetime must be at most 3600s.")
			return
		}
		lifetime = d
	}
	granted := false
	for _, g := range s.opts.Grants {
		granted = granted || g == call.Email
	}
	if !granted {
		fail(http.StatusForbidden, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
		return
	}
	if s.opts.Lifetime > 0 {
		lifetime = s.opts.Lifetime
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	call.Token = "ya29.fake-" + hex.EncodeToString(b)
	s.record(call)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": call.Token,
		"expireTime": s.opts.Now().Add(lifetime).UTC().Format(time.RFC3339)})
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}
