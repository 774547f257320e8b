package outputs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// TestCompleteDriveRefusesAnotherCaller: a state minted for one user and completed by another
// signed-in user or workspace (a forwarded link, login CSRF) links nothing: ErrForbidden.
func TestCompleteDriveRefusesAnotherCaller(t *testing.T) {
	h, srv := newDriveHarness(t)
	ctx := context.Background()
	u, err := h.svc.DriveAuthURL(ctx, wsA)
	if err != nil {
		t.Fatal(err)
	}
	back, err := srv.Authorize(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	for _, other := range []destination.Caller{wsB, {WorkspaceID: wsA.WorkspaceID, UserID: "mallory"}, {WorkspaceID: wsA.WorkspaceID}} {
		v, err := h.svc.CompleteDrive(ctx, other, q.Get("state"), q.Get("code"), q.Get("error"))
		if v != nil || destination.Kind(err) != destination.ErrForbidden {
			t.Fatalf("completed as %+v: %v, %v; want ErrForbidden", other, v, err)
		}
	}
	for _, c := range []destination.Caller{wsA, wsB} {
		if list, _ := h.svc.ListIntegrations(ctx, c); len(list) != 0 {
			t.Fatalf("%s has %d integrations after refused callbacks", c.WorkspaceID, len(list))
		}
	}
	if _, err := h.svc.CompleteDrive(ctx, destination.Caller{}, q.Get("state"), q.Get("code"), ""); !errors.Is(err, destination.ErrNoWorkspace) {
		t.Fatalf("no workspace: %v", err)
	}
	// Its own user completes it.
	if v, err := h.svc.CompleteDrive(ctx, wsA, q.Get("state"), q.Get("code"), q.Get("error")); err != nil || v.Provider != destination.Drive {
		t.Fatalf("own user: %v, %v", v, err)
	}
}

// TestServiceSavesRotatedDriveTokens: with no TokenRotated hook, the Service persists the refresh
// tokens Google rotates itself (outputs.New wires it into the provider.Client).
func TestServiceSavesRotatedDriveTokens(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true, RotateRefreshTokens: true, AccessTokenTTL: 5 * time.Second})
	t.Cleanup(srv.Close)
	h := newHarness(t, func(o *outputs.Options) {
		client, err := provider.New(o.Keyring, provider.Options{AllowedNetworks: emulator.Loopback},
			drive.NewDriver(drive.DriverOptions{OAuth: srv.OAuthConfig(""), Options: drive.Options{Endpoint: srv.Endpoint()}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		o.Uploader = client
		stateKeys, _ := newStateKeyring()
		o.Drive, err = drive.NewConnector(drive.ConnectorOptions{OAuth: srv.OAuthConfig(driveRedirect), State: stateKeys, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
	})
	v, err := connectDrive(t, h, srv, wsA)
	if err != nil {
		t.Fatal(err)
	}
	token := func() string {
		in, _ := h.store.Get(ctx, wsA.WorkspaceID, v.ID)
		cfg, err := h.kr.Unseal(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.DriveRefreshToken
	}
	first := token()
	if res, err := h.svc.TestIntegration(ctx, wsA, v.ID); err != nil || !res.OK {
		t.Fatalf("test: %+v %v", res, err)
	}
	if got := token(); got == first || got == "" {
		t.Fatal("the rotated refresh token was not saved")
	}
}
