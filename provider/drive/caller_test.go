package drive

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// TestCompleteRefusesAnotherCaller: a state minted for one user, completed by another user or
// from another workspace, is refused with ErrCallerMismatch (destination.ErrForbidden) before the
// code is exchanged, and stays usable by its own user.
func TestCompleteRefusesAnotherCaller(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	c := newConnector(t, srv, ConnectorOptions{})
	state, code, _ := authorize(t, srv, c)
	for _, other := range []destination.Caller{
		{WorkspaceID: alice.WorkspaceID, UserID: "user-mallory"},
		{WorkspaceID: "ws-mallory", UserID: alice.UserID},
		{WorkspaceID: alice.WorkspaceID},
		{},
	} {
		conn, err := c.Complete(ctx, other, state, code, "")
		if conn != nil || !errors.Is(err, ErrCallerMismatch) || !errors.Is(err, destination.ErrForbidden) ||
			destination.Kind(err) != destination.ErrForbidden {
			t.Fatalf("completed as %+v: %v, %v; want ErrCallerMismatch", other, conn, err)
		}
	}
	conn, err := c.Complete(ctx, alice, state, code, "")
	if err != nil || conn.UserID != alice.UserID || conn.WorkspaceID != alice.WorkspaceID {
		t.Fatalf("its own user after refusals: %v, %v", conn, err)
	}
}

// blockingSaver blocks each save until release is closed and records the context it got.
type blockingSaver struct {
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	saved   []string
	ctxs    []context.Context
}

func (s *blockingSaver) SaveDriveToken(ctx context.Context, _ *destination.Integration, rt string) error {
	s.mu.Lock()
	s.ctxs = append(s.ctxs, ctx)
	s.mu.Unlock()
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = append(s.saved, rt)
	return nil
}

// TestRotatedTokenSavedOutsideTheLock: a rotated refresh token goes to the TokenSaver installed
// with SetTokenSaver (no DriverOptions.TokenRotated), under a context with a deadline, and a
// slow save does not hold the token source's lock.
func TestRotatedTokenSavedOutsideTheLock(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true, RotateRefreshTokens: true, AccessTokenTTL: 5 * time.Second})
	defer srv.Close()
	c := newConnector(t, srv, ConnectorOptions{})
	state, code, _ := authorize(t, srv, c)
	conn, err := c.Complete(ctx, alice, state, code, "")
	if err != nil {
		t.Fatal(err)
	}
	saver := &blockingSaver{started: make(chan struct{}, 1), release: make(chan struct{})}
	d := NewDriver(DriverOptions{OAuth: srv.OAuthConfig(""), Options: Options{Endpoint: srv.Endpoint(), Retry: fastRetry}})
	d.SetTokenSaver(saver)
	in := &destination.Integration{ID: "int-1", WorkspaceID: conn.WorkspaceID, Provider: destination.Drive}
	b, err := d.Open(ctx, in, destination.Config{DriveRefreshToken: conn.RefreshToken}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	var bk *bucket
	if !b.As(&bk) {
		t.Fatal("not a drive bucket")
	}
	done := make(chan error, 1)
	go func() { done <- b.WriteAll(ctx, "renders/one.mp4", []byte("video"), nil) }()
	select {
	case <-saver.started:
	case err := <-done:
		t.Fatalf("the write finished (%v) without saving the rotated token", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no save of the rotated token")
	}
	// While the save is in progress, the token source's lock is free.
	ts := tokenSourceOf(t, bk)
	locked := make(chan struct{})
	go func() { ts.invalidate(); close(locked) }()
	select {
	case <-locked:
	case <-time.After(5 * time.Second):
		t.Fatal("the token source's lock is held during the save")
	}
	close(saver.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	saver.mu.Lock()
	defer saver.mu.Unlock()
	if len(saver.saved) == 0 || saver.saved[0] == conn.RefreshToken {
		t.Fatalf("saved %d tokens", len(saver.saved))
	}
	for _, c := range saver.ctxs {
		if _, ok := c.Deadline(); !ok {
			t.Fatal("the save's context has no deadline")
		}
	}
}

// tokenSourceOf returns the token source of a bucket opened by Driver.Open.
func tokenSourceOf(t *testing.T, bk *bucket) *rotatingTokenSource {
	t.Helper()
	rt, ok := bk.hc.Transport.(*reauthTransport)
	if !ok {
		t.Fatalf("transport %T", bk.hc.Transport)
	}
	return rt.ts
}
