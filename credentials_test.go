package outputs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// sasSig is a planted SAS signature: it must never appear outside the sealed secret.
const sasSig = "PLANTEDsasSIGNATUREzz9Qx%2BkVb0ExampleQ%3D"

func sasToken(perms string, expiry time.Time) string {
	return "sv=2025-05-05&st=2026-01-01T00%3A00%3A00Z&se=" + url.QueryEscape(expiry.UTC().Format(time.RFC3339)) +
		"&sr=c&sp=" + perms + "&spr=https&sig=" + sasSig
}

func azureSASInput(token string) outputs.CreateInput {
	return outputs.CreateInput{Provider: destination.Azure, Name: "Azure by SAS", Config: destination.Config{
		AzureAccountName: "acct", AzureContainerName: "videos", AzureSASToken: token}}
}

func fieldErr(t *testing.T, err error, field, contains string) {
	t.Helper()
	var ve *destination.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a ValidationError on %s", err, field)
	}
	for _, fe := range ve.Errors {
		if fe.Field == field && strings.Contains(fe.Message, contains) {
			return
		}
	}
	t.Fatalf("err = %v, want %s: ...%s...", err, field, contains)
}

// TestAzureSASLifecycle: a SAS token is sealed like every secret, its permissions and expiry
// are read into the read-only fields, an update without it keeps it, an account key replaces
// it (and the SAS is dropped), and one cannot send both.
func TestAzureSASLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	exp := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	v, err := h.svc.CreateIntegration(ctx, wsA, azureSASInput(sasToken("rcwdl", exp)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Config.AzureSASToken != "••••" || v.Config.AzureSASPermissions != "rcwdl" || v.Config.AzureSASExpiry != exp.UTC().Format(time.RFC3339) {
		t.Fatalf("view config %+v", v.Config)
	}
	stored, _ := h.store.Get(ctx, wsA.WorkspaceID, v.ID)
	if len(stored.Secrets[destination.SecretAzureSASToken].Ciphertext) == 0 || stored.Config.AzureSASToken != "" {
		t.Fatal("the SAS token is not sealed at rest")
	}
	// Sending the view back keeps the SAS and what was read from it, whatever the client sent.
	next := v.Config
	next.AzureSASPermissions, next.AzureSASExpiry = "racwdl", "2099-01-01T00:00:00Z"
	v2, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Config.AzureSASPermissions != "rcwdl" || v2.Config.AzureSASExpiry != v.Config.AzureSASExpiry || v2.Config.AzureSASToken != "••••" {
		t.Fatalf("update lost the SAS: %+v", v2.Config)
	}
	got, err := h.kr.Unseal(ctx, mustGet(t, h, v.ID))
	if err != nil || !strings.Contains(got.AzureSASToken, sasSig) {
		t.Fatalf("stored SAS after update: %v", err)
	}
	// Both at once is refused.
	both := v.Config
	both.AzureAccountKey, both.AzureSASToken = azureKey, sasToken("rcwdl", exp)
	_, err = h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &both})
	fieldErr(t, err, "config.azureSasToken", "not both")
	// The account key replaces the SAS: the SAS is dropped.
	key := v.Config
	key.AzureSASToken, key.AzureAccountKey = "", azureKey
	v3, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &key})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ = h.store.Get(ctx, wsA.WorkspaceID, v.ID)
	if _, ok := stored.Secrets[destination.SecretAzureSASToken]; ok || v3.Config.AzureSASPermissions != "" || v3.Config.AzureSASToken != "" {
		t.Fatalf("the SAS was kept beside the key: %+v", v3.Config)
	}
	for what, x := range map[string]any{"view": v, "view after update": v2, "stored": stored} {
		b, _ := json.Marshal(x)
		if strings.Contains(string(b)+fmt.Sprintf("%v %+v %#v", x, x, x), "PLANTEDsas") {
			t.Errorf("%s leaks the SAS signature: %s", what, b)
		}
	}
	if bytes.Contains(h.logs.Bytes(), []byte("PLANTEDsas")) {
		t.Error("logs leak the SAS signature")
	}
}

