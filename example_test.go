package outputs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// Create an R2 integration and show the view a client gets back: the secret is sealed at rest
// and only its masked hint is shown.
func ExampleService_CreateIntegration() {
	kr, err := crypto.NewInsecureDevelopmentKeyring() // production: crypto.ReadEncryptedKeyring with a KMS KEK
	if err != nil {
		panic(err)
	}
	svc, err := outputs.New(outputs.Options{Store: memstore.New(), Keyring: kr})
	if err != nil {
		panic(err)
	}
	caller := destination.Caller{WorkspaceID: "ws_123", UserID: "user_1"}
	v, err := svc.CreateIntegration(context.Background(), caller, outputs.CreateInput{
		Provider: destination.R2, Name: "Marketing R2", IsDefault: true,
		Config: destination.Config{
			Endpoint: "https://account.r2.cloudflarestorage.com", Bucket: "ilovevideoeditor-outputs",
			AccessKeyID: "access-key", SecretAccessKey: "a-very-secret-key-1234",
			PublicURL: "https://cdn.example.com", PathPrefix: "renders",
		},
	})
	if err != nil {
		panic(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v.Config)
	fmt.Println(v.Provider, v.IsDefault, v.Version)
	// Output:
	// {
	//   "bucket": "ilovevideoeditor-outputs",
	//   "accessKeyId": "access-key",
	//   "secretAccessKey": "••••1234",
	//   "endpoint": "https://account.r2.cloudflarestorage.com",
	//   "region": "auto",
	//   "publicUrl": "https://cdn.example.com",
	//   "pathPrefix": "renders/"
	// }
	// r2 true 1
}

// Resolve the destinations of a render's videoJSON when it is submitted: a bad destination fails
// before any rendering, with every problem positioned.
func ExampleService_ResolveDestinations() {
	kr, _ := crypto.NewInsecureDevelopmentKeyring()
	svc, _ := outputs.New(outputs.Options{Store: memstore.New(), Keyring: kr})
	caller := destination.Caller{WorkspaceID: "ws_123"}
	_, err := svc.ResolveDestinations(context.Background(), caller,
		[]byte(`{"name":"Promo","destinations":[{"integrationId":"018f0000-0000-7000-8000-000000000001","provider":"r2"}]}`))
	fmt.Println(err)
	// Output:
	// invalid input: destinations[0].integrationId: no integration with this ID in the caller's workspace
}

// Resolve a render's destinations when it is submitted, keep the plan with the render, and
// deliver it when the render is finished. The Uploader and CDN are in-memory stand-ins here
// (provider.Client and provider.NewCDN in production).
func ExampleService_Deliver() {
	ctx := context.Background()
	kr, _ := crypto.NewInsecureDevelopmentKeyring()
	svc, _ := outputs.New(outputs.Options{Store: memstore.New(), Keyring: kr, Uploader: &deliverytest.Uploader{}, Logger: slog.New(slog.DiscardHandler),
		Delivery: outputs.DeliveryOptions{CDN: &deliverytest.CDN{}, CDNKeyPrefix: "renders/"}})
	caller := destination.Caller{WorkspaceID: "ws_123", UserID: "user_1"}
	v, _ := svc.CreateIntegration(ctx, caller, outputs.CreateInput{Provider: destination.S3, Name: "Archive", IsDefault: true,
		Config: destination.Config{Bucket: "archive", Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "a-very-secret-key-1234", PathPrefix: "videos"}})

	targets, _ := svc.ResolveDestinations(ctx, caller, []byte(`{"name":"Promo"}`)) // omitted: the default
	plan := outputs.Plan{WorkspaceID: caller.WorkspaceID, RenderID: "r-42", FileName: "promo.mp4", Targets: targets}

	video := []byte("finished render bytes")
	d, err := svc.Deliver(ctx, plan, outputs.Source{ReaderAt: bytes.NewReader(video), Size: int64(len(video))})
	fmt.Println(d.Status, d.URL, err)
	for _, o := range d.Outputs {
		fmt.Println(o.IntegrationID == v.ID, o.Provider, o.OutputKey, o.OutputSizeBytes, o.Status)
	}
	// Output:
	// completed https://cdn.test/renders/r-42/promo.mp4 <nil>
	// true s3 videos/promo.mp4 21 completed
}
