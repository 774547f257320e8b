package drive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"gocloud.dev/blob"
	"golang.org/x/oauth2"
	drive "google.golang.org/api/drive/v3"
)

// DriverOptions configures a Driver.
type DriverOptions struct {
	// OAuth is the OAuth client the refresh tokens were issued to: ClientID, ClientSecret and
	// Endpoint (google.Endpoint in production, drivetest.Server.OAuthEndpoint in tests).
	// Required.
	OAuth *oauth2.Config
	// Options are the bucket options: Drive endpoint, chunk size, retry and pacing, trash or
	// permanent delete.
	Options
	// LinkSharing makes ObjectURL first share the file with "anyone with the link" as reader.
	LinkSharing bool
	// TokenRotated, when set, is called when Google returns a new refresh token for in, so the
	// caller can seal and store it; it overrides the TokenSaver that outputs.Service installs
	// itself (SetTokenSaver), which is what a host normally relies on. If saving fails, the
	// request that caused the refresh fails and the next one tries to save again.
	TokenRotated func(ctx context.Context, in *destination.Integration, refreshToken string) error
	// TestingMode says that the OAuth app's publishing status is "Testing": Google then expires
	// its refresh tokens 7 days after consent, and views warn about it.
	TestingMode bool
	// TokenSaveTimeout bounds one save of a rotated refresh token (default 10s).
	TokenSaveTimeout time.Duration
}

// Driver opens Drive integrations as buckets. It has the method set of the provider package's
// Driver interface.
type Driver struct {
	opts  DriverOptions
	saver atomic.Pointer[destination.TokenSaver]

	mu     sync.Mutex
	shared map[string]*integrationState // integration ID → state shared by its buckets
}

// integrationState is what the buckets of one integration share: the folder cache (one folder
// creation per process) and the pacer (Drive's rate limits are per user).
type integrationState struct {
	folders *folderCache
	pacer   *pacer
}

// maxIntegrations bounds Driver's shared state.
const maxIntegrations = 4096

// NewDriver returns a Driver.
func NewDriver(opts DriverOptions) *Driver {
	if opts.TokenSaveTimeout <= 0 {
		opts.TokenSaveTimeout = 10 * time.Second
	}
	return &Driver{opts: opts, shared: map[string]*integrationState{}}
}

// SetTokenSaver makes ts persist the refresh tokens Google rotates (unless
// DriverOptions.TokenRotated is set). outputs.New calls it, through provider.Client, with the
// Service; it applies to buckets already open too.
func (d *Driver) SetTokenSaver(ts destination.TokenSaver) {
	if ts == nil {
		d.saver.Store(nil)
		return
	}
	d.saver.Store(&ts)
}

// saveToken persists a rotated refresh token of in, or does nothing when nothing is wired.
func (d *Driver) saveToken(ctx context.Context, in *destination.Integration, rt string) error {
	if d.opts.TokenRotated != nil {
		return d.opts.TokenRotated(ctx, in, rt)
	}
	if ts := d.saver.Load(); ts != nil && in != nil {
		return (*ts).SaveDriveToken(ctx, in, rt)
	}
	return nil
}

func (d *Driver) state(id string) *integrationState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.shared[id]
	if !ok {
		if len(d.shared) >= maxIntegrations {
			d.shared = map[string]*integrationState{}
		}
		st = &integrationState{folders: newFolderCache(), pacer: newPacer(d.opts.Retry)}
		d.shared[id] = st
	}
	return st
}

// Providers returns [destination.Drive].
func (d *Driver) Providers() []destination.Provider { return []destination.Provider{destination.Drive} }

// EventuallyConsistent implements provider.ConsistencyReporter: a file is found by a search of
// its folder, which may not show a file just written.
func (d *Driver) EventuallyConsistent() bool { return true }

// Open returns a bucket for the integration's Drive folder (cfg.DriveFolderID, or My Drive's
// root), authenticated with the unsealed refresh token cfg.DriveRefreshToken over hc (nil: the
// default client). The refresh token stays in the token source's memory; a rotated one is saved
// (SetTokenSaver, DriverOptions.TokenRotated). A revoked or expired grant makes calls fail with an error that
// matches destination.ErrReconnectRequired (gcerrors.PermissionDenied).
func (d *Driver) Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if d.opts.OAuth == nil {
		return nil, errors.New("drive: DriverOptions.OAuth is not set")
	}
	if cfg.DriveRefreshToken == "" {
		return nil, fmt.Errorf("drive: no refresh token stored: %w", destination.ErrReconnectRequired)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	// The token source keeps its context for every later refresh: it must outlive ctx.
	base := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	ts := &rotatingTokenSource{conf: d.opts.OAuth, ctx: base, last: cfg.DriveRefreshToken, saveTimeout: d.opts.TokenSaveTimeout,
		save: func(ctx context.Context, rt string) error { return d.saveToken(ctx, in, rt) }}
	ts.src = ts.fresh()
	client := &http.Client{Transport: &reauthTransport{base: &oauth2.Transport{Source: ts, Base: hc.Transport}, ts: ts},
		Timeout: hc.Timeout}
	b, err := openBucket(ctx, client, cfg.DriveFolderID, &d.opts.Options)
	if err != nil {
		return nil, err
	}
	if in != nil && in.ID != "" {
		st := d.state(in.WorkspaceID + "\x00" + in.ID)
		b.folders, b.pacer = st.folders, st.pacer
	}
	return blob.NewBucket(b), nil
}

