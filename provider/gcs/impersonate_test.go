package gcs_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/gcs/iamcredentialstest"
)

const (
	platformToken = "ya29.PLATFORM-token-PLANTED"
	platformSA    = "outputs-delivery@platform-project.iam.gserviceaccount.com"
	customerSA    = "renders@customer-project.iam.gserviceaccount.com"
)

func impersonation(t *testing.T, grants ...string) (*provider.Client, *destination.Integration, *iamcredentialstest.Server, *emulator.Recorder, destination.Config) {
	t.Helper()
	cfg := emulator.GCS(t)
	cfg.GCSServiceAccountJSON, cfg.GCSImpersonateServiceAccount = "", customerSA
	iam := iamcredentialstest.NewServer(iamcredentialstest.Options{PlatformToken: platformToken, Grants: grants})
	t.Cleanup(iam.Close)
	drv := gcs.NewDriver(gcs.Options{PlatformTokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: platformToken}),
		PlatformServiceAccount: platformSA, IAMCredentialsEndpoint: iam.URL})
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := emulator.NewClient(t, &u, provider.Options{WrapTransport: rec.Wrap, PartSize: chunk, Concurrency: 2}, nil, drv)
	return c, u.Integration(destination.GCS, cfg), iam, rec, cfg
}

// TestImpersonation: a token is minted once for the customer's service account with the
// storage scope and authorizes every storage request; the platform's own token goes to the IAM
// Credentials API only.
func TestImpersonation(t *testing.T) {
	c, in, iam, rec, cfg := impersonation(t, customerSA)
	ctx := context.Background()
	if _, err := c.Upload(ctx, in, "renders/r.mp4", emulator.NewData(3<<20, 4), destination.UploadOptions{Size: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	if r := c.Test(ctx, in); !r.OK {
		t.Fatalf("Test = %+v", r)
	}
	calls := iam.Calls()
	if len(calls) != 1 || calls[0].Token == "" || calls[0].Email != customerSA || calls[0].Lifetime != "3600s" ||
		len(calls[0].Scope) != 1 || !strings.HasSuffix(calls[0].Scope[0], "devstorage.read_write") {
		t.Fatalf("generateAccessToken calls %+v, want one for %s with the storage scope", calls, customerSA)
	}
	var storageReqs int
	for _, r := range rec.Requests() {
		auth := r.Header.Get("Authorization")
		switch {
		case "http://"+r.Host == iam.URL:
			if auth != "Bearer "+platformToken {
				t.Errorf("IAM Credentials call not authorized by the platform")
			}
		case strings.Contains(auth, platformToken):
			t.Errorf("%s %s to the storage endpoint carries the platform's token", r.Method, r.URL.Path)
		case auth != "Bearer "+calls[0].Token:
			t.Errorf("%s %s not authorized by the minted token", r.Method, r.URL.Path)
		default:
			storageReqs++
		}
	}
	if storageReqs == 0 {
		t.Fatal("no storage request recorded")
	}
	h := c.Health(in)
	if h == nil || h.Auth != "impersonation" || h.Setup == nil || !strings.Contains(string(h.Setup.IAMBinding), "roles/iam.serviceAccountTokenCreator") ||
		!strings.Contains(string(h.Setup.IAMBinding), "serviceAccount:"+platformSA) || !strings.Contains(h.Setup.Instructions, cfg.Bucket) {
		t.Fatalf("Health = %+v", h)
	}
}

// TestImpersonationRefused: a service account that does not grant the platform Token Creator
// makes the test fail with access_denied naming the role to grant; nothing reaches storage.
func TestImpersonationRefused(t *testing.T) {
	c, in, iam, rec, _ := impersonation(t, "someone-else@customer-project.iam.gserviceaccount.com")
	r := c.Test(context.Background(), in)
	if r.OK || r.Code != provider.CodeAccessDenied || !strings.Contains(r.Message, "roles/iam.serviceAccountTokenCreator") || !strings.Contains(r.Message, platformSA) {
		t.Fatalf("Test = %+v, want access_denied naming the binding", r)
	}
	if strings.Contains(r.Message, platformToken) {
		t.Fatal("the message leaks the platform token")
	}
	for _, req := range rec.Requests() {
		if "http://"+req.Host != iam.URL {
			t.Errorf("%s %s reached storage without a token", req.Method, req.URL.Path)
		}
	}
}

// TestImpersonationThroughGuard: generateAccessToken goes through the SSRF-guarded client: with
// loopback not allowed, the fake on 127.0.0.1 is never contacted.
func TestImpersonationThroughGuard(t *testing.T) {
	iam := iamcredentialstest.NewServer(iamcredentialstest.Options{PlatformToken: platformToken, Grants: []string{customerSA}})
	defer iam.Close()
	drv := gcs.NewDriver(gcs.Options{PlatformTokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: platformToken}), IAMCredentialsEndpoint: iam.URL})
	var u emulator.Unsealer
	c := emulator.NewClient(t, &u, provider.Options{AllowedNetworks: []netip.Prefix{}}, nil, drv)
	cfg := destination.Config{Bucket: "renders-bucket", GCSImpersonateServiceAccount: customerSA}
	r := c.Test(context.Background(), u.Integration(destination.GCS, cfg))
	if r.OK || r.Code != provider.CodeEndpointUnreachable || len(iam.Calls()) != 0 {
		t.Fatalf("Test = %+v with %d calls; want the guard to refuse the IAM Credentials call", r, len(iam.Calls()))
	}
}
