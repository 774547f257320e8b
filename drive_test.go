package outputs_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

const driveRedirect = "https://app.example.com/v1/integrations/drive/callback"

// newStateKeyring is the OAuth state keyset: separate from the secrets keyset.
func newStateKeyring() (*crypto.Keyring, error) { return crypto.NewInsecureDevelopmentKeyring() }

func newDriveHarness(t *testing.T, mut ...func(*outputs.Options)) (*harness, *drivetest.Server) {
	t.Helper()
	srv := drivetest.NewServer(drivetest.Options{})
	t.Cleanup(srv.Close)
	h := newHarness(t, append([]func(*outputs.Options){func(o *outputs.Options) {
		stateKeys, err := newStateKeyring()
		if err != nil {
			t.Fatal(err)
		}
		c, err := drive.NewConnector(drive.ConnectorOptions{OAuth: srv.OAuthConfig(driveRedirect), State: stateKeys, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		o.Drive = c
	}}, mut...)...)
	return h, srv
}

func connectDrive(t *testing.T, h *harness, srv *drivetest.Server, caller destination.Caller) (*destination.Integration, error) {
	t.Helper()
	u, err := h.svc.DriveAuthURL(context.Background(), caller)
	if err != nil {
		t.Fatal(err)
	}
	back, err := srv.Authorize(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	return h.svc.CompleteDrive(context.Background(), caller, q.Get("state"), q.Get("code"), q.Get("error"))
}

func TestDriveConnectionCreatesThenUpdates(t *testing.T) {
	h, srv := newDriveHarness(t)
	ctx := context.Background()
	v, err := connectDrive(t, h, srv, wsA)
	if err != nil {
		t.Fatal(err)
	}
	if v.Provider != destination.Drive || !v.IsActive || v.Name != "Google Drive" {
		t.Fatalf("%+v", v)
	}
	stored, _ := h.store.Get(ctx, "ws-a", v.ID)
	cfg, err := h.kr.Unseal(ctx, stored)
	if err != nil || cfg.DriveRefreshToken == "" {
		t.Fatalf("refresh token not sealed: %v", err)
	}
	first := cfg.DriveRefreshToken
	// The user picks a folder and renames it; a reconnect keeps ID, name and folder.
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Name: ptr("Team Drive"), Config: &destination.Config{DriveFolderID: "folder_1"}}); err != nil {
		t.Fatal(err)
	}
	v2, err := connectDrive(t, h, srv, wsA)
	if err != nil {
		t.Fatal(err)
	}
	if v2.ID != v.ID || v2.Name != "Team Drive" || v2.Config.DriveFolderID != "folder_1" {
		t.Fatalf("reconnect changed the integration: %+v", v2)
	}
	stored, _ = h.store.Get(ctx, "ws-a", v.ID)
	cfg, _ = h.kr.Unseal(ctx, stored)
	if cfg.DriveRefreshToken == first || cfg.DriveRefreshToken == "" {
		t.Fatal("reconnect did not store the new refresh token")
	}
	if list, _ := h.svc.ListIntegrations(ctx, wsA); len(list) != 1 {
		t.Fatalf("%d integrations after reconnect", len(list))
	}
	// Nothing the library emits carries a token.
	for _, tok := range srv.RefreshTokens() {
		if bytes.Contains(h.logs.Bytes(), []byte(tok)) || strings.Contains(v2.Config.String(), tok) {
			t.Fatal("refresh token leaked")
		}
	}
	// A rotated token is saved through the hook.
	if err := h.svc.SaveDriveToken(ctx, stored, "1//rotated-token"); err != nil {
		t.Fatal(err)
	}
	stored, _ = h.store.Get(ctx, "ws-a", v.ID)
	if cfg, _ := h.kr.Unseal(ctx, stored); cfg.DriveRefreshToken != "1//rotated-token" {
		t.Fatal("rotated token not stored")
	}
	// Drive cannot be created directly, and the refresh token cannot be set through the API.
	if _, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: destination.Drive, Name: "x"}); !errors.Is(err, destination.ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := outputs.DecodeUpdateInput([]byte(`{"config":{"driveRefreshToken":"x"}}`)); !errors.Is(err, destination.ErrInvalid) {
		t.Fatal(err)
	}
}

