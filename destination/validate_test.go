package destination_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
)

const testSAKey = `{"type":"service_account","project_id":"my-project-123","private_key_id":"abcd1234",` +
	`"private_key":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n","client_email":"svc@my-project-123.iam.gserviceaccount.com",` +
	`"token_uri":"https://oauth2.googleapis.com/token"}`

func validR2() destination.Config {
	return destination.Config{
		Endpoint: "https://acct.r2.cloudflarestorage.com", Bucket: "outputs-bucket",
		AccessKeyID: "AKIA123", SecretAccessKey: "s3cr3t-value-XYZW", PathPrefix: "renders",
		PublicURL: "https://cdn.example.com/",
	}
}

func TestValidateNormalizes(t *testing.T) {
	got, err := destination.Validate(destination.R2, validR2(), destination.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Region != "auto" || got.PathPrefix != "renders/" || got.PublicURL != "https://cdn.example.com" {
		t.Fatalf("not normalized: %+v", got.WithoutSecrets())
	}

	b2, err := destination.Validate(destination.B2, destination.Config{Bucket: "my-b2-bucket", AccessKeyID: "k", SecretAccessKey: "s",
		Endpoint: "https://s3.us-west-004.backblazeb2.com"}, destination.ValidateOptions{})
	if err != nil || b2.Region != "us-west-004" {
		t.Fatalf("b2 region: %q %v", b2.Region, err)
	}
	w, err := destination.Validate(destination.Wasabi, destination.Config{Bucket: "wbucket", AccessKeyID: "k", SecretAccessKey: "s",
		Region: "eu-central-1"}, destination.ValidateOptions{})
	if err != nil || w.Endpoint != "https://s3.eu-central-1.wasabisys.com" {
		t.Fatalf("wasabi endpoint: %q %v", w.Endpoint, err)
	}
	g, err := destination.Validate(destination.GCS, destination.Config{Bucket: "gcs_bucket-1", GCSServiceAccountJSON: testSAKey}, destination.ValidateOptions{})
	if err != nil || g.GCSProjectID != "my-project-123" {
		t.Fatalf("gcs project: %q %v", g.GCSProjectID, err)
	}
	a, err := destination.Validate(destination.Azure, destination.Config{AzureAccountName: "devstoreaccount1",
		AzureAccountKey:    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
		AzureContainerName: "videos"}, destination.ValidateOptions{})
	if err != nil || a.AzureContainerName != "videos" {
		t.Fatalf("azure: %v", err)
	}
	if _, err := destination.Validate(destination.Drive, destination.Config{DriveFolderID: "1AbC_d-E"}, destination.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestValidateBadInput(t *testing.T) {
	r2 := func(mut func(*destination.Config)) destination.Config { c := validR2(); mut(&c); return c }
	long := strings.Repeat("a", 2048)
	tests := []struct {
		name     string
		provider destination.Provider
		cfg      destination.Config
		opts     destination.ValidateOptions
		fields   []string // every field expected in the error
	}{
		{"unknown provider", "ftp", validR2(), destination.ValidateOptions{}, []string{"provider"}},
		{"all required missing s3", destination.S3, destination.Config{}, destination.ValidateOptions{},
			[]string{"config.bucket", "config.accessKeyId", "config.secretAccessKey", "config.region"}},
		{"r2 needs endpoint", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"b2 needs endpoint", destination.B2, destination.Config{Bucket: "bucket-b2", AccessKeyID: "a", SecretAccessKey: "b"}, destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"endpoint with path", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "https://x.example.com/bucket" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"endpoint with query", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "https://x.example.com?a=b" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"endpoint with userinfo", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "https://u:p@x.example.com" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"endpoint http", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "http://x.example.com" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"endpoint ftp", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "ftp://x.example.com" }), destination.ValidateOptions{AllowInsecureEndpoints: true}, []string{"config.endpoint"}},
		{"endpoint relative", destination.R2, r2(func(c *destination.Config) { c.Endpoint = "x.example.com" }), destination.ValidateOptions{}, []string{"config.endpoint"}},
		{"prefix dotdot", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = "../x" }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"prefix abs", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = "/abs" }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"prefix empty seg", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = "a//b" }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"prefix backslash", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = `a\b` }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"prefix NUL", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = "a\x00b" }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"prefix 2KB", destination.R2, r2(func(c *destination.Config) { c.PathPrefix = long }), destination.ValidateOptions{}, []string{"config.pathPrefix"}},
		{"public url relative", destination.R2, r2(func(c *destination.Config) { c.PublicURL = "cdn.example.com" }), destination.ValidateOptions{}, []string{"config.publicUrl"}},
		{"bucket uppercase", destination.S3, destination.Config{Bucket: "Bad_Bucket", AccessKeyID: "a", SecretAccessKey: "b", Region: "us-east-1"}, destination.ValidateOptions{}, []string{"config.bucket"}},
		{"field of another provider", destination.R2, r2(func(c *destination.Config) { c.AzureAccountName = "acct" }), destination.ValidateOptions{}, []string{"config.azureAccountName"}},
		{"gcs not a service account", destination.GCS, destination.Config{Bucket: "bucket", GCSServiceAccountJSON: `{"type":"authorized_user","client_secret":"zzz"}`}, destination.ValidateOptions{}, []string{"config.gcsServiceAccountJson"}},
		{"gcs not json", destination.GCS, destination.Config{Bucket: "bucket", GCSServiceAccountJSON: `nope`}, destination.ValidateOptions{}, []string{"config.gcsServiceAccountJson"}},
		{"azure key not base64", destination.Azure, destination.Config{AzureAccountName: "acct1", AzureAccountKey: "not base64!!", AzureContainerName: "videos"}, destination.ValidateOptions{}, []string{"config.azureAccountKey"}},
		{"azure names", destination.Azure, destination.Config{AzureAccountName: "Acct_1", AzureAccountKey: "a2V5", AzureContainerName: "a--b"}, destination.ValidateOptions{}, []string{"config.azureAccountName", "config.azureContainerName"}},
		{"drive folder", destination.Drive, destination.Config{DriveFolderID: "../x"}, destination.ValidateOptions{}, []string{"config.driveFolderId"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := destination.Validate(tc.provider, tc.cfg, tc.opts)
			var ve *destination.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			for _, f := range tc.fields {
				if _, ok := ve.Field(f); !ok {
					t.Errorf("no error for %s in %v", f, err)
				}
			}
			for _, secret := range []string{tc.cfg.SecretAccessKey, tc.cfg.AzureAccountKey, "zzz"} {
				if secret != "" && len(secret) > 2 && strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestValidateStoredSecretsSatisfyRequired(t *testing.T) {
	c := validR2()
	c.SecretAccessKey = ""
	if _, err := destination.Validate(destination.R2, c, destination.ValidateOptions{}); err == nil {
		t.Fatal("missing secret accepted")
	}
	if _, err := destination.Validate(destination.R2, c, destination.ValidateOptions{StoredSecrets: []destination.SecretField{destination.SecretAccessKey}}); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeConfig(t *testing.T) {
	for _, tc := range []struct{ in, field string }{
		{`{"bucket": 5}`, "config.bucket"},
		{`{"bucket": "b", "nope": 1}`, "config.nope"},
		{`{"bucket": `, "config"},
		{`[]`, "config"},
		{`{} {}`, "config"},
		{``, "config"},
	} {
		_, err := destination.DecodeConfig([]byte(tc.in))
		var ve *destination.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: want ValidationError, got %v", tc.in, err)
		}
		if _, ok := ve.Field(tc.field); !ok {
			t.Errorf("%s: want field %s, got %v", tc.in, tc.field, err)
		}
	}
	c, err := destination.DecodeConfig([]byte(`{"bucket":"b","secretAccessKey":"S3CRET-KEY-1"}`))
	if err != nil || c.Bucket != "b" {
		t.Fatal(err)
	}
	if s := c.String() + c.GoString(); strings.Contains(s, "S3CRET") {
		t.Fatalf("String leaks secret: %s", s)
	}
}

func TestConfigJSONNeverHasDriveToken(t *testing.T) {
	c := destination.Config{DriveRefreshToken: "1//refresh-token-value"}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "refresh-token") {
		t.Fatal(string(b))
	}
}

func TestParseProvider(t *testing.T) {
	for _, p := range destination.Providers() {
		q, err := destination.ParseProvider(string(p))
		if err != nil || q != p {
			t.Fatal(p, err)
		}
	}
	var p destination.Provider
	if err := json.Unmarshal([]byte(`"S3"`), &p); !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("case-insensitive parse accepted: %v", err)
	}
	if !destination.Wasabi.S3Compatible() || destination.GCS.S3Compatible() {
		t.Fatal("S3Compatible")
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "  ": "", "renders": "renders/", "renders/": "renders/", "a/b/c": "a/b/c/", "campaigns/summer-2026/": "campaigns/summer-2026/",
		"ünï/cödé": "ünï/cödé/",
	} {
		got, err := destination.NormalizePrefix(in)
		if err != nil || got != want {
			t.Errorf("NormalizePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzNormalizePrefix(f *testing.F) {
	for _, s := range []string{"renders/", "../x", "/abs", "a//b", `a\b`, "a\x00b", "a/./b", "ü/", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := destination.NormalizePrefix(s)
		if err != nil {
			if !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p == "" {
			return
		}
		if strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, `\`) || len(p) > destination.MaxPrefixLen {
			t.Fatalf("bad normalized prefix %q from %q", p, s)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("dot segment in %q", p)
			}
		}
		if again, err := destination.NormalizePrefix(p); err != nil || again != p {
			t.Fatalf("not idempotent: %q -> %q, %v", p, again, err)
		}
	})
}

func FuzzDecodeValidate(f *testing.F) {
	f.Add("r2", []byte(`{"endpoint":"https://a.r2.cloudflarestorage.com","bucket":"b-1","accessKeyId":"k","secretAccessKey":"SECRETVALUE","pathPrefix":"x/"}`))
	f.Add("gcs", []byte(`{"bucket":"b","gcsServiceAccountJson":"{\"type\":\"service_account\"}"}`))
	f.Add("azure", []byte(`{"azureAccountName":"a","azureAccountKey":"!!","azureContainerName":"c"}`))
	f.Add("s3", []byte(`{"bucket":1}`))
	f.Add("drive", []byte(`{"driveFolderId":"x"}`))
	f.Fuzz(func(t *testing.T, provider string, data []byte) {
		c, err := destination.DecodeConfig(data)
		if err != nil {
			if !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("untyped decode error %v", err)
			}
			return
		}
		n, err := destination.Validate(destination.Provider(provider), c, destination.ValidateOptions{})
		if err != nil {
			var ve *destination.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("untyped validation error %v", err)
			}
			for _, secret := range []string{c.SecretAccessKey, c.AzureAccountKey} {
				if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks secret %q: %v", secret, err)
				}
			}
			return
		}
		if again, err := destination.Validate(destination.Provider(provider), n, destination.ValidateOptions{}); err != nil || again != n {
			t.Fatalf("validation not idempotent: %v", err)
		}
	})
}
