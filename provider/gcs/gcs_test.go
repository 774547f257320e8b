package gcs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
)

const chunk = 8 << 20

func driver() *gcs.Driver {
	return gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}})
}

func newClient(t *testing.T, u destination.Unsealer, rec *emulator.Recorder) *provider.Client {
	opts := provider.Options{PartSize: chunk, Concurrency: 2}
	if rec != nil {
		opts.WrapTransport = rec.Wrap
	}
	return emulator.NewClient(t, u, opts, nil, driver())
}

func TestRoundTrip(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	emulator.CheckRoundTrip(t, c, in, "renders/r1.webm", "video/webm", cfg.Endpoint+"/"+cfg.Bucket+"/renders/r1.webm")
	var tokenReqs, authorized int
	for _, r := range rec.Requests() {
		switch {
		case r.Host == emulator.TokenHost():
			tokenReqs++
		case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer test-token-"):
			authorized++
		default:
			t.Errorf("%s %s sent without the service account's token", r.Method, r.URL)
		}
	}
	if tokenReqs != 1 || authorized == 0 {
		t.Errorf("%d token requests, %d authorized requests; want 1 token request (reused)", tokenReqs, authorized)
	}
}

// TestResumable records a multi-chunk upload: one resumable session, equal 256 KiB-aligned chunks.
func TestResumable(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	const size = 2*chunk + 99
	if _, err := c.Upload(context.Background(), in, "b/big.mp4", emulator.NewData(size, 2), destination.UploadOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	var chunks []int64
	for _, r := range rec.Requests() {
		if r.URL.Query().Get("upload_id") != "" && r.BodyBytes > 0 {
			chunks = append(chunks, r.BodyBytes)
		}
	}
	if len(chunks) != 3 || chunks[0] != chunk || chunks[1] != chunk || chunks[2] != 99 {
		t.Fatalf("chunks %v, want %d, %d, 99", chunks, chunk, chunk)
	}
}

func TestBigUpload(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	emulator.CheckBigUpload(t, newClient(t, &u, nil), u.Integration(destination.GCS, cfg), 200<<20)
}

func TestCancelledUpload(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	emulator.CheckCancelledUpload(t, newClient(t, &u, nil), u.Integration(destination.GCS, cfg), chunk)
}

func TestProbe(t *testing.T) {
	good := emulator.GCS(t)
	wrongKey := emulator.ServiceAccountJSON(t, "unknown@outputs-test.iam.gserviceaccount.com", false)
	cases := append(emulator.StandardProbeCases(t),
		emulator.ProbeCase{Name: "wrong secret", Code: provider.CodeInvalidCredentials,
			Mutate: func(c destination.Config) destination.Config { c.GCSServiceAccountJSON = wrongKey; return c }},
		emulator.ProbeCase{Name: "missing bucket", Code: provider.CodeBucketNotFound,
			Mutate: func(c destination.Config) destination.Config { c.Bucket = emulator.Name("missing-"); return c }},
	)
	emulator.CheckProbes(t, destination.GCS, good, cases, driver())
}

// TestTokenURI: a key whose token_uri is not Google's is refused before any request.
func TestTokenURI(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	rec := &emulator.Recorder{}
	c := emulator.NewClient(t, &u, provider.Options{WrapTransport: rec.Wrap}, nil, gcs.NewDriver(gcs.Options{}))
	r := c.Test(context.Background(), in)
	if r.OK || !strings.Contains(r.Message, "token_uri") || r.Code != provider.CodeInvalidCredentials {
		t.Fatalf("Test = %+v, want a refusal naming token_uri", r)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("%d requests sent with a foreign token_uri", n)
	}
	emulator.NoSecrets(t, cfg, destination.GCS, r.Message)
}

func TestObjectURL(t *testing.T) {
	var u emulator.Unsealer
	cfg := destination.Config{Bucket: "videos", GCSServiceAccountJSON: emulator.ServiceAccountJSON(t, "x@p.iam.gserviceaccount.com", false)}
	c := emulator.NewClient(t, &u, provider.Options{}, nil, driver())
	got, err := c.ObjectURL(context.Background(), u.Integration(destination.GCS, cfg), "a b/c.mp4")
	if want := "https://storage.googleapis.com/videos/a%20b/c.mp4"; got != want || err != nil {
		t.Errorf("ObjectURL = %q, %v; want %q", got, err, want)
	}
}

// FuzzOpen: any key JSON either opens or fails with an error that never quotes its private key.
func FuzzOpen(f *testing.F) {
	f.Add("service_account", "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", "https://oauth2.googleapis.com/token")
	f.Add("authorized_user", "x", "http://169.254.169.254/token")
	f.Add("service_account", "PRIVATE KEY", "https://evil.example.com/token")
	d := driver()
	hc := &http.Client{}
	f.Fuzz(func(t *testing.T, typ, key, tokenURI string) {
		js, _ := json.Marshal(map[string]string{"type": typ, "private_key": key, "client_email": "a@b.iam.gserviceaccount.com", "token_uri": tokenURI})
		cfg := destination.Config{Bucket: "videos", GCSServiceAccountJSON: string(js)}
		in := &destination.Integration{ID: "i", Provider: destination.GCS, Config: cfg.WithoutSecrets()}
		b, err := d.Open(context.Background(), in, cfg, hc)
		if err == nil {
			b.Close()
			return
		}
		if len(key) >= 8 && strings.Contains(err.Error(), key) {
			t.Fatalf("error quotes the private key: %v", err)
		}
	})
}

func TestUploadContract(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	emulator.CheckUploadContract(t, newClient(t, &u, nil), in, chunk, emulator.RawGCS(cfg))
}
