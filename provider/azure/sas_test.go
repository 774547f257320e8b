package azure_test

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// sasConfig makes a fresh Azurite container and returns the config of an integration that
// authenticates with a container SAS granting perms until expiry (signed with Azurite's key),
// with the permissions and expiry read from it as Validate stores them.
func sasConfig(t *testing.T, perms sas.ContainerPermissions, expiry time.Time) destination.Config {
	t.Helper()
	srv := emulator.NeedAzure(t)
	cfg := srv.Container(t)
	cred, err := azblob.NewSharedKeyCredential(srv.Account, srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, StartTime: time.Now().Add(-time.Hour).UTC(),
		ExpiryTime: expiry.UTC(), Permissions: perms.String(), ContainerName: cfg.AzureContainerName}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AzureAccountKey, cfg.AzureSASToken = "", qp.Encode()
	s, err := destination.ParseSAS(cfg.AzureSASToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AzureSASPermissions, cfg.AzureSASExpiry = s.Permissions, s.Expiry.UTC().Format(time.RFC3339)
	return cfg
}

var full = sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}

// TestSASDeliver: a container SAS with create, write and delete delivers and tests, and every
// request carries the SAS in its query, no Authorization header.
func TestSASDeliver(t *testing.T) {
	cfg := sasConfig(t, full, time.Now().Add(90*24*time.Hour))
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	if _, err := c.Upload(context.Background(), in, "r/big.mp4", emulator.NewData(2*blockSize+7, 3), destination.UploadOptions{Size: 2*blockSize + 7}); err != nil {
		t.Fatal(err)
	}
	r := c.Test(context.Background(), in)
	if !r.OK || len(r.Warnings) != 0 || r.CredentialExpiresAt == nil {
		t.Fatalf("Test = %+v, want OK without warnings, with the SAS expiry", r)
	}
	for _, req := range rec.Requests() {
		if req.Header.Get("Authorization") != "" || req.URL.Query().Get("sig") == "" {
			t.Errorf("%s %s: not authorized by the SAS alone", req.Method, req.URL.Path)
		}
	}
	h := c.Health(in)
	if h == nil || h.Auth != "sas" || h.ExpiresAt == nil || h.Expired || len(h.Warnings) != 0 {
		t.Errorf("Health = %+v", h)
	}
}

// TestSASReadOnly: Azurite refuses the probe of a read-only SAS, and the result names the
// permission that is missing.
func TestSASReadOnly(t *testing.T) {
	cfg := sasConfig(t, sas.ContainerPermissions{Read: true, List: true}, time.Now().Add(90*24*time.Hour))
	var u emulator.Unsealer
	r := newClient(t, &u, nil).Test(context.Background(), u.Integration(destination.Azure, cfg))
	if r.OK || r.Code != provider.CodePermissionDenied || !strings.Contains(r.Message, "write (w)") {
		t.Fatalf("Test = %+v, want permission_denied naming write (w)", r)
	}
	emulator.NoSecrets(t, cfg, destination.Azure, r.Message)
}

// TestSASNoDelete: without delete the test passes, warns that the probe files stay and names
// them.
func TestSASNoDelete(t *testing.T) {
	cfg := sasConfig(t, sas.ContainerPermissions{Create: true, Write: true}, time.Now().Add(90*24*time.Hour))
	var u emulator.Unsealer
	r := newClient(t, &u, nil).Test(context.Background(), u.Integration(destination.Azure, cfg))
	joined := strings.Join(r.Warnings, "\n")
	if !r.OK || !strings.Contains(joined, "does not grant delete (d)") || !strings.Contains(joined, ".outputs-test-") {
		t.Fatalf("Test = %+v, want OK with warnings about delete and the probe files left", r)
	}
}

// TestSASExpiringSoon: a SAS that expires within 14 days works and is warned about.
func TestSASExpiringSoon(t *testing.T) {
	exp := time.Now().Add(3 * 24 * time.Hour)
	cfg := sasConfig(t, full, exp)
	var u emulator.Unsealer
	r := newClient(t, &u, nil).Test(context.Background(), u.Integration(destination.Azure, cfg))
	if !r.OK || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "expires at") || r.CredentialExpiresAt == nil ||
		r.CredentialExpiresAt.Unix() != exp.Unix() {
		t.Fatalf("Test = %+v, want OK with one expiry warning and the expiry", r)
	}
}

// TestSASExpired: Azurite refuses an expired SAS; the result is classified credentials_expired.
func TestSASExpired(t *testing.T) {
	cfg := sasConfig(t, full, time.Now().Add(-time.Minute))
	var u emulator.Unsealer
	r := newClient(t, &u, nil).Test(context.Background(), u.Integration(destination.Azure, cfg))
	if r.OK || r.Code != provider.CodeCredentialsExpired || !strings.Contains(r.Message, "expired at") {
		t.Fatalf("Test = %+v, want credentials_expired", r)
	}
}