// TestAzureSASValidation: a read-only SAS names the missing permission, an expired one is
// refused, an account SAS is refused, and errors never quote the signature.
func TestAzureSASValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, c := range []struct{ name, token, want string }{
		{"read-only", sasToken("rl", time.Now().Add(time.Hour)), "write (w)"},
		{"expired", sasToken("rcwd", time.Now().Add(-time.Hour)), "expired at"},
		{"account SAS", "sv=2025-05-05&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&sig=" + sasSig, "account SAS"},
		{"blob SAS", "sv=2025-05-05&sr=b&sp=rw&se=2099-01-01T00%3A00%3A00Z&sig=" + sasSig, "sr=c"},
		{"no signature", "sv=2025-05-05&sr=c&sp=rw&se=2099-01-01T00%3A00%3A00Z", "sig"},
	} {
		_, err := h.svc.CreateIntegration(ctx, wsA, azureSASInput(c.token))
		fieldErr(t, err, "config.azureSasToken", c.want)
		if strings.Contains(err.Error(), "PLANTEDsas") {
			t.Errorf("%s: the error quotes the signature: %v", c.name, err)
		}
	}
	_, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: destination.Azure, Name: "none",
		Config: destination.Config{AzureAccountName: "acct", AzureContainerName: "videos"}})
	fieldErr(t, err, "config.azureAccountKey", "azureSasToken")
}

func mustGet(t *testing.T, h *harness, id string) *destination.Integration {
	t.Helper()
	in, err := h.store.Get(context.Background(), wsA.WorkspaceID, id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func roleInput(arn string) outputs.CreateInput {
	return outputs.CreateInput{Provider: destination.S3, Name: "AWS by role", Config: destination.Config{
		Bucket: "renders-bucket", Region: "us-east-1", RoleARN: arn, PathPrefix: "renders/"}}
}

// TestRoleExternalID: the library generates the external ID (one per workspace: every s3
// integration of a workspace carries the same one, another workspace gets another), ignores
// a value sent by the tenant, and keeps it through updates.
func TestRoleExternalID(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := roleInput("arn:aws:iam::123456789012:role/outputs-writer")
	in.Config.ExternalID = "chosen-by-the-tenant"
	a1, err := h.svc.CreateIntegration(ctx, wsA, in)
	if err != nil {
		t.Fatal(err)
	}
	ext := a1.Config.ExternalID
	if !strings.HasPrefix(ext, "outputs-") || len(ext) != len("outputs-")+32 {
		t.Fatalf("external ID %q, want a generated one", ext)
	}
	a2, err := h.svc.CreateIntegration(ctx, wsA, roleInput("arn:aws:iam::123456789012:role/other"))
	if err != nil || a2.Config.ExternalID != ext {
		t.Fatalf("second integration of the workspace: %q, %v; want %q", a2.Config.ExternalID, err, ext)
	}
	b1, err := h.svc.CreateIntegration(ctx, wsB, roleInput("arn:aws:iam::123456789012:role/outputs-writer"))
	if err != nil || b1.Config.ExternalID == ext || b1.Config.ExternalID == "" {
		t.Fatalf("another workspace got %q, %v", b1.Config.ExternalID, err)
	}
	next := a1.Config
	next.ExternalID, next.RoleARN = "changed", "arn:aws:iam::123456789012:role/renamed"
	u, err := h.svc.UpdateIntegration(ctx, wsA, a1.ID, outputs.UpdateInput{Config: &next})
	if err != nil || u.Config.ExternalID != ext || u.Config.RoleARN != next.RoleARN {
		t.Fatalf("update: %+v, %v", u.Config, err)
	}
	stored := mustGet(t, h, a1.ID)
	if len(stored.Secrets) != 0 {
		t.Fatalf("a role integration stores secrets: %v", stored.Secrets)
	}
}

// TestRoleValidation: exactly one of keys and role; only AWS s3 has roles; the ARN is checked.
func TestRoleValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	both := roleInput("arn:aws:iam::123456789012:role/w")
	both.Config.AccessKeyID, both.Config.SecretAccessKey = "AKIAEXAMPLE", secretKey
	_, err := h.svc.CreateIntegration(ctx, wsA, both)
	fieldErr(t, err, "config.roleArn", "not both")
	if strings.Contains(err.Error(), secretKey) {
		t.Fatal("the error quotes the secret")
	}
	_, err = h.svc.CreateIntegration(ctx, wsA, roleInput("arn:aws:iam::12345:user/w"))
	fieldErr(t, err, "config.roleArn", "IAM role ARN")
	none := roleInput("")
	_, err = h.svc.CreateIntegration(ctx, wsA, none)
	fieldErr(t, err, "config.accessKeyId", "roleArn")
	r2 := r2Input(false)
	r2.Config.RoleARN = "arn:aws:iam::123456789012:role/w"
	_, err = h.svc.CreateIntegration(ctx, wsA, r2)
	fieldErr(t, err, "config.roleArn", "not used by provider r2")
	// Switching from keys to a role drops the stored key.
	keys := roleInput("")
	keys.Config.AccessKeyID, keys.Config.SecretAccessKey = "AKIAEXAMPLE", secretKey
	v, err := h.svc.CreateIntegration(ctx, wsA, keys)
	if err != nil {
		t.Fatal(err)
	}
	next := v.Config
	next.AccessKeyID, next.SecretAccessKey, next.RoleARN = "", "", "arn:aws:iam::123456789012:role/w"
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next}); err != nil {
		t.Fatal(err)
	}
	if s := mustGet(t, h, v.ID); len(s.Secrets) != 0 || s.Config.ExternalID != v.Config.ExternalID {
		t.Fatalf("after switching to a role: secrets %v, external ID %q", s.Secrets, s.Config.ExternalID)
	}
}

