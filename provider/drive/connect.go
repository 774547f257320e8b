package drive

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"golang.org/x/oauth2"
	drive "google.golang.org/api/drive/v3"
)

// Errors of the OAuth connection: client errors of the callback, of kind destination.ErrInvalid
// (errors.Is matches it too; a 400). None of them, nor any error the Connector returns, contains
// a token, an authorization code or the state.
var (
	// ErrStateInvalid: the state is not one this Connector sealed (forged, tampered with,
	// truncated, or sealed under another key).
	ErrStateInvalid error = &authError{"drive: the authorization state is invalid"}
	// ErrStateExpired: the state is authentic but older than its lifetime.
	ErrStateExpired error = &authError{"drive: the authorization state has expired; start again"}
	// ErrStateReplayed: the state was already used for a callback.
	ErrStateReplayed error = &authError{"drive: the authorization state was already used"}
	// ErrAccessDenied: the user refused access on Google's consent screen (error=access_denied).
	ErrAccessDenied error = &authError{"drive: the user denied access to Google Drive"}
	// ErrAuthorizationFailed: Google answered the callback with another error.
	ErrAuthorizationFailed error = &authError{"drive: Google reported an authorization error"}
	// ErrExchangeFailed: the authorization code could not be exchanged for tokens.
	ErrExchangeFailed error = &authError{"drive: exchanging the authorization code failed"}
	// ErrNoRefreshToken: Google returned no refresh token (offline access was not granted).
	ErrNoRefreshToken error = &authError{"drive: Google returned no refresh token"}
	// ErrScopeNotGranted: the user did not grant the Drive scope.
	ErrScopeNotGranted error = &authError{"drive: the Google Drive permission was not granted"}
)

// ErrCallerMismatch: the callback reached a signed-in caller other than the user and workspace
// that started the flow (a link forwarded to someone else, or login CSRF). It matches
// destination.ErrForbidden (a 403), and the state stays usable by its own user.
var ErrCallerMismatch = fmt.Errorf("drive: the Google Drive connection was started by another user or workspace: %w", destination.ErrForbidden)

// authError is the type of the connection's client errors.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// Is matches destination.ErrInvalid: a bad callback is the client's error.
func (e *authError) Is(target error) bool { return target == destination.ErrInvalid }

// MaxStateTTL is the longest lifetime of an authorization state.
const MaxStateTTL = 10 * time.Minute

// stateAAD binds sealed states to their purpose, so no other ciphertext of the same key opens as one.
var stateAAD = []byte("outputs/provider/drive/oauth-state/v1")

// StateSealer seals and opens authorization states with an AEAD. *crypto.Keyring implements it;
// use a keyset separate from the one that seals stored secrets.
type StateSealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// NonceStore makes states single-use.
type NonceStore interface {
	// Consume records nonce as used until expires and reports whether it was unused. It must be
	// atomic: of two concurrent calls with one nonce, only one gets true.
	Consume(ctx context.Context, nonce string, expires time.Time) (bool, error)
}

// MemoryNonceStore is a NonceStore for one process. Use a shared store (a database table with a
// unique key) when callbacks may reach several processes.
type MemoryNonceStore struct {
	mu   sync.Mutex
	used map[string]time.Time
	now  func() time.Time
}

// NewMemoryNonceStore returns an empty in-memory NonceStore.
func NewMemoryNonceStore() *MemoryNonceStore {
	return &MemoryNonceStore{used: map[string]time.Time{}, now: time.Now}
}

// Consume implements NonceStore. Expired nonces are forgotten (their states fail as expired).
func (m *MemoryNonceStore) Consume(_ context.Context, nonce string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for n, exp := range m.used {
		if now.After(exp) {
			delete(m.used, n)
		}
	}
	if _, ok := m.used[nonce]; ok {
		return false, nil
	}
	m.used[nonce] = expires
	return true, nil
}

// ConnectorOptions configures a Connector.
type ConnectorOptions struct {
	// OAuth is the web client: ClientID, ClientSecret, Endpoint (google.Endpoint) and
	// RedirectURL (the callback). Its Scopes are ignored; see Scopes. Required.
	OAuth *oauth2.Config
	// State seals authorization states. Required.
	State StateSealer
	// Nonces makes states single-use (default: a MemoryNonceStore).
	Nonces NonceStore
	// Scopes requested (default: drive.file, which reaches only files the app creates).
	Scopes []string
	// StateTTL is how long a state is valid (default and maximum MaxStateTTL).
	StateTTL time.Duration
	// Clock returns the current time (default time.Now).
	Clock destination.Clock
	// HTTPClient is used for the code exchange (default http.DefaultClient).
	HTTPClient *http.Client
}

// Connector runs the OAuth 2.0 authorization-code flow (PKCE, offline access) that connects a
// workspace's Google Drive.
type Connector struct {
	opts ConnectorOptions
}

// Connection is a completed authorization: who connected which workspace, and the refresh token
// to seal and store in the workspace's drive integration. It is destination.DriveConnection, so
// hosts that only consume it need not import this package.
type Connection = destination.DriveConnection

