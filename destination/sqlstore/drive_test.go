package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// TestDriveConnectionOverSQLStore runs the Google Drive OAuth connection twice against the Drive
// fake: the first creates the workspace's drive integration, the reconnect updates it in place
// with the new sealed refresh token, both through the SQL store.
func TestDriveConnectionOverSQLStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, _ *sql.DB, _ sqlstore.Dialect) {
		ctx := context.Background()
		srv := drivetest.NewServer(drivetest.Options{})
		t.Cleanup(srv.Close)
		kr, err := crypto.NewInsecureDevelopmentKeyring()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := drive.NewConnector(drive.ConnectorOptions{OAuth: srv.OAuthConfig("https://app.example.com/callback"),
			State: kr, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := outputs.New(outputs.Options{Store: s, Keyring: kr, Drive: conn})
		if err != nil {
			t.Fatal(err)
		}
		caller := destination.Caller{WorkspaceID: "ws_drive", UserID: "user_1"}
		connect := func() *destination.Integration {
			t.Helper()
			u, err := svc.DriveAuthURL(ctx, caller)
			if err != nil {
				t.Fatal(err)
			}
			back, err := srv.Authorize(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			q := back.Query()
			v, err := svc.CompleteDrive(ctx, caller, q.Get("state"), q.Get("code"), q.Get("error"))
			if err != nil {
				t.Fatalf("CompleteDrive: %v", err)
			}
			return v
		}
		token := func(id string) string {
			t.Helper()
			in, err := s.Get(ctx, caller.WorkspaceID, id)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := kr.Unseal(ctx, in)
			if err != nil || cfg.DriveRefreshToken == "" {
				t.Fatalf("no sealed refresh token: %v", err)
			}
			return cfg.DriveRefreshToken
		}
		first := connect()
		tok1 := token(first.ID)
		second := connect()
		if second.ID != first.ID || second.Version <= first.Version {
			t.Fatalf("reconnect did not update in place: %s v%d after %s v%d", second.ID, second.Version, first.ID, first.Version)
		}
		if tok2 := token(first.ID); tok2 == tok1 {
			t.Fatal("reconnect kept the old refresh token")
		}
		if l, err := s.List(ctx, caller.WorkspaceID); err != nil || len(l) != 1 {
			t.Fatalf("List = %d integrations, %v; want 1", len(l), err)
		}
	})
}
