package drivetest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Consent is how the fake user answers the authorization screen.
type Consent struct {
	// Deny makes the user refuse: the redirect carries error=access_denied.
	Deny bool
	// Scopes, when not nil, are the scopes the user grants (Google's granular consent lets a user
	// untick some); nil grants every requested scope.
	Scopes []string
	// NoRefreshToken withholds the refresh token even for offline access.
	NoRefreshToken bool
}

type grant struct {
	clientID, redirectURI, challenge string
	scopes                           []string
	offline                          bool
	expires                          time.Time
	used                             bool
}

type refreshGrant struct {
	clientID string
	scopes   []string
	revoked  bool
}

type oauthState struct {
	consent   Consent
	consented map[string]bool // client IDs the user already consented to
	codes     map[string]*grant
	refresh   map[string]*refreshGrant
	access    map[string]time.Time // access token → expiry
}

func (o *oauthState) init() {
	o.consented, o.codes = map[string]bool{}, map[string]*grant{}
	o.refresh, o.access = map[string]*refreshGrant{}, map[string]time.Time{}
}

// OAuthEndpoint is the server's OAuth 2.0 endpoint, to use in an oauth2.Config instead of
// google.Endpoint.
func (s *Server) OAuthEndpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.srv.URL + "/o/oauth2/auth", TokenURL: s.srv.URL + "/token",
		AuthStyle: oauth2.AuthStyleInParams}
}

// OAuthConfig returns an oauth2.Config for the server's client with the given redirect URL and scopes.
func (s *Server) OAuthConfig(redirectURL string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: s.opts.ClientID, ClientSecret: s.opts.ClientSecret,
		Endpoint: s.OAuthEndpoint(), RedirectURL: redirectURL, Scopes: scopes}
}

// SetConsent sets how the fake user answers later authorization requests.
func (s *Server) SetConsent(c Consent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.consent = c
}

// Authorize plays the user's browser: it opens authURL (an authorization URL for this server),
// and returns the redirect the server answers with, whose query carries code and state (or error
// and state).
func (s *Server) Authorize(ctx context.Context, authURL string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	hc := *s.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("drivetest: authorization answered %s", resp.Status)
	}
	return url.Parse(resp.Header.Get("Location"))
}

// IssueRefreshToken returns a refresh token for the configured client with the given scopes, as
// if a user had completed the authorization flow.
func (s *Server) IssueRefreshToken(scopes ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := "1//" + newID(60)
	s.oauth.refresh[rt] = &refreshGrant{clientID: s.opts.ClientID, scopes: scopes}
	return rt
}

// RevokeRefreshToken revokes a refresh token: refreshing with it then fails with invalid_grant.
// Access tokens already issued stay valid until they expire, as on Google.
func (s *Server) RevokeRefreshToken(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.oauth.refresh[rt]; g != nil {
		g.revoked = true
	}
}

// ExpireAccessTokens makes every issued access token invalid, forcing clients to refresh.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.access = map[string]time.Time{}
}

// RefreshTokens lists the refresh tokens that are still valid.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for rt, g := range s.oauth.refresh {
		if !g.revoked {
			out = append(out, rt)
		}
	}
	return out
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.oauth.access[tok]
	return ok && s.opts.Clock().Before(exp)
}

// handleAuthorize is the authorization endpoint: the fake user answers at once, by redirect.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != s.opts.ClientID || err != nil || !redirect.IsAbs() {
		http.Error(w, "Error 400: invalid_request (unknown client or bad redirect_uri)", http.StatusBadRequest)
		return
	}
	if q.Get("response_type") != "code" {
		http.Error(w, "Error 400: unsupported_response_type", http.StatusBadRequest)
		return
	}
	challenge := q.Get("code_challenge")
	if challenge != "" && q.Get("code_challenge_method") != "S256" {
		http.Error(w, "Error 400: invalid_request (code_challenge_method must be S256)", http.StatusBadRequest)
		return
	}
	requested := strings.Fields(q.Get("scope"))
	if len(requested) == 0 {
		http.Error(w, "Error 400: invalid_request (missing scope)", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	s.mu.Lock()
	c := s.oauth.consent
	if c.Deny {
		back.Set("error", "access_denied")
	} else {
		granted := requested
		if c.Scopes != nil {
			granted = c.Scopes
		}
		first := !s.oauth.consented[s.opts.ClientID]
		s.oauth.consented[s.opts.ClientID] = true
		code := "4/" + newID(40)
		s.oauth.codes[code] = &grant{clientID: s.opts.ClientID, redirectURI: q.Get("redirect_uri"),
			challenge: challenge, scopes: granted, expires: s.opts.Clock().Add(10 * time.Minute),
			// Google issues a refresh token for offline access on first consent, or when the
			// consent screen was forced (prompt=consent).
			offline: !c.NoRefreshToken && q.Get("access_type") == "offline" && (first || strings.Contains(q.Get("prompt"), "consent"))}
		back.Set("code", code)
		back.Set("scope", strings.Join(granted, " "))
	}
	s.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

var errClient = errors.New("invalid client")

// clientAuth checks the client credentials, sent in the body or with HTTP Basic auth.
func (s *Server) clientAuth(r *http.Request) error {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		return errClient
	}
	return nil
}

// handleToken is the token endpoint: authorization_code (with PKCE) and refresh_token grants.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, 400, "invalid_request", "Malformed request.")
		return
	}
	if err := s.clientAuth(r); err != nil {
		tokenError(w, 401, "invalid_client", "The OAuth client was not found.")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Clock()
	resp := map[string]any{"token_type": "Bearer", "expires_in": int(s.opts.AccessTokenTTL / time.Second)}
	var scopes []string
	switch f.Get("grant_type") {
	case "authorization_code":
		g := s.oauth.codes[f.Get("code")]
		switch {
		case g == nil || g.used || now.After(g.expires):
			tokenError(w, 400, "invalid_grant", "Malformed auth code.")
			return
		case g.redirectURI != f.Get("redirect_uri"):
			tokenError(w, 400, "redirect_uri_mismatch", "Bad Request")
			return
		case g.challenge != "" && f.Get("code_verifier") == "":
			tokenError(w, 400, "invalid_grant", "Missing code verifier.")
			return
		case g.challenge != "" && s256(f.Get("code_verifier")) != g.challenge:
			tokenError(w, 400, "invalid_grant", "Invalid code verifier.")
			return
		}
		g.used = true
		scopes = g.scopes
		if g.offline {
			rt := "1//" + newID(60)
			s.oauth.refresh[rt] = &refreshGrant{clientID: g.clientID, scopes: g.scopes}
			resp["refresh_token"] = rt
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		g := s.oauth.refresh[rt]
		if g == nil || g.revoked {
			tokenError(w, 400, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		scopes = g.scopes
		if s.opts.RotateRefreshTokens {
			g.revoked = true
			nrt := "1//" + newID(60)
			s.oauth.refresh[nrt] = &refreshGrant{clientID: g.clientID, scopes: g.scopes}
			resp["refresh_token"] = nrt
		}
	default:
		tokenError(w, 400, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	at := "ya29." + newID(60)
	s.oauth.access[at] = now.Add(s.opts.AccessTokenTTL)
	resp["access_token"] = at
	resp["scope"] = strings.Join(scopes, " ")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
