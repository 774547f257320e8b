package outputs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// fileCDN is a fileblob CDN (as in the quickstart) with signed URLs.
func fileCDN(t *testing.T) destination.CDN {
	t.Helper()
	base, _ := url.Parse("https://cdn.test/dl")
	b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{URLSigner: fileblob.NewURLSignerHMAC(base, []byte("test-signing-key"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cdn, err := provider.NewCDN(b, provider.CDNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cdn
}

// faultProxy forwards to target after failing the first n requests with 503.
func faultProxy(t *testing.T, target string, n int64) (endpoint string, failed *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the client signed
	failed = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failed.Add(1) <= n {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, failed
}

// TestDeliverToEveryProvider delivers one render to the CDN and to S3 (versitygw), Azure
// (Azurite), GCS (fake-gcs-server) and Google Drive (the Drive fake) at once, plus an S3 destination with a wrong
// secret (permanent failure) and one behind a proxy that answers 503 to its first requests
// (transient failure): the healthy ones complete byte-identical, the transient one completes after
// retries, the permanent one fails fast with a classified message.
func TestDeliverToEveryProvider(t *testing.T) {
	s3cfg := emulator.S3(t)
	azcfg := emulator.Azure(t)
	gcscfg := emulator.GCS(t)
	ctx := context.Background()

	dsrv := drivetest.NewServer(drivetest.Options{})
	t.Cleanup(dsrv.Close)

	var client *provider.Client
	h := newHarness(t, func(o *outputs.Options) {
		o.AllowInsecureEndpoints = true
		o.Delivery = outputs.DeliveryOptions{CDN: fileCDN(t), Retry: outputs.RetryPolicy{BaseDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxAttempts: 5}}
		var err error
		client, err = provider.New(o.Keyring, provider.Options{AllowedNetworks: emulator.Loopback},
			s3.NewDriver(s3.Options{RetryMaxAttempts: 1}), azure.NewDriver(azure.Options{}),
			gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}}),
			// No TokenRotated: the Service persists rotated refresh tokens itself.
			drive.NewDriver(drive.DriverOptions{OAuth: dsrv.OAuthConfig(driveRedirect), Options: drive.Options{Endpoint: dsrv.Endpoint()}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		o.Uploader = client
		stateKeys, _ := newStateKeyring()
		o.Drive, err = drive.NewConnector(drive.ConnectorOptions{OAuth: dsrv.OAuthConfig(driveRedirect), State: stateKeys, HTTPClient: dsrv.Client()})
		if err != nil {
			t.Fatal(err)
		}
	})

	create := func(p destination.Provider, cfg destination.Config) *destination.Integration {
		t.Helper()
		v, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: p, Name: string(p), Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		in, _ := h.store.Get(ctx, "ws-a", v.ID)
		return in
	}
	good := create(destination.S3, s3cfg)
	az := create(destination.Azure, azcfg)
	gc := create(destination.GCS, gcscfg)
	bad := s3cfg
	bad.SecretAccessKey = "wrong-secret-key-value"
	permanent := create(destination.S3, bad)
	flaky := s3cfg
	var failed *atomic.Int64
	flaky.Endpoint, failed = faultProxy(t, s3cfg.Endpoint, 2)
	transient := create(destination.S3, flaky)
	dv, err := connectDrive(t, h, dsrv, wsA)
	if err != nil {
		t.Fatal(err)
	}
	dr, _ := h.store.Get(ctx, "ws-a", dv.ID)

	data, err := os.ReadFile("testdata/render.mp4")
	if err != nil {
		t.Fatal(err)
	}
	var targets []destination.Target
	ins := []*destination.Integration{good, az, permanent, transient, dr, gc}
	for _, in := range ins {
		targets = append(targets, destination.Target{IntegrationID: in.ID, Provider: in.Provider, Prefix: "renders/e2e/"})
	}
	d, err := h.svc.Deliver(ctx, outputs.Plan{WorkspaceID: wsA.WorkspaceID, RenderID: "r-e2e", FileName: "render.mp4", Targets: targets},
		outputs.Source{ReaderAt: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range d.Outputs {
		t.Logf("%s: %s %s %s", o.Provider, o.Status, o.ErrorCode, o.Error)
		if i == 2 {
			continue
		}
		if o.Status != destination.StatusCompleted || o.OutputSizeBytes != int64(len(data)) || o.OutputKey != "renders/e2e/render.mp4" {
			t.Errorf("output %d (%s): %+v", i, o.Provider, o)
			continue
		}
		b, release, err := client.Lease(ctx, ins[i])
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.ReadAll(ctx, o.OutputKey)
		release()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("output %d (%s): not byte-identical: %v", i, o.Provider, err)
		}
	}
	if o := d.Outputs[2]; o.Status != destination.StatusFailed || o.ErrorCode != provider.CodeInvalidCredentials || o.Error == "" {
		t.Errorf("permanent failure: %+v", o)
	}
	if failed.Load() <= 2 {
		t.Errorf("the fault proxy saw %d requests; the transient destination was not retried", failed.Load())
	}
	if d.Outputs[4].OutputURL == "" {
		t.Error("drive output has no webViewLink")
	}
	if bytes.Contains(h.logs.Bytes(), []byte(s3cfg.SecretAccessKey)) || bytes.Contains(h.logs.Bytes(), []byte(azcfg.AzureAccountKey)) {
		t.Error("logs leak a secret")
	}
	// The permanent failure was not retried.
	if res, _ := h.svc.TestIntegration(ctx, wsA, permanent.ID); res.OK || res.Code != provider.CodeInvalidCredentials {
		t.Errorf("test of the bad integration: %+v", res)
	}
}

// TestStoredPlanOverVersitygw: a plan is resolved and stored as JSON while an S3 integration
// has a wrong secret; before delivery it is re-keyed, a second one is deactivated and a third
// deleted. Deliver (real S3 driver, versitygw) uses the new secret for the first and fails the
// other two alone with integration_unavailable.
func TestStoredPlanOverVersitygw(t *testing.T) {
	ctx := context.Background()
	good := emulator.S3(t)
	var client *provider.Client
	h := newHarness(t, func(o *outputs.Options) {
		o.AllowInsecureEndpoints = true
		o.Delivery = outputs.DeliveryOptions{CDN: fileCDN(t), Retry: outputs.RetryPolicy{MaxAttempts: 1}}
		var err error
		client, err = provider.New(o.Keyring, provider.Options{AllowedNetworks: emulator.Loopback}, s3.NewDriver(s3.Options{RetryMaxAttempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		o.Uploader = client
	})
	wrong := good
	wrong.SecretAccessKey = "not-the-secret-key-0000"
	var ids []string
	for _, cfg := range []destination.Config{wrong, good, good} {
		v, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: destination.S3, Name: "s3", Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	vj := fmt.Sprintf(`{"destinations":[{"integrationId":%q,"provider":"s3","pathPrefix":"a"},{"integrationId":%q,"provider":"s3"},{"integrationId":%q,"provider":"s3"}]}`, ids[0], ids[1], ids[2])
	targets, err := h.svc.ResolveDestinations(ctx, wsA, []byte(vj))
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(outputs.Plan{WorkspaceID: wsA.WorkspaceID, RenderID: "r-stored", FileName: "render.mp4", Targets: targets})
	if bytes.Contains(stored, []byte(good.SecretAccessKey)) || bytes.Contains(stored, []byte(wrong.SecretAccessKey)) {
		t.Fatal("the stored plan holds a secret")
	}

	// Before delivery: re-key 0 (the secret must be sent again with the whole config), deactivate 1, delete 2.
	if _, err := h.svc.UpdateIntegration(ctx, wsA, ids[0], outputs.UpdateInput{Config: &good}); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := h.svc.UpdateIntegration(ctx, wsA, ids[1], outputs.UpdateInput{IsActive: &off}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteIntegration(ctx, wsA, ids[2]); err != nil {
		t.Fatal(err)
	}

	var plan outputs.Plan
	if err := json.Unmarshal(stored, &plan); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("render"), 1000)
	d, err := h.svc.Deliver(ctx, plan, outputs.Source{ReaderAt: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if o := d.Outputs[0]; o.Status != destination.StatusCompleted || o.OutputKey != "a/render.mp4" {
		t.Errorf("re-keyed: %+v", o)
	}
	for _, o := range d.Outputs[1:] {
		if o.Status != destination.StatusFailed || o.ErrorCode != delivery.CodeIntegrationUnavailable {
			t.Errorf("unavailable: %+v", o)
		}
	}
	in, _ := h.store.Get(ctx, wsA.WorkspaceID, ids[0])
	b, release, err := client.Lease(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got, err := b.ReadAll(ctx, "a/render.mp4"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored object differs: %v", err)
	}
}
