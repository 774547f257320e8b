package azure_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

const blockSize = 5 << 20

func newClient(t *testing.T, u destination.Unsealer, rec *emulator.Recorder) *provider.Client {
	opts := provider.Options{PartSize: blockSize, Concurrency: 2}
	if rec != nil {
		opts.WrapTransport = rec.Wrap
	}
	return emulator.NewClient(t, u, opts, nil, azure.NewDriver(azure.Options{}))
}

func TestRoundTrip(t *testing.T) {
	cfg := emulator.Azure(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	emulator.CheckRoundTrip(t, c, in, "renders/r1.mov", "video/quicktime",
		cfg.Endpoint+"/"+cfg.AzureAccountName+"/"+cfg.AzureContainerName+"/renders/r1.mov")
	for _, r := range rec.Requests() {
		if !strings.HasPrefix(r.URL.Path, "/"+cfg.AzureAccountName+"/"+cfg.AzureContainerName+"/") {
			t.Errorf("%s %s: not the path-style emulator URL", r.Method, r.URL)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "SharedKey "+cfg.AzureAccountName+":") {
			t.Errorf("%s %s: not signed with the shared key", r.Method, r.URL)
		}
	}
}

// TestBlocks records a multi-block upload: equal-size staged blocks, then one Put Block List.
func TestBlocks(t *testing.T) {
	cfg := emulator.Azure(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	const size = 2*blockSize + 99
	if _, err := c.Upload(context.Background(), in, "b/big.mp4", emulator.NewData(size, 2), destination.UploadOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	var blocks []int64
	var lists int
	for _, r := range rec.Requests() {
		switch q := r.URL.Query(); {
		case r.Method == http.MethodPut && q.Get("comp") == "block":
			blocks = append(blocks, r.BodyBytes)
		case r.Method == http.MethodPut && q.Get("comp") == "blocklist":
			lists++
		}
	}
	slices.Sort(blocks) // blocks go out concurrently
	if len(blocks) != 3 || blocks[2] != blockSize || blocks[1] != blockSize || lists != 1 {
		t.Fatalf("blocks %v, block lists %d; want 3 blocks of %d (last shorter) and 1 list", blocks, lists, blockSize)
	}
}

func TestBigUpload(t *testing.T) {
	cfg := emulator.Azure(t)
	var u emulator.Unsealer
	emulator.CheckBigUpload(t, newClient(t, &u, nil), u.Integration(destination.Azure, cfg), 200<<20)
}

func TestCancelledUpload(t *testing.T) {
	srv := emulator.NeedAzure(t)
	cfg := srv.Container(t)
	var u emulator.Unsealer
	emulator.CheckCancelledUpload(t, newClient(t, &u, nil), u.Integration(destination.Azure, cfg), blockSize)
}

func TestProbe(t *testing.T) {
	good := emulator.Azure(t)
	wrongKey := base64.StdEncoding.EncodeToString([]byte("wrong-azure-key-DO-NOT-LEAK-0123456789abcdef"))
	cases := append(emulator.StandardProbeCases(t),
		emulator.ProbeCase{Name: "wrong secret", Code: provider.CodeInvalidCredentials,
			Mutate: func(c destination.Config) destination.Config { c.AzureAccountKey = wrongKey; return c }},
		emulator.ProbeCase{Name: "missing container", Code: provider.CodeBucketNotFound,
			Mutate: func(c destination.Config) destination.Config {
				c.AzureContainerName = emulator.Name("missing-")
				return c
			}},
	)
	emulator.CheckProbes(t, destination.Azure, good, cases, azure.NewDriver(azure.Options{MaxRetries: -1}))
}

func TestServiceURL(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"", "https://acct.blob.core.windows.net"},
		{"https://acct.blob.core.chinacloudapi.cn", "https://acct.blob.core.chinacloudapi.cn"},
		{"http://127.0.0.1:10000", "http://127.0.0.1:10000/acct"},
	} {
		got, err := azure.ServiceURL(destination.Config{AzureAccountName: "acct", Endpoint: tc.endpoint})
		if err != nil || got != tc.want {
			t.Errorf("ServiceURL(%q) = %q, %v; want %q", tc.endpoint, got, err, tc.want)
		}
	}
}

func TestObjectURL(t *testing.T) {
	var u emulator.Unsealer
	cfg := destination.Config{AzureAccountName: "acct", AzureAccountKey: base64.StdEncoding.EncodeToString([]byte("k")), AzureContainerName: "videos"}
	c := emulator.NewClient(t, &u, provider.Options{}, nil, azure.NewDriver(azure.Options{}))
	got, err := c.ObjectURL(context.Background(), u.Integration(destination.Azure, cfg), "a b/c.mp4")
	if want := "https://acct.blob.core.windows.net/videos/a%20b/c.mp4"; got != want || err != nil {
		t.Errorf("ObjectURL = %q, %v; want %q", got, err, want)
	}
}

// FuzzServiceURL: any endpoint gives an error or an absolute URL naming the account.
func FuzzServiceURL(f *testing.F) {
	for _, s := range []string{"", "http://127.0.0.1:10000", "https://acct.blob.core.chinacloudapi.cn", "::", "http://[::1]:1/x?y#z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, endpoint string) {
		got, err := azure.ServiceURL(destination.Config{AzureAccountName: "acct", Endpoint: endpoint})
		if err == nil && (!strings.Contains(got, "acct") || !strings.Contains(got, "://")) {
			t.Fatalf("ServiceURL(%q) = %q", endpoint, got)
		}
	})
}

func TestUploadContract(t *testing.T) {
	srv := emulator.NeedAzure(t)
	cfg := srv.Container(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	emulator.CheckUploadContract(t, newClient(t, &u, nil), in, blockSize, srv.RawAzure(t, cfg))
}