// ObjectURL returns the file's webViewLink. With DriverOptions.LinkSharing it first gives
// "anyone with the link" read access; when that is refused (a Workspace policy can forbid it)
// the link is returned together with the error.
func (d *Driver) ObjectURL(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) (string, error) {
	attrs, err := b.Attributes(ctx, key)
	if err != nil {
		return "", err
	}
	var f *drive.File
	if !attrs.As(&f) {
		return "", errors.New("drive: ObjectURL needs a bucket opened by this package")
	}
	if !d.opts.LinkSharing {
		return f.WebViewLink, nil
	}
	var bk *bucket
	if !b.As(&bk) {
		return f.WebViewLink, errors.New("drive: ObjectURL needs a bucket opened by this package")
	}
	return f.WebViewLink, bk.share(ctx, f.Id)
}

// share gives anyone with the link read access to a file.
func (b *bucket) share(ctx context.Context, id string) error {
	err := b.pacer.call(ctx, func() error {
		_, err := b.svc.Permissions.Create(id, &drive.Permission{Type: "anyone", Role: "reader"}).
			SupportsAllDrives(true).Fields("id").Context(ctx).Do()
		return err
	})
	if err != nil {
		return fmt.Errorf("drive: sharing with anyone with the link: %w", err)
	}
	return nil
}

// rotatingTokenSource reports a changed refresh token to save, turns invalid_grant into a
// *ReconnectError, and can drop its access token when Drive refuses it.
type rotatingTokenSource struct {
	conf        *oauth2.Config
	ctx         context.Context // values only: it never ends
	save        func(ctx context.Context, refreshToken string) error
	saveTimeout time.Duration

	saveMu  sync.Mutex // one save at a time; never taken while holding mu
	mu      sync.Mutex
	src     oauth2.TokenSource
	last    string // the newest refresh token (what fresh refreshes with)
	pending string // a rotated refresh token not saved yet, or ""
}

// fresh returns a token source that refreshes with the newest refresh token. Call with mu held
// or before the source is shared.
func (s *rotatingTokenSource) fresh() oauth2.TokenSource {
	return s.conf.TokenSource(s.ctx, &oauth2.Token{RefreshToken: s.last})
}

// invalidate forgets the access token, so the next request refreshes.
func (s *rotatingTokenSource) invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = s.fresh()
}

// Token implements oauth2.TokenSource.
func (s *rotatingTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	src := s.src
	s.mu.Unlock()
	t, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return nil, &ReconnectError{Code: re.ErrorCode, err: re}
		}
		return nil, err
	}
	s.mu.Lock()
	if t.RefreshToken != "" && t.RefreshToken != s.last {
		// Google rotated it: the old one may be dead already, so it is the one to refresh with
		// from now on, saved or not.
		s.last, s.pending = t.RefreshToken, t.RefreshToken
	}
	pending := s.pending
	s.mu.Unlock()
	if pending == "" {
		return t, nil
	}
	if err := s.savePending(); err != nil {
		return nil, fmt.Errorf("drive: saving the rotated refresh token: %w", err)
	}
	return t, nil
}

// savePending saves the newest unsaved refresh token, if any: outside mu (a slow store never
// holds up token lookups or invalidate), one save at a time, under a deadline of its own. On
// failure the token stays pending, and the next Token tries again.
func (s *rotatingTokenSource) savePending() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	rt := s.pending
	s.mu.Unlock()
	if rt == "" { // saved by a concurrent caller meanwhile
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.saveTimeout)
	defer cancel()
	if err := s.save(ctx, rt); err != nil {
		return err
	}
	s.mu.Lock()
	if s.pending == rt {
		s.pending = ""
	}
	s.mu.Unlock()
	return nil
}

// reauthTransport retries a request once with a newly refreshed access token when Drive answers
// 401: Google can revoke an access token before it expires, and oauth2 alone would keep sending
// it until then.
type reauthTransport struct {
	base http.RoundTripper
	ts   *rotatingTokenSource
}

// RoundTrip implements http.RoundTripper.
func (t *reauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	t.ts.invalidate()
	return t.base.RoundTrip(retry)
}