// TestSASTampered: a SAS whose permissions were widened after signing is refused by Azurite
// (the signature no longer matches), and the message quotes no part of the token.
func TestSASTampered(t *testing.T) {
	cfg := sasConfig(t, sas.ContainerPermissions{Read: true}, time.Now().Add(90*24*time.Hour))
	q, _ := url.ParseQuery(cfg.AzureSASToken)
	q.Set("sp", "racwdl")
	cfg.AzureSASToken, cfg.AzureSASPermissions = q.Encode(), "racwdl"
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := emulator.NewClient(t, &u, provider.Options{WrapTransport: rec.Wrap, CleanupTimeout: time.Second}, nil, azure.NewDriver(azure.Options{}))
	in := u.Integration(destination.Azure, cfg)
	r := c.Test(context.Background(), in)
	if r.OK || r.Code != provider.CodeInvalidCredentials {
		t.Fatalf("Test = %+v, want invalid_credentials", r)
	}
	_, err := c.Upload(context.Background(), in, "x.mp4", strings.NewReader("x"), destination.UploadOptions{Size: 1})
	if err == nil || provider.Classify(err).Code != provider.CodeInvalidCredentials {
		t.Fatalf("Upload with a tampered SAS: %v", err)
	}
	emulator.NoSecrets(t, cfg, destination.Azure, r.Message, err.Error(), fmt.Sprintf("%+v", err))
	if sig := q.Get("sig"); strings.Contains(err.Error()+fmt.Sprintf("%+v", err)+r.Message, sig) || strings.Contains(err.Error(), url.QueryEscape(sig)) {
		t.Fatalf("the error quotes the signature: %v", err)
	}
}

// TestSASAccountRefused: an account SAS (reaching beyond the container) is refused before any
// request.
func TestSASAccountRefused(t *testing.T) {
	cfg := destination.Config{AzureAccountName: "acct", AzureContainerName: "videos",
		AzureSASToken: "sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=abc%3D", AzureSASPermissions: "rwdlac"}
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := emulator.NewClient(t, &u, provider.Options{WrapTransport: rec.Wrap}, nil, azure.NewDriver(azure.Options{}))
	r := c.Test(context.Background(), u.Integration(destination.Azure, cfg))
	if r.OK || !strings.Contains(r.Message, "account SAS") || len(rec.Requests()) != 0 {
		t.Fatalf("Test = %+v (%d requests), want a refusal before any request", r, len(rec.Requests()))
	}
	if strings.Contains(r.Message, "abc") {
		t.Fatalf("message quotes the signature: %s", r.Message)
	}
}

// TestSASUnreachableRedacted: a transport error (connection refused, or the SSRF guard
// refusing loopback before any connection) does not quote the SAS signature, although the
// SDK's URL carries it.
func TestSASUnreachableRedacted(t *testing.T) {
	cfg := sasConfig(t, full, time.Now().Add(90*24*time.Hour))
	q, _ := url.ParseQuery(cfg.AzureSASToken)
	listener, accepted := emulator.Listener(t)
	for _, c := range []struct {
		name, endpoint string
		allowed        []netip.Prefix
		code           string
	}{
		{"connection refused", emulator.ClosedEndpoint(t), nil, provider.CodeEndpointUnreachable},
		{"loopback refused", strings.Replace(listener, "127.0.0.1", "localhost", 1), []netip.Prefix{}, provider.CodeEndpointUnreachable},
	} {
		cfg := cfg
		cfg.Endpoint = c.endpoint
		var u emulator.Unsealer
		cl := emulator.NewClient(t, &u, provider.Options{AllowedNetworks: c.allowed, CleanupTimeout: time.Second}, nil, azure.NewDriver(azure.Options{}))
		in := u.Integration(destination.Azure, cfg)
		_, err := cl.Upload(context.Background(), in, "x.mp4", strings.NewReader("x"), destination.UploadOptions{Size: 1})
		if err == nil || strings.Contains(err.Error(), q.Get("sig")) || strings.Contains(err.Error(), url.QueryEscape(q.Get("sig"))) {
			t.Fatalf("%s: err = %v, want a failure that does not quote the signature", c.name, err)
		}
		r := cl.Test(context.Background(), in)
		if r.OK || r.Code != c.code || strings.Contains(r.Message, q.Get("sig")) {
			t.Fatalf("%s: Test = %+v", c.name, r)
		}
	}
	if n := accepted(); n != 0 {
		t.Fatalf("the guard let %d connections to loopback through", n)
	}
}