// NewConnector returns a Connector.
func NewConnector(opts ConnectorOptions) (*Connector, error) {
	if opts.OAuth == nil || opts.OAuth.ClientID == "" {
		return nil, errors.New("drive: ConnectorOptions.OAuth with a ClientID is required")
	}
	if opts.State == nil {
		return nil, errors.New("drive: ConnectorOptions.State is required")
	}
	if opts.Nonces == nil {
		opts.Nonces = NewMemoryNonceStore()
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = []string{drive.DriveFileScope}
	}
	if opts.StateTTL <= 0 || opts.StateTTL > MaxStateTTL {
		opts.StateTTL = MaxStateTTL
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Connector{opts: opts}, nil
}

// state is the sealed content of the OAuth state parameter.
type state struct {
	Workspace string `json:"w"`
	User      string `json:"u"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	Expires   int64  `json:"e"` // Unix seconds
}

func (c *Connector) config() *oauth2.Config {
	cfg := *c.opts.OAuth
	cfg.Scopes = c.opts.Scopes
	return &cfg
}

// AuthURL returns the Google authorization URL that connects the caller's workspace: offline
// access, a forced consent screen (so a reconnect gets a new refresh token), PKCE S256, and a
// sealed state naming the workspace and user.
func (c *Connector) AuthURL(ctx context.Context, caller destination.Caller) (string, error) {
	if caller.WorkspaceID == "" {
		return "", destination.ErrNoWorkspace
	}
	if caller.UserID == "" {
		return "", &destination.ValidationError{Errors: []destination.FieldError{{Field: "caller.userId",
			Code: destination.CodeRequired, Message: "connecting Google Drive needs a signed-in user"}}}
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	plain, err := json.Marshal(state{Workspace: caller.WorkspaceID, User: caller.UserID,
		Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]), Verifier: verifier,
		Expires: c.opts.Clock().Add(c.opts.StateTTL).Unix()})
	if err != nil {
		return "", err
	}
	sealed, err := c.opts.State.Seal(plain, stateAAD)
	if err != nil {
		return "", fmt.Errorf("drive: sealing the authorization state: %w", err)
	}
	return c.config().AuthCodeURL(base64.RawURLEncoding.EncodeToString(sealed),
		oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier)), nil
}

// Complete finishes the flow from the callback's state, code and error query parameters, for
// caller, the user signed in where the callback arrived. It verifies the state
// (ErrStateInvalid, ErrStateExpired), refuses a caller other than the user and workspace that
// started the flow (ErrCallerMismatch, before the state is used up or the code exchanged), uses
// the state up (ErrStateReplayed), then reports a provider error (ErrAccessDenied,
// ErrAuthorizationFailed), exchanges the code with the PKCE verifier (ErrExchangeFailed), and
// requires a refresh token (ErrNoRefreshToken) and the Drive scope (ErrScopeNotGranted).
func (c *Connector) Complete(ctx context.Context, caller destination.Caller, stateParam, code, errParam string) (*Connection, error) {
	st, err := c.openState(ctx, caller, stateParam)
	if err != nil {
		return nil, err
	}
	switch {
	case errParam == "access_denied":
		return nil, ErrAccessDenied
	case errParam != "":
		return nil, fmt.Errorf("%w (%s)", ErrAuthorizationFailed, safeCode(errParam))
	case code == "":
		return nil, fmt.Errorf("%w: the callback has no code", ErrExchangeFailed)
	}
	if c.opts.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, c.opts.HTTPClient)
	}
	cfg := c.config()
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w (%s)", ErrExchangeFailed, safeCode(re.ErrorCode))
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrExchangeFailed, ctx.Err())
		}
		return nil, fmt.Errorf("%w: the token endpoint could not be reached", ErrExchangeFailed)
	}
	if tok.RefreshToken == "" {
		return nil, ErrNoRefreshToken
	}
	granted := cfg.Scopes // RFC 6749 §5.1: an omitted scope means the requested one
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		granted = strings.Fields(s)
	}
	if !grantsDrive(cfg.Scopes, granted) {
		return nil, ErrScopeNotGranted
	}
	return &Connection{WorkspaceID: st.Workspace, UserID: st.User, RefreshToken: tok.RefreshToken, Scopes: granted}, nil
}

// openState verifies a state parameter, checks that caller started it and uses it up.
func (c *Connector) openState(ctx context.Context, caller destination.Caller, param string) (*state, error) {
	raw, err := base64.RawURLEncoding.DecodeString(param)
	if err != nil || len(raw) == 0 {
		return nil, ErrStateInvalid
	}
	plain, err := c.opts.State.Open(raw, stateAAD)
	if err != nil {
		return nil, ErrStateInvalid
	}
	var st state
	if err := json.Unmarshal(plain, &st); err != nil || st.Workspace == "" || st.User == "" || st.Nonce == "" || st.Verifier == "" {
		return nil, ErrStateInvalid
	}
	exp := time.Unix(st.Expires, 0)
	if !c.opts.Clock().Before(exp) {
		return nil, ErrStateExpired
	}
	if caller.WorkspaceID != st.Workspace || caller.UserID != st.User {
		return nil, ErrCallerMismatch
	}
	fresh, err := c.opts.Nonces.Consume(ctx, st.Nonce, exp)
	if err != nil {
		return nil, fmt.Errorf("drive: checking the authorization state: %w", err)
	}
	if !fresh {
		return nil, ErrStateReplayed
	}
	return &st, nil
}

// grantsDrive reports whether granted includes one of the requested Drive scopes.
func grantsDrive(requested, granted []string) bool {
	for _, s := range requested {
		if strings.HasPrefix(s, drive.DriveScope) && slices.Contains(granted, s) {
			return true
		}
	}
	return false
}

// safeCode keeps an OAuth error code printable and short (it comes from the network).
func safeCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 40 {
			break
		}
		if r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
