// Command quickstart runs one whole delivery with no services to install: an in-process
// S3-compatible server stands in for Cloudflare R2 (this example only), a local directory for the
// platform CDN, the in-memory store and a freshly generated development keyset.
//
//	go run ./examples/quickstart
//
// It creates an r2 integration marked default, submits a render whose videoJSON names it as a
// destination, delivers testdata/render.mp4 to the CDN and the bucket at once, prints the render
// status exactly as the API documents it, and reads the object back from the bucket.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob/fileblob"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

func main() {
	file := flag.String("file", "testdata/render.mp4", "the finished render to deliver")
	verbose := flag.Bool("v", false, "log what the library does (to stderr)")
	flag.Parse()
	if err := run(context.Background(), *file, *verbose, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file string, verbose bool, out io.Writer) error {
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	// 1. Stand-ins for the outside world: an S3-compatible bucket and the platform CDN.
	const bucket = "ilovevideoeditor-outputs"
	s3backend := s3mem.New()
	if err := s3backend.CreateBucket(bucket); err != nil {
		return err
	}
	s3srv := httptest.NewServer(gofakes3.New(s3backend).Server())
	defer s3srv.Close()
	cdnDir, err := os.MkdirTemp("", "outputs-quickstart-cdn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cdnDir)
	cdnBase, _ := url.Parse("https://cdn.ilovevideoeditor.com/download")
	cdn, err := fileblob.OpenBucket(cdnDir, &fileblob.Options{URLSigner: fileblob.NewURLSignerHMAC(cdnBase, []byte("quickstart-signing-key"))})
	if err != nil {
		return err
	}
	defer cdn.Close()

	// 2. The library: a keyring (development keyset), a store, the providers and the Service.
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		return err
	}
	providers, err := provider.New(kr, provider.Options{
		// The stand-in server listens on loopback, which the SSRF guard refuses unless allowed.
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:          log,
	}, s3.NewDriver(s3.Options{}))
	if err != nil {
		return err
	}
	defer providers.Close()
	cdnUp, err := provider.NewCDN(cdn, provider.CDNOptions{})
	if err != nil {
		return err
	}
	svc, err := outputs.New(outputs.Options{
		Store: memstore.New(), Keyring: kr, Uploader: providers, Logger: log,
		AllowInsecureEndpoints: true, // the stand-in speaks http
		Delivery:               outputs.DeliveryOptions{CDN: cdnUp, CDNKeyPrefix: "renders/"},
	})
	if err != nil {
		return err
	}
	caller := destination.Caller{WorkspaceID: "ws_quickstart", UserID: "user_1"}

	// 3. Configure an r2 integration, marked default (POST /v1/integrations).
	integ, err := svc.CreateIntegration(ctx, caller, outputs.CreateInput{
		Provider: destination.R2, Name: "Marketing R2", IsDefault: true,
		Config: destination.Config{
			Endpoint: s3srv.URL, Region: "auto", Bucket: bucket,
			AccessKeyID: "quickstart-access-key", SecretAccessKey: "quickstart-secret-key-0001",
			PublicURL: "https://cdn.example.com", PathPrefix: "renders/",
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "# The integration, as GET /v1/integrations/{id} shows it (the secret is sealed; only a hint is shown):")
	if err := printJSON(out, integ); err != nil {
		return err
	}
	res, err := svc.TestIntegration(ctx, caller, integ.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n# POST /v1/integrations/{id}/test: ok=%v code=%s\n", res.OK, res.Code)

	// 4. Submit a render whose videoJSON names the destination: resolved before any rendering.
	videoJSON := fmt.Sprintf(`{"name":"Product Promo","layers":[],
		"destinations":[{"integrationId":%q,"provider":"r2","pathPrefix":"campaigns/summer-2026/"}]}`, integ.ID)
	targets, err := svc.ResolveDestinations(ctx, caller, []byte(videoJSON))
	if err != nil {
		return err
	}
	// The plan is data: a render service stores it with the render row (or enqueues it) and
	// delivers it when the render is finished, perhaps on another worker.
	plan := outputs.Plan{WorkspaceID: caller.WorkspaceID, RenderID: "018f3c2e-7b1a-7c4d-9e2f-5a6b7c8d9e0f",
		FileName: "render.mp4", Targets: targets}
	fmt.Fprintln(out, "\n# The stored delivery plan (no secret in it):")
	if err := printJSON(out, plan); err != nil {
		return err
	}

	// 5. The render is finished: deliver it to the CDN and every destination at once.
	src, closer, err := outputs.FileSource(file)
	if err != nil {
		return fmt.Errorf("%w (run from the repository root, or pass -file)", err)
	}
	defer closer.Close()
	status, err := svc.Deliver(ctx, plan, src)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\n# The render status (GET /v1/renders/{id}):")
	if err := printJSON(out, status); err != nil {
		return err
	}

	// 6. The file really is in the bucket, byte for byte.
	obj, err := s3backend.GetObject(bucket, status.Outputs[0].OutputKey, nil)
	if err != nil {
		return fmt.Errorf("the object is not in the bucket: %w", err)
	}
	defer obj.Contents.Close()
	got, err := io.ReadAll(obj.Contents)
	if err != nil {
		return err
	}
	want, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n# In the bucket: s3://%s/%s, %d bytes, sha256 %x, identical to %s: %v\n",
		bucket, status.Outputs[0].OutputKey, len(got), sha256.Sum256(got), file, bytes.Equal(got, want))
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the object in the bucket differs from %s", file)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
