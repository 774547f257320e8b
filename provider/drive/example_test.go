package drive_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"gocloud.dev/blob"
)

// OpenBucket works with any authenticated HTTP client; here the fake's.
func ExampleOpenBucket() {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	ctx := context.Background()

	b, err := drive.OpenBucket(ctx, srv.Client(), "", &drive.Options{Endpoint: srv.Endpoint()})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "renders/campaigns/summer.mp4", []byte("video"), &blob.WriterOptions{ContentType: "video/mp4"}); err != nil {
		log.Fatal(err)
	}
	attrs, err := b.Attributes(ctx, "renders/campaigns/summer.mp4")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(attrs.Size, attrs.ContentType)
	for _, it := range srv.Items() {
		fmt.Println(it.Name)
	}
	// Output:
	// 5 video/mp4
	// renders
	// campaigns
	// summer.mp4
}

// A Connector runs the OAuth flow; the Service stores Connection.RefreshToken sealed in the
// workspace's drive integration, and a Driver opens it.
func ExampleConnector() {
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true})
	defer srv.Close()
	ctx := context.Background()
	states, err := crypto.NewInsecureDevelopmentKeyring() // a keyset only for OAuth states
	if err != nil {
		log.Fatal(err)
	}
	conn, err := drive.NewConnector(drive.ConnectorOptions{
		OAuth: srv.OAuthConfig("https://app.example.com/v1/integrations/drive/callback"),
		State: states,
	})
	if err != nil {
		log.Fatal(err)
	}
	caller := destination.Caller{WorkspaceID: "ws-1", UserID: "user-1"}
	authURL, err := conn.AuthURL(ctx, caller)
	if err != nil {
		log.Fatal(err)
	}
	// The user consents; Google redirects to the callback with state and code.
	callback, err := srv.Authorize(ctx, authURL)
	if err != nil {
		log.Fatal(err)
	}
	q := callback.Query()
	// The callback is authenticated: the signed-in caller must be the one who started.
	c, err := conn.Complete(ctx, caller, q.Get("state"), q.Get("code"), q.Get("error"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.WorkspaceID, c.UserID, c.Scopes)

	d := drive.NewDriver(drive.DriverOptions{OAuth: srv.OAuthConfig(""), Options: drive.Options{Endpoint: srv.Endpoint()}})
	in := &destination.Integration{ID: "int-1", WorkspaceID: c.WorkspaceID, Provider: destination.Drive}
	b, err := d.Open(ctx, in, destination.Config{DriveRefreshToken: c.RefreshToken}, srv.Client())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "render.mp4", []byte("video"), nil); err != nil {
		log.Fatal(err)
	}
	link, err := d.ObjectURL(ctx, b, in, "render.mp4")
	fmt.Println(link[:32], err)
	// Output:
	// ws-1 user-1 [https://www.googleapis.com/auth/drive.file]
	// https://drive.google.com/file/d/ <nil>
}
