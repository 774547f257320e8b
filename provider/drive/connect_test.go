package drive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/oauth2"
	drive "google.golang.org/api/drive/v3"
)

const redirectURL = "https://app.example.com/v1/integrations/drive/callback"

var alice = destination.Caller{WorkspaceID: "ws-1", UserID: "user-alice"}

func newKeyring(t *testing.T) *crypto.Keyring {
	t.Helper()
	k, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newConnector(t *testing.T, srv *drivetest.Server, opts ConnectorOptions) *Connector {
	t.Helper()
	opts.OAuth = srv.OAuthConfig(redirectURL)
	if opts.State == nil {
		opts.State = newKeyring(t)
	}
	c, err := NewConnector(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authorize runs AuthURL and the fake user's consent, returning the callback's parameters.
func authorize(t *testing.T, srv *drivetest.Server, c *Connector) (state, code, errParam string) {
	t.Helper()
	u, err := c.AuthURL(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	back, err := srv.Authorize(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	return q.Get("state"), q.Get("code"), q.Get("error")
}

func TestAuthURL(t *testing.T) {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	c := newConnector(t, srv, ConnectorOptions{})
	raw, err := c.AuthURL(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{"access_type": "offline", "prompt": "consent", "code_challenge_method": "S256",
		"scope": drive.DriveFileScope, "response_type": "code", "redirect_uri": redirectURL, "client_id": "fake-client-id"} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
	}
	st := q.Get("state")
	if st == "" || strings.Trim(st, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("state %q is not URL-safe base64", st)
	}
	if strings.Contains(raw, alice.WorkspaceID) || strings.Contains(raw, alice.UserID) {
		t.Error("the authorization URL shows the workspace or user in clear")
	}
	if _, err := c.AuthURL(context.Background(), destination.Caller{UserID: "u"}); !errors.Is(err, destination.ErrNoWorkspace) {
		t.Errorf("no workspace: got %v", err)
	}
	if _, err := c.AuthURL(context.Background(), destination.Caller{WorkspaceID: "w"}); !errors.Is(err, destination.ErrInvalid) {
		t.Errorf("no user: got %v", err)
	}
}

// TestOAuthEndToEnd connects Drive through the fake's consent screen and token endpoint, uploads
// with the refresh token, survives a refresh-token rotation, and reports a revoked grant as
// "reconnect required".
func TestOAuthEndToEnd(t *testing.T) {
	ctx := context.Background()
	// Access tokens live 5s, under oauth2's 10s expiry margin: every request refreshes, and
	// every refresh rotates the refresh token.
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true, RotateRefreshTokens: true, AccessTokenTTL: 5 * time.Second})
	defer srv.Close()
	c := newConnector(t, srv, ConnectorOptions{})

	state, code, errParam := authorize(t, srv, c)
	if errParam != "" {
		t.Fatalf("consent error %q", errParam)
	}
	conn, err := c.Complete(ctx, alice, state, code, "")
	if err != nil {
		t.Fatal(err)
	}
	if conn.WorkspaceID != alice.WorkspaceID || conn.UserID != alice.UserID || conn.RefreshToken == "" ||
		len(conn.Scopes) != 1 || conn.Scopes[0] != drive.DriveFileScope {
		t.Fatalf("connection %v", conn)
	}
	js, _ := json.Marshal(conn)
	for _, s := range []string{conn.String(), fmt.Sprintf("%v %+v %#v", conn, conn, conn), string(js)} {
		if strings.Contains(s, conn.RefreshToken) {
			t.Errorf("connection prints its refresh token: %s", s)
		}
	}

	// The code is single-use, and useless without the PKCE verifier.
	if _, err := srv.OAuthConfig(redirectURL).Exchange(ctx, code); err == nil {
		t.Error("the code was exchanged a second time, without a verifier")
	}

	var mu sync.Mutex
	stored := conn.RefreshToken
	in := &destination.Integration{ID: "int-1", WorkspaceID: conn.WorkspaceID, Provider: destination.Drive}
	d := NewDriver(DriverOptions{OAuth: srv.OAuthConfig(""), Options: Options{Endpoint: srv.Endpoint(), Retry: fastRetry},
		TokenRotated: func(_ context.Context, got *destination.Integration, rt string) error {
			if got != in {
				t.Error("TokenRotated got another integration")
			}
			mu.Lock()
			defer mu.Unlock()
			stored = rt
			return nil
		}})
	open := func() *blob.Bucket {
		mu.Lock()
		rt := stored
		mu.Unlock()
		b, err := d.Open(ctx, in, destination.Config{DriveRefreshToken: rt}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	if err := b.WriteAll(ctx, "renders/one.mp4", []byte("video"), nil); err != nil {
		t.Fatal(err)
	}
	link, err := d.ObjectURL(ctx, b, in, "renders/one.mp4")
	if err != nil || !strings.HasPrefix(link, "https://drive.google.com/file/d/") {
		t.Fatalf("ObjectURL = %q, %v", link, err)
	}
	mu.Lock()
	rotated := stored != conn.RefreshToken
	mu.Unlock()
	if !rotated {
		t.Fatal("the rotated refresh token was not handed to TokenRotated")
	}

	// The bucket keeps refreshing with the rotated token it holds.
	if _, err := b.ReadAll(ctx, "renders/one.mp4"); err != nil {
		t.Fatal(err)
	}
	// A new bucket opened from the stored (rotated) token works too.
	if _, err := open().ReadAll(ctx, "renders/one.mp4"); err != nil {
		t.Fatal(err)
	}

	// The user revokes access: the next refresh fails with invalid_grant.
	for _, rt := range srv.RefreshTokens() {
		srv.RevokeRefreshToken(rt)
	}
	err = b.WriteAll(ctx, "renders/two.mp4", []byte("video"), nil)
	if !errors.Is(err, destination.ErrReconnectRequired) {
		t.Fatalf("after revocation: got %v, want ErrReconnectRequired", err)
	}
	if gcerrors.Code(err) != gcerrors.PermissionDenied {
		t.Errorf("code %v, want PermissionDenied", gcerrors.Code(err))
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("the token endpoint's error is not reachable with errors.As: %v", err)
	}
	mu.Lock()
	for _, secret := range []string{conn.RefreshToken, stored, code, state} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a secret", err)
		}
	}
	mu.Unlock()
	if _, err := d.Open(ctx, in, destination.Config{}, nil); !errors.Is(err, destination.ErrReconnectRequired) {
		t.Errorf("no stored token: got %v", err)
	}
}

// TestStateAttacks checks that forged, tampered, foreign, expired and replayed states are each
// refused with their own error, before any code exchange.
func TestStateAttacks(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	c := newConnector(t, srv, ConnectorOptions{Clock: clock})

	state, code, _ := authorize(t, srv, c)
	raw := []byte(state)
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)/2] ^= 'A' ^ 'B'
	if bytes.Equal(tampered, raw) {
		t.Fatal("tampering did nothing")
	}
	other := newConnector(t, srv, ConnectorOptions{})
	foreign, _, _ := authorize(t, srv, other)

	for name, st := range map[string]string{
		"empty": "", "garbage": "not-a-state", "not base64": "%%%", "tampered": string(tampered),
		"truncated": state[:len(state)-4], "other key": foreign,
	} {
		if _, err := c.Complete(ctx, alice, st, code, ""); !errors.Is(err, ErrStateInvalid) {
			t.Errorf("%s state: got %v, want ErrStateInvalid", name, err)
		}
	}
	if srv.Calls("oauth.token") != 0 {
		t.Fatal("a bad state reached the token endpoint")
	}

	// Expired: the fake clock moves past the state's lifetime.
	now = now.Add(MaxStateTTL + time.Second)
	if _, err := c.Complete(ctx, alice, state, code, ""); !errors.Is(err, ErrStateExpired) {
		t.Errorf("expired state: got %v", err)
	}
	now = now.Add(-MaxStateTTL - time.Second)

	// Replayed: the first use succeeds, the second is refused even with a fresh code.
	if _, err := c.Complete(ctx, alice, state, code, ""); err != nil {
		t.Fatal(err)
	}
	_, code2, _ := authorize(t, srv, c)
	if _, err := c.Complete(ctx, alice, state, code2, ""); !errors.Is(err, ErrStateReplayed) {
		t.Errorf("replayed state: got %v", err)
	}
}

// TestCallbackErrors covers the provider's refusals and incomplete grants.
func TestCallbackErrors(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	c := newConnector(t, srv, ConnectorOptions{})

	cases := []struct {
		name    string
		consent drivetest.Consent
		want    error
	}{
		{"access denied", drivetest.Consent{Deny: true}, ErrAccessDenied},
		{"drive scope unticked", drivetest.Consent{Scopes: []string{"openid"}}, ErrScopeNotGranted},
		{"no refresh token", drivetest.Consent{NoRefreshToken: true}, ErrNoRefreshToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetConsent(tc.consent)
			defer srv.SetConsent(drivetest.Consent{})
			state, code, errParam := authorize(t, srv, c)
			conn, err := c.Complete(ctx, alice, state, code, errParam)
			if !errors.Is(err, tc.want) || conn != nil {
				t.Fatalf("got %v, %v; want %v", conn, err, tc.want)
			}
			if code != "" && strings.Contains(err.Error(), code) {
				t.Errorf("error %q contains the code", err)
			}
		})
	}
	t.Run("bad code", func(t *testing.T) {
		state, _, _ := authorize(t, srv, c)
		_, err := c.Complete(ctx, alice, state, "4/forged-code", "")
		if !errors.Is(err, ErrExchangeFailed) || strings.Contains(err.Error(), "forged-code") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("other provider error", func(t *testing.T) {
		state, _, _ := authorize(t, srv, c)
		_, err := c.Complete(ctx, alice, state, "", "server_error\n<script>")
		if !errors.Is(err, ErrAuthorizationFailed) || strings.ContainsAny(err.Error(), "<\n") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestAccessTokenRevoked: when Drive refuses an access token before it expires (401), the
// driver refreshes once and retries.
func TestAccessTokenRevoked(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true})
	defer srv.Close()
	d := NewDriver(DriverOptions{OAuth: srv.OAuthConfig(""), Options: Options{Endpoint: srv.Endpoint(), Retry: fastRetry, ChunkSize: 256 << 10}})
	in := &destination.Integration{ID: "i", WorkspaceID: "w", Provider: destination.Drive}
	b, err := d.Open(ctx, in, destination.Config{DriveRefreshToken: srv.IssueRefreshToken(drive.DriveFileScope)}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "a/one", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	srv.ExpireAccessTokens()
	if got, err := b.ReadAll(ctx, "a/one"); err != nil || string(got) != "1" {
		t.Fatalf("read after revocation of the access token: %q, %v", got, err)
	}
	// A resumable upload whose chunks meet a revoked access token.
	w, err := b.NewWriter(ctx, "a/two", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, randomReader(4, 300<<10)); err != nil {
		t.Fatal(err)
	}
	srv.ExpireAccessTokens()
	if _, err := io.Copy(w, randomReader(5, 300<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("oauth.token"); n != 3 {
		t.Errorf("%d token requests, want 3", n)
	}
}
