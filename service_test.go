package outputs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

const (
	secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	azureKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	wsA = destination.Caller{WorkspaceID: "ws-a", UserID: "u1"}
	wsB = destination.Caller{WorkspaceID: "ws-b", UserID: "u2"}
)

type harness struct {
	svc   *outputs.Service
	store *memstore.Store
	kr    *crypto.Keyring
	logs  *bytes.Buffer
	mu    sync.Mutex
}

func newHarness(t testing.TB, mut ...func(*outputs.Options)) *harness {
	t.Helper()
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: memstore.New(), logs: &bytes.Buffer{}, kr: kr}
	opts := outputs.Options{Store: h.store, Keyring: kr, Logger: slog.New(slog.NewJSONHandler(lockedWriter{h}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mut {
		m(&opts)
	}
	h.svc, err = outputs.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type lockedWriter struct{ h *harness }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.logs.Write(p)
}

func r2Input(def bool) outputs.CreateInput {
	return outputs.CreateInput{Provider: destination.R2, Name: "Marketing R2", IsDefault: def, Config: destination.Config{
		Endpoint: "https://acct.r2.cloudflarestorage.com", Region: "auto", Bucket: "ilovevideoeditor-outputs",
		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: secretKey, PublicURL: "https://cdn.example.com", PathPrefix: "renders/"}}
}

func TestCreateGetListViewsHideSecrets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(true))
	if err != nil {
		t.Fatal(err)
	}
	if v.ID == "" || v.Version != 1 || !v.IsActive || !v.IsDefault || v.Config.Region != "auto" {
		t.Fatalf("unexpected view %+v", v)
	}
	if want := "••••" + secretKey[len(secretKey)-4:]; v.Config.SecretAccessKey != want {
		t.Fatalf("hint = %q, want %q", v.Config.SecretAccessKey, want)
	}
	got, err := h.svc.GetIntegration(ctx, wsA, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.svc.ListIntegrations(ctx, wsA)
	if err != nil || len(list) != 1 {
		t.Fatal(len(list), err)
	}
	stored, _ := h.store.Get(ctx, "ws-a", v.ID)
	for what, x := range map[string]any{"create view": v, "get view": got, "list view": list, "stored": stored} {
		b, _ := json.Marshal(x)
		if strings.Contains(string(b), secretKey) || strings.Contains(fmt.Sprintf("%v %+v %#v", x, x, x), secretKey) {
			t.Errorf("%s leaks the secret: %s", what, b)
		}
	}
	if bytes.Contains(h.logs.Bytes(), []byte(secretKey)) {
		t.Error("logs leak the secret")
	}
	if stored.Config.SecretAccessKey != "" || len(stored.Secrets[destination.SecretAccessKey].Ciphertext) == 0 {
		t.Fatal("secret not sealed at rest")
	}
	// Another workspace sees nothing, exactly like a missing ID.
	_, err1 := h.svc.GetIntegration(ctx, wsB, v.ID)
	_, err2 := h.svc.GetIntegration(ctx, wsB, "018f0000-0000-7000-8000-000000000000")
	if !errors.Is(err1, destination.ErrNotFound) || err1.Error() != err2.Error() {
		t.Fatalf("cross-workspace get: %v vs %v", err1, err2)
	}
	if err := h.svc.DeleteIntegration(ctx, wsB, v.ID); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("cross-workspace delete: %v", err)
	}
	if _, err := h.svc.UpdateIntegration(ctx, wsB, v.ID, outputs.UpdateInput{Name: ptr("x")}); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("cross-workspace update: %v", err)
	}
}

func TestUpdateKeepsSecretsAndChecksVersions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(false))
	if err != nil {
		t.Fatal(err)
	}
	kr := mustUnseal(t, h, v.ID)
	// Send the view back with the mask: the secret is kept.
	cfg := v.Config
	cfg.PathPrefix = "other"
	v2, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Version: v.Version, Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.Config.PathPrefix != "other/" || mustUnseal(t, h, v.ID) != kr {
		t.Fatalf("mask round trip changed the secret or failed: %+v", v2)
	}
	// Omit it: kept too.
	cfg.SecretAccessKey = ""
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &cfg}); err != nil || mustUnseal(t, h, v.ID) != kr {
		t.Fatal("omitted secret not kept", err)
	}
	// A new value replaces it.
	cfg.SecretAccessKey = "n3w-secret-value-1234"
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &cfg}); err != nil || mustUnseal(t, h, v.ID) != "n3w-secret-value-1234" {
		t.Fatal("new secret not stored", err)
	}
	// Stale version: conflict, nothing changed.
	before, _ := h.store.Get(ctx, "ws-a", v.ID)
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Version: 1, Name: ptr("stale")}); !errors.Is(err, destination.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	after, _ := h.store.Get(ctx, "ws-a", v.ID)
	if after.Name != before.Name || after.Version != before.Version {
		t.Fatal("stale update changed the integration")
	}
	// Bad config: typed error, nothing stored.
	bad := cfg
	bad.Endpoint = "http://u:p@x/y"
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &bad}); !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("bad update: %v", err)
	}
	if again, _ := h.store.Get(ctx, "ws-a", v.ID); again.Version != after.Version {
		t.Fatal("failed update was stored")
	}
}