func TestDriveStateAttacks(t *testing.T) {
	h, srv := newDriveHarness(t)
	u, _ := h.svc.DriveAuthURL(context.Background(), wsA)
	back, err := srv.Authorize(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if _, err := h.svc.CompleteDrive(context.Background(), wsA, q.Get("state")+"x", q.Get("code"), ""); !errors.Is(err, drive.ErrStateInvalid) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := h.svc.CompleteDrive(context.Background(), wsA, q.Get("state"), q.Get("code"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CompleteDrive(context.Background(), wsA, q.Get("state"), q.Get("code"), ""); !errors.Is(err, drive.ErrStateReplayed) {
		t.Fatalf("replayed: %v", err)
	}
	if _, err := h.svc.CompleteDrive(context.Background(), wsA, q.Get("state"), "", "access_denied"); err == nil {
		t.Fatal("access_denied accepted")
	}
	if _, err := h.svc.DriveAuthURL(context.Background(), destination.Caller{APIKeyOnly: true}); !errors.Is(err, destination.ErrNoWorkspace) {
		t.Fatal(err)
	}
	plain := newHarness(t)
	if _, err := plain.svc.DriveAuthURL(context.Background(), wsA); !errors.Is(err, destination.ErrUnsupported) {
		t.Fatal(err)
	}
}

// heldCreate is a store whose Create of the integration created at hold waits for release.
type heldCreate struct {
	destination.Store
	hold    time.Time
	release chan struct{}
}

func (h *heldCreate) Create(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if in.CreatedAt.Equal(h.hold) {
		<-h.release
	}
	return h.Store.Create(ctx, in)
}

// TestDriveRacingCallbackOlderButLater: the callback whose integration is older (CreatedAt is
// taken before the insert) is stored only after the other callback has checked and returned:
// the older one removes the newer, so one drive integration is left.
func TestDriveRacingCallbackOlderButLater(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	tick := t0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(time.Millisecond)
		return tick
	}
	store := &heldCreate{Store: memstore.New(), release: make(chan struct{})}
	h, srv := newDriveHarness(t, func(o *outputs.Options) { o.Store, o.Clock = store, clock })
	var cbs [2][2]string
	for i := range cbs {
		u, err := h.svc.DriveAuthURL(context.Background(), wsA)
		if err != nil {
			t.Fatal(err)
		}
		back, err := srv.Authorize(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		cbs[i] = [2]string{back.Query().Get("state"), back.Query().Get("code")}
	}
	mu.Lock()
	store.hold = tick.Add(time.Millisecond) // the next integration created: the first callback's
	mu.Unlock()
	first := make(chan error, 1)
	go func() {
		_, err := h.svc.CompleteDrive(context.Background(), wsA, cbs[0][0], cbs[0][1], "")
		first <- err
	}()
	for { // the clock reached hold: the first callback took it as its CreatedAt
		mu.Lock()
		taken := !tick.Before(store.hold)
		mu.Unlock()
		if taken {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.svc.CompleteDrive(context.Background(), wsA, cbs[1][0], cbs[1][1], ""); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	list, _ := h.svc.ListIntegrations(context.Background(), wsA)
	if len(list) != 1 || !list[0].CreatedAt.Equal(store.hold) {
		t.Fatalf("%d drive integrations after the racing callbacks (%+v), want the older one only", len(list), list)
	}
}

// TestDriveConcurrentCallbacksConverge: racing callbacks for one workspace leave one drive
// integration.
func TestDriveConcurrentCallbacksConverge(t *testing.T) {
	h, srv := newDriveHarness(t)
	type cb struct{ state, code string }
	var cbs []cb
	for range 6 {
		u, err := h.svc.DriveAuthURL(context.Background(), wsA)
		if err != nil {
			t.Fatal(err)
		}
		back, err := srv.Authorize(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		cbs = append(cbs, cb{back.Query().Get("state"), back.Query().Get("code")})
	}
	var wg sync.WaitGroup
	for _, c := range cbs {
		wg.Go(func() {
			if _, err := h.svc.CompleteDrive(context.Background(), wsA, c.state, c.code, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, _ := h.svc.ListIntegrations(context.Background(), wsA)
	if len(list) != 1 {
		t.Fatalf("%d drive integrations after racing callbacks", len(list))
	}
}
