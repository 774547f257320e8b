package outputs_test

import (
	"context"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
)

const (
	testGCSKey = `{"type":"service_account","project_id":"render-prod","private_key_id":"4c2f1a9d8e7b6a5f4e3d2c1b0a99887766554433",` +
		`"private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",` +
		`"client_email":"r@render-prod.iam.gserviceaccount.com","token_uri":"https://oauth2.googleapis.com/token"}`
	testAzureKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// retargetCases: a valid configuration per provider, and a new value for each field that decides
// where its secret goes.
var retargetCases = []struct {
	p       destination.Provider
	cfg     destination.Config
	secret  destination.SecretField
	changes map[string]func(*destination.Config)
}{
	{destination.S3, destination.Config{Bucket: "renders", Region: "us-east-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: secretKey},
		destination.SecretAccessKey, map[string]func(*destination.Config){
			"endpoint": func(c *destination.Config) { c.Endpoint = "https://attacker.example.com" },
			"region":   func(c *destination.Config) { c.Region = "eu-west-1" },
			"bucket":   func(c *destination.Config) { c.Bucket = "attacker-bucket" },
		}},
	{destination.R2, r2Input(false).Config, destination.SecretAccessKey, map[string]func(*destination.Config){
		"endpoint": func(c *destination.Config) { c.Endpoint = "https://other.r2.cloudflarestorage.com" },
		"bucket":   func(c *destination.Config) { c.Bucket = "attacker-bucket" },
	}},
	{destination.B2, destination.Config{Endpoint: "https://s3.us-west-004.backblazeb2.com", Bucket: "renders", AccessKeyID: "K004EXAMPLE", SecretAccessKey: secretKey},
		destination.SecretAccessKey, map[string]func(*destination.Config){
			"endpoint": func(c *destination.Config) { c.Endpoint = "https://s3.eu-central-003.backblazeb2.com"; c.Region = "" },
		}},
	{destination.Wasabi, destination.Config{Region: "us-east-2", Bucket: "renders", AccessKeyID: "WASABIEXAMPLE", SecretAccessKey: secretKey},
		destination.SecretAccessKey, map[string]func(*destination.Config){
			"region": func(c *destination.Config) { c.Region = "eu-central-1"; c.Endpoint = "" },
		}},
	{destination.GCS, destination.Config{Bucket: "renders", GCSServiceAccountJSON: testGCSKey}, destination.SecretGCSServiceAcct,
		map[string]func(*destination.Config){
			"endpoint":     func(c *destination.Config) { c.Endpoint = "https://attacker.example.com" },
			"bucket":       func(c *destination.Config) { c.Bucket = "attacker-bucket" },
			"gcsProjectId": func(c *destination.Config) { c.GCSProjectID = "attacker-project" },
		}},
	{destination.Azure, destination.Config{AzureAccountName: "acct1", AzureAccountKey: testAzureKey, AzureContainerName: "videos"},
		destination.SecretAzureAccountKey, map[string]func(*destination.Config){
			"endpoint":           func(c *destination.Config) { c.Endpoint = "https://attacker.example.com" },
			"azureAccountName":   func(c *destination.Config) { c.AzureAccountName = "attacker" },
			"azureContainerName": func(c *destination.Config) { c.AzureContainerName = "other" },
		}},
}

// TestSecretNotRetargeted: an update that changes where a stored secret is sent, without
// sending the secret again, is refused with secret_required on the secret's field, on every
// provider and through both the update and the legacy PUT; the stored configuration is left
// as it was. Sending the view back unchanged, or changing another field, keeps the secret.
func TestSecretNotRetargeted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range retargetCases {
		t.Run(string(tc.p), func(t *testing.T) {
			h := newHarness(t)
			v, err := h.svc.CreateIntegration(ctx, wsA, outputs.CreateInput{Provider: tc.p, Name: "x", IsDefault: true, Config: tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			field := "config." + string(tc.secret)
			// The view sent back as it is, with a new prefix: fine.
			same := v.Config
			same.PathPrefix = "elsewhere/"
			if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &same}); err != nil {
				t.Fatalf("view sent back: %v", err)
			}
			if len(destination.CredentialTargetFields(tc.p)) < len(tc.changes) {
				t.Fatalf("the rule lists %v", destination.CredentialTargetFields(tc.p))
			}
			for name, change := range tc.changes {
				for _, secret := range []string{"", v.Config.Secret(tc.secret)} { // omitted, or the hint sent back
					next := v.Config
					next.SetSecret(tc.secret, secret)
					change(&next)
					_, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next})
					if !hasCode(err, field, destination.CodeSecretRequired) {
						t.Errorf("update changing %s with secret %q: %v, want %s %s", name, secret, err, field, destination.CodeSecretRequired)
					}
					_, err = h.svc.PutDefault(ctx, wsA, outputs.CreateInput{Provider: tc.p, Config: next})
					if !hasCode(err, field, destination.CodeSecretRequired) {
						t.Errorf("legacy put changing %s: %v, want %s %s", name, err, field, destination.CodeSecretRequired)
					}
				}
				stored, _ := h.store.Get(ctx, wsA.WorkspaceID, v.ID)
				if stored.Config.PathPrefix != "elsewhere/" {
					t.Fatalf("stored config changed: %v", stored.Config)
				}
				// With the secret sent again, the change is accepted.
				next := v.Config
				next.SetSecret(tc.secret, tc.cfg.Secret(tc.secret))
				change(&next)
				if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &next}); err != nil {
					t.Errorf("update changing %s with the secret: %v", name, err)
				}
				restore := v.Config
				restore.SetSecret(tc.secret, tc.cfg.Secret(tc.secret))
				restore.PathPrefix = "elsewhere/"
				if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &restore}); err != nil {
					t.Fatalf("restore: %v", err)
				}
			}
		})
	}
}