func mustUnseal(t *testing.T, h *harness, id string) string {
	t.Helper()
	in, err := h.store.Get(context.Background(), "ws-a", id)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := h.kr.Unseal(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.SecretAccessKey
}

func TestCreateBadInputStoresNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cases := map[string]outputs.CreateInput{
		"unknown provider":  {Provider: "ftp", Name: "x"},
		"missing fields":    {Provider: destination.S3, Name: "x"},
		"no name":           {Provider: destination.R2, Config: r2Input(false).Config},
		"drive directly":    {Provider: destination.Drive, Name: "d"},
		"inactive default":  {Provider: destination.R2, Name: "x", IsActive: ptr(false), IsDefault: true, Config: r2Input(false).Config},
		"mask as secret":    {Provider: destination.R2, Name: "x", Config: withSecret(r2Input(false).Config, "••••KEY1")},
		"bad prefix":        {Provider: destination.R2, Name: "x", Config: withPrefix(r2Input(false).Config, "../x")},
		"azure key not b64": {Provider: destination.Azure, Name: "a", Config: destination.Config{AzureAccountName: "acct", AzureAccountKey: "***", AzureContainerName: "videos"}},
	}
	for name, in := range cases {
		_, err := h.svc.CreateIntegration(ctx, wsA, in)
		if !errors.Is(err, destination.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
	if _, err := h.svc.CreateIntegration(ctx, destination.Caller{APIKeyOnly: true}, r2Input(false)); !errors.Is(err, destination.ErrNoWorkspace) {
		t.Errorf("unlinked API key: %v", err)
	}
	if list, _ := h.store.List(ctx, "ws-a"); len(list) != 0 {
		t.Fatalf("bad input stored %d integrations", len(list))
	}
	// JSON bodies: wrong types and unknown fields name the field.
	for body, field := range map[string]string{
		`{"provider":"r2","name":5}`:                  "name",
		`{"provider":"r2","name":"x","config":[]}`:    "config",
		`{"provider":"r2","name":"x","extra":true}`:   "extra",
		`{"provider":"nope","name":"x"}`:              "provider",
		`{"provider":"r2","config":{"bucket":false}}`: "config.bucket",
	} {
		_, err := outputs.DecodeCreateInput([]byte(body))
		var ve *destination.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: want ValidationError, got %v", body, err)
			continue
		}
		if _, ok := ve.Field(field); !ok {
			t.Errorf("%s: want field %q, got %v", body, field, err)
		}
	}
}

func withSecret(c destination.Config, s string) destination.Config { c.SecretAccessKey = s; return c }
func withPrefix(c destination.Config, p string) destination.Config { c.PathPrefix = p; return c }
func ptr[T any](v T) *T                                            { return &v }

func TestDefaultUniquenessAndInactive(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(i == 0))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Go(func() {
			if _, err := h.svc.SetDefault(ctx, wsA, ids[i%len(ids)]); err != nil && !errors.Is(err, destination.ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, _ := h.svc.ListIntegrations(ctx, wsA)
	n, other := 0, ""
	for _, v := range list {
		if v.IsDefault {
			n++
		} else {
			other = v.ID
		}
	}
	if n != 1 {
		t.Fatalf("%d defaults after racing writers", n)
	}
	// An inactive integration cannot become the default.
	off, _ := h.svc.UpdateIntegration(ctx, wsA, other, outputs.UpdateInput{IsActive: ptr(false)})
	if _, err := h.svc.SetDefault(ctx, wsA, off.ID); !hasCode(err, "isDefault", destination.CodeInactive) {
		t.Fatalf("inactive default: %v", err)
	}
	// Deleting the default leaves none.
	def, err := h.svc.GetDefault(ctx, wsA)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteIntegration(ctx, wsA, def.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.GetDefault(ctx, wsA); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("default after delete: %v", err)
	}
}

func TestLegacyDefaultDestination(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.svc.GetDefault(ctx, wsA); !errors.Is(err, destination.ErrNotFound) {
		t.Fatal(err)
	}
	in := r2Input(false)
	in.Name = ""
	v1, err := h.svc.PutDefault(ctx, wsA, in)
	if err != nil || !v1.IsDefault || v1.Name == "" {
		t.Fatalf("put (create): %+v %v", v1, err)
	}
	// Replace in place: same ID, omitted secret kept for the same provider and target.
	in.Config.SecretAccessKey = ""
	in.Config.PathPrefix = "other/"
	v2, err := h.svc.PutDefault(ctx, wsA, in)
	if err != nil || v2.ID != v1.ID || v2.Config.PathPrefix != "other/" || mustUnseal(t, h, v1.ID) != secretKey {
		t.Fatalf("put (replace): %+v %v", v2, err)
	}
	// Another bucket is another place for the secret: it must be sent again.
	in.Config.Bucket = "another-bucket"
	if _, err := h.svc.PutDefault(ctx, wsA, in); !hasCode(err, "config.secretAccessKey", destination.CodeSecretRequired) {
		t.Fatalf("put (new bucket, no secret): %v", err)
	}
	in.Config.SecretAccessKey = secretKey
	if v2, err = h.svc.PutDefault(ctx, wsA, in); err != nil || v2.Config.Bucket != "another-bucket" {
		t.Fatalf("put (new bucket with its secret): %+v %v", v2, err)
	}
	// Another provider needs its own secrets.
	az := outputs.CreateInput{Provider: destination.Azure, Config: destination.Config{AzureAccountName: "acct1", AzureContainerName: "videos"}}
	if _, err := h.svc.PutDefault(ctx, wsA, az); !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("provider switch without secret: %v", err)
	}
	az.Config.AzureAccountKey = azureKey
	v3, err := h.svc.PutDefault(ctx, wsA, az)
	if err != nil || v3.ID != v1.ID || v3.Provider != destination.Azure || v3.Config.SecretAccessKey != "" {
		t.Fatalf("put (switch provider): %+v %v", v3, err)
	}
	stored, _ := h.store.Get(ctx, "ws-a", v1.ID)
	if _, ok := stored.Secrets[destination.SecretAccessKey]; ok {
		t.Fatal("old provider's secret carried over")
	}
	if _, err := h.svc.TestDefault(ctx, wsA); !errors.Is(err, destination.ErrUnsupported) {
		t.Fatalf("test without uploader: %v", err)
	}
	if err := h.svc.DeleteDefault(ctx, wsA); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteDefault(ctx, wsA); !errors.Is(err, destination.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestTestIntegrationRecordsLastTest(t *testing.T) {
	up := &deliverytest.Uploader{}
	up.SetTestResult(destination.TestResult{OK: false, Code: "invalid_credentials", Message: "the access key was rejected"})
	h := newHarness(t, func(o *outputs.Options) { o.Uploader = up })
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(true))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.svc.TestIntegration(ctx, wsA, v.ID)
	if err != nil || res.OK || res.Code != "invalid_credentials" || res.TestedAt.IsZero() {
		t.Fatalf("%+v %v", res, err)
	}
	got, _ := h.svc.GetIntegration(ctx, wsA, v.ID)
	if got.LastTest == nil || got.LastTest.Code != "invalid_credentials" {
		t.Fatalf("last test not recorded: %+v", got.LastTest)
	}
	if _, err := h.svc.TestIntegration(ctx, wsB, v.ID); !errors.Is(err, destination.ErrNotFound) {
		t.Fatal(err)
	}
	if res, err := h.svc.TestDefault(ctx, wsA); err != nil || res.Code != "invalid_credentials" {
		t.Fatal(res, err)
	}
}

// hasCode reports whether err is a *destination.ValidationError (and only ErrInvalid) with code
// for field.
func hasCode(err error, field, code string) bool {
	var ve *destination.ValidationError
	if !errors.As(err, &ve) || destination.Kind(err) != destination.ErrInvalid {
		return false
	}
	fe, ok := ve.Field(field)
	return ok && fe.Code == code
}