// TestSASRetarget: moving a SAS integration to another container or account needs the SAS
// token again (it was signed for the old one), as every secret's re-targeting does.
func TestSASRetarget(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, azureSASInput(sasToken("rcwd", time.Now().Add(30*24*time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	next := v.Config
	next.AzureContainerName = "elsewhere"
	_, err = h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next})
	var ve *destination.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "config.azureSasToken" || ve.Errors[0].Code != destination.CodeSecretRequired {
		t.Fatalf("err = %v, want secret_required on config.azureSasToken", err)
	}
	next.AzureSASToken = sasToken("rcwd", time.Now().Add(30*24*time.Hour))
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next}); err != nil {
		t.Fatal(err)
	}
}

// TestGCSImpersonationValidation: exactly one of key and impersonation; the email is checked;
// the project is read from it; no secret is stored.
func TestGCSImpersonationValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	in := outputs.CreateInput{Provider: destination.GCS, Name: "GCS by impersonation", Config: destination.Config{
		Bucket: "renders-bucket", GCSImpersonateServiceAccount: "renders@customer-project.iam.gserviceaccount.com"}}
	v, err := h.svc.CreateIntegration(ctx, wsA, in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Config.GCSProjectID != "customer-project" || len(mustGet(t, h, v.ID).Secrets) != 0 {
		t.Fatalf("view %+v", v.Config)
	}
	bad := in
	bad.Config.GCSImpersonateServiceAccount = "not-an-email"
	_, err = h.svc.CreateIntegration(ctx, wsA, bad)
	fieldErr(t, err, "config.gcsImpersonateServiceAccount", "service-account email")
	both := in
	both.Config.GCSServiceAccountJSON = `{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nPLANTEDkey\n-----END PRIVATE KEY-----\n"}`
	_, err = h.svc.CreateIntegration(ctx, wsA, both)
	fieldErr(t, err, "config.gcsImpersonateServiceAccount", "not both")
	if strings.Contains(err.Error(), "PLANTEDkey") {
		t.Fatal("the error quotes the key")
	}
}

// TestHealthInViews: every view says how the integration authenticates; a role's view carries
// the exact trust and permissions policies, a SAS's its expiry (warned within 14 days), a Drive
// integration of an app in testing mode the 7-day warning; no secret appears.
func TestHealthInViews(t *testing.T) {
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := provider.New(kr, provider.Options{},
		s3.NewDriver(s3.Options{PlatformPrincipal: "arn:aws:iam::111122223333:role/outputs-delivery",
			Platform: credentials.NewStaticCredentialsProvider("AKIAPLATFORM", "platform-secret", "")}),
		gcs.NewDriver(gcs.Options{PlatformServiceAccount: "outputs@platform.iam.gserviceaccount.com"}),
		azure.NewDriver(azure.Options{}), drive.NewDriver(drive.DriverOptions{TestingMode: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	h := newHarness(t, func(o *outputs.Options) { o.Uploader = pc; o.Keyring = kr })
	ctx := context.Background()

	role, err := h.svc.CreateIntegration(ctx, wsA, roleInput("arn:aws:iam::123456789012:role/outputs-writer"))
	if err != nil {
		t.Fatal(err)
	}
	hr := role.Health
	if hr == nil || hr.Auth != "assumeRole" || hr.Setup == nil || hr.Setup.ExternalID != role.Config.ExternalID {
		t.Fatalf("role health %+v", hr)
	}
	var trust struct {
		Statement []struct {
			Principal struct{ AWS string }
			Action    string
			Condition struct {
				StringEquals map[string]string
			}
		}
	}
	var perms struct {
		Statement []struct {
			Action   []string
			Resource string
		}
	}
	if json.Unmarshal(hr.Setup.TrustPolicy, &trust) != nil || len(trust.Statement) != 1 ||
		trust.Statement[0].Principal.AWS != "arn:aws:iam::111122223333:role/outputs-delivery" || trust.Statement[0].Action != "sts:AssumeRole" ||
		trust.Statement[0].Condition.StringEquals["sts:ExternalId"] != role.Config.ExternalID {
		t.Fatalf("trust policy %s", hr.Setup.TrustPolicy)
	}
	if json.Unmarshal(hr.Setup.PermissionsPolicy, &perms) != nil || len(perms.Statement) != 1 ||
		perms.Statement[0].Resource != "arn:aws:s3:::renders-bucket/renders/*" {
		t.Fatalf("permissions policy %s", hr.Setup.PermissionsPolicy)
	}

	soon := time.Now().Add(5 * 24 * time.Hour).Truncate(time.Second)
	sasV, err := h.svc.CreateIntegration(ctx, wsA, azureSASInput(sasToken("rcw", soon)))
	if err != nil {
		t.Fatal(err)
	}
	hs := sasV.Health
	if hs == nil || hs.Auth != "sas" || hs.ExpiresAt == nil || !hs.ExpiresAt.Equal(soon) || len(hs.Warnings) != 2 {
		t.Fatalf("SAS health %+v, want the expiry and warnings for the expiry and the missing delete", hs)
	}

	gv, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: destination.GCS, Name: "imp", Config: destination.Config{
		Bucket: "renders-bucket", GCSImpersonateServiceAccount: "renders@customer-project.iam.gserviceaccount.com"}})
	if err != nil || gv.Health == nil || gv.Health.Auth != "impersonation" ||
		!strings.Contains(string(gv.Health.Setup.IAMBinding), `"serviceAccount:outputs@platform.iam.gserviceaccount.com"`) {
		t.Fatalf("gcs health %+v, %v", gv.Health, err)
	}

	now := time.Now().UTC()
	dr := &destination.Integration{ID: "drive-1", WorkspaceID: wsA.WorkspaceID, Provider: destination.Drive, Name: "Drive",
		IsActive: true, CreatedAt: now, UpdatedAt: now}
	if _, err := h.store.Create(ctx, dr); err != nil {
		t.Fatal(err)
	}
	dv, err := h.svc.GetIntegration(ctx, wsA, "drive-1")
	if err != nil || dv.Health == nil || dv.Health.Auth != "oauth" || dv.Health.ExpiresAt == nil || len(dv.Health.Warnings) != 2 ||
		!strings.Contains(dv.Health.Warnings[0], "7 days") {
		t.Fatalf("drive health %+v, %v", dv.Health, err)
	}
	list, _ := h.svc.ListIntegrations(ctx, wsA)
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), "PLANTEDsas") || strings.Contains(string(b), "platform-secret") {
		t.Fatalf("views leak a secret: %s", b)
	}
	if stored := mustGet(t, h, role.ID); stored.Health != nil {
		t.Fatal("health was stored")
	}
}

// TestRoleExternalIDLegacy: the legacy PUT /v1/destination that turns the default into a role
// integration gives it the workspace's external ID too.
func TestRoleExternalIDLegacy(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	first, err := h.svc.CreateIntegration(ctx, wsA, roleInput("arn:aws:iam::123456789012:role/a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.PutDefault(ctx, wsA, r2Input(true)); err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.PutDefault(ctx, wsA, roleInput("arn:aws:iam::123456789012:role/b"))
	if err != nil || v.Config.ExternalID != first.Config.ExternalID {
		t.Fatalf("legacy PUT to a role: %+v, %v; want the workspace's external ID %q", v, err, first.Config.ExternalID)
	}
}
