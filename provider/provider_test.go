package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// memDriver is a Driver over in-memory buckets, for the Client's own logic (cache, upload
// plumbing); the real drivers are tested against real servers in their packages.
type memDriver struct {
	opened atomic.Int64
	mu     sync.Mutex
	last   *blob.Bucket
	urlErr error
}

func (d *memDriver) Providers() []destination.Provider { return []destination.Provider{destination.S3} }

func (d *memDriver) Open(_ context.Context, _ *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if hc == nil || cfg.SecretAccessKey == "" {
		return nil, errors.New("memDriver: no HTTP client or no unsealed secret")
	}
	d.opened.Add(1)
	b := memblob.OpenBucket(nil)
	d.mu.Lock()
	d.last = b
	d.mu.Unlock()
	return b, nil
}

func (d *memDriver) ObjectURL(_ context.Context, _ *blob.Bucket, in *destination.Integration, key string) (string, error) {
	if d.urlErr != nil {
		return "", d.urlErr
	}
	return provider.JoinURL("https://cdn.example.com", key), nil
}

func memClient(t *testing.T, opts provider.Options) (*provider.Client, *memDriver, *emulator.Unsealer) {
	d := &memDriver{}
	u := &emulator.Unsealer{}
	c, err := provider.New(u, opts, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, d, u
}

var memCfg = destination.Config{Bucket: "b", AccessKeyID: "AK", SecretAccessKey: "mem-secret-value", Region: "us-east-1"}

func TestCacheUnsealsOncePerVersion(t *testing.T) {
	c, d, u := memClient(t, provider.Options{})
	ctx := context.Background()
	in := u.Integration(destination.S3, memCfg)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Upload(ctx, in, "a/b.mp4", strings.NewReader("x"), destination.UploadOptions{Size: -1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if u.Calls() != 1 || d.opened.Load() != 1 {
		t.Fatalf("8 concurrent uploads unsealed %d times and opened %d buckets; want 1 and 1", u.Calls(), d.opened.Load())
	}
	old, rel, _ := c.Lease(ctx, in)
	rel()
	v2 := in.Clone()
	v2.Version = 2
	if _, rel, err := c.Lease(ctx, v2); err != nil {
		t.Fatal(err)
	} else {
		rel()
	}
	if u.Calls() != 2 {
		t.Fatalf("a new version did not unseal again (%d calls)", u.Calls())
	}
	if _, err := old.Attributes(ctx, "a/b.mp4"); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("the old version's bucket is still open (err %v)", err)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c, d, u := memClient(t, provider.Options{CacheSize: 2})
	ctx := context.Background()
	a, b, x := u.Integration(destination.S3, memCfg), u.Integration(destination.S3, memCfg), u.Integration(destination.S3, memCfg)
	lease := func(in *destination.Integration) *blob.Bucket {
		b, rel, err := c.Lease(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rel()
		return b
	}
	ba := lease(a)
	lease(b)
	lease(a) // a is now the most recent
	lease(x) // evicts b
	if _, err := ba.Attributes(ctx, "k"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Fatalf("a was evicted although recently used (err %v)", err)
	}
	lease(b)
	if d.opened.Load() != 4 {
		t.Fatalf("opened %d buckets, want 4 (b reopened after eviction)", d.opened.Load())
	}
}

func TestCloseAndErrors(t *testing.T) {
	c, _, u := memClient(t, provider.Options{})
	ctx := context.Background()
	in := u.Integration(destination.S3, memCfg)
	if _, err := c.Upload(ctx, in, "dir/", strings.NewReader("x"), destination.UploadOptions{Size: -1}); err == nil {
		t.Error("a key ending in / was accepted")
	}
	drive := u.Integration(destination.Drive, destination.Config{})
	if _, err := c.Upload(ctx, drive, "k", strings.NewReader("x"), destination.UploadOptions{Size: -1}); !errors.Is(err, provider.ErrNoDriver) {
		t.Errorf("no driver: %v", err)
	}
	unknown := *in
	unknown.ID = "not-registered"
	if r := c.Test(ctx, &unknown); r.OK || r.Code != provider.CodeInvalidCredentials {
		t.Errorf("unsealing failure: %+v", r)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Lease(ctx, in); !errors.Is(err, provider.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := provider.New(u, provider.Options{}, &memDriver{}, &memDriver{}); err == nil {
		t.Error("two drivers for one provider accepted")
	}
	if _, err := provider.New(u, provider.Options{PartSize: 1 << 20}); err == nil {
		t.Error("a 1 MiB part size accepted")
	}
}

func TestUploadReportsAndAborts(t *testing.T) {
	c, d, u := memClient(t, provider.Options{})
	ctx := context.Background()
	in := u.Integration(destination.S3, memCfg)
	var calls, last int64
	res, err := c.Upload(ctx, in, "r/video.mp4", emulator.NewData(300<<10, 1), destination.UploadOptions{Size: -1, Progress: func(n int64) { calls++; last = n }})
	if err != nil || res.Size != 300<<10 || last != res.Size || calls == 0 || res.URL != "https://cdn.example.com/r/video.mp4" {
		t.Fatalf("Upload = %+v, %v; progress %d calls, last %d", res, err, calls, last)
	}
	b, rel, _ := c.Lease(ctx, in)
	defer rel()
	if a, err := b.Attributes(ctx, "r/video.mp4"); err != nil || a.ContentType != "video/mp4" {
		t.Fatalf("attributes %+v, %v", a, err)
	}
	// A failing source leaves nothing behind.
	_, err = c.Upload(ctx, in, "r/failed.mp4", &failing{n: 100 << 10}, destination.UploadOptions{Size: -1})
	if !errors.Is(err, errSource) {
		t.Fatalf("Upload with a failing source: %v", err)
	}
	if ok, _ := b.Exists(ctx, "r/failed.mp4"); ok {
		t.Fatal("a failed upload left an object")
	}
	// A URL failure does not fail the upload.
	d.urlErr = errors.New("no URL")
	if res, err := c.Upload(ctx, in, "r/nourl.mp4", strings.NewReader("x"), destination.UploadOptions{Size: -1}); err != nil || res.URL != "" {
		t.Fatalf("Upload with URL failure = %+v, %v", res, err)
	}
}

var errSource = errors.New("source failed")

type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errSource
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	f.n -= len(p)
	return len(p), nil
}

func TestContentType(t *testing.T) {
	for k, want := range map[string]string{"a/b.mp4": "video/mp4", "X.MOV": "video/quicktime", "a.webm": "video/webm",
		"noext": "application/octet-stream", "a.png": "image/png"} {
		if got := provider.ContentType(k); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", k, got, want)
		}
	}
}

// TestRedirectsNotFollowed: the shared client returns a redirect instead of following it.
func TestRedirectsNotFollowed(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	c, _, _ := memClient(t, provider.Options{AllowedNetworks: emulator.Loopback})
	resp, err := c.HTTPClient().Get(redirect.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits.Load() != 0 {
		t.Fatalf("status %d, %d hits on the redirect target; want 302 and none", resp.StatusCode, hits.Load())
	}
	// Without the allow-list the same request is refused at dial time.
	c2, _, _ := memClient(t, provider.Options{})
	if _, err := c2.HTTPClient().Get(redirect.URL); !errors.Is(err, provider.ErrBlockedAddress) {
		t.Fatalf("loopback request without allow-list: %v", err)
	}
}

// TestBlockedEndpointNotNamed: a refused endpoint is reported as not allowed, never with the
// address it resolves to (a tenant would otherwise map the host's internal DNS).
func TestBlockedEndpointNotNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c, _, _ := memClient(t, provider.Options{})
	for _, err := range []error{
		func() error { _, err := c.HTTPClient().Get("http://localhost:" + port); return err }(),
		&provider.BlockedAddressError{Addr: netip.MustParseAddr("10.0.0.1")},
		fmt.Errorf("oauth2: cannot fetch token: %v", &provider.BlockedAddressError{Addr: netip.MustParseAddr("10.0.0.1")}),
	} {
		cl := provider.Classify(err)
		if !errors.Is(err, provider.ErrBlockedAddress) && !strings.Contains(err.Error(), "not allowed") {
			t.Fatalf("%v: not a refusal", err)
		}
		for _, leak := range []string{"127.0.0.1", "::1", "10.0.0.1", "resolves", "private", "loopback"} {
			if strings.Contains(cl.Message, leak) {
				t.Errorf("message %q says %q", cl.Message, leak)
			}
			var be *provider.BlockedAddressError
			if errors.As(err, &be) && strings.Contains(be.Error(), leak) {
				t.Errorf("BlockedAddressError %q says %q", be, leak)
			}
		}
		if cl.Code != provider.CodeEndpointUnreachable || !strings.Contains(cl.Message, "the endpoint is not allowed") {
			t.Errorf("Classify = %+v, want endpoint_unreachable saying the endpoint is not allowed", cl)
		}
	}
}

// probingDriver adds a multipart probe whose cleanup fails, or whose upload fails.
type probingDriver struct {
	memDriver
	err error
}

func (d *probingDriver) ProbeMultipart(_ context.Context, _ *blob.Bucket, _ *destination.Integration, key string) error {
	return d.err
}

func TestProbeWarningsAndFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		err      error
		ok       bool
		code     string
		warnings int
	}{
		{"probe ok", nil, true, provider.CodeOK, 0},
		{"cleanup fails", provider.ProbeDeleted("p/.probe", errors.New("AccessDenied")), true, provider.CodeOK, 1},
		{"multipart refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false, provider.CodeEndpointUnreachable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &emulator.Unsealer{}
			c, err := provider.New(u, provider.Options{}, &probingDriver{err: tc.err})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cfg := memCfg
			cfg.PathPrefix = "renders/"
			in := u.Integration(destination.S3, cfg)
			r := c.Test(ctx, in)
			if r.OK != tc.ok || r.Code != tc.code || len(r.Warnings) != tc.warnings || r.TestedAt.IsZero() {
				t.Fatalf("Test = %+v", r)
			}
			b, rel, _ := c.Lease(ctx, in)
			defer rel()
			if left, _ := b.List(&blob.ListOptions{}).Next(ctx); left != nil {
				t.Errorf("the probe left %s behind", left.Key)
			}
			// Skipping the multipart probe skips its failure.
			c2, _ := provider.New(u, provider.Options{SkipMultipartProbe: true}, &probingDriver{err: tc.err})
			defer c2.Close()
			if r := c2.Test(ctx, in); !r.OK {
				t.Fatalf("Test without multipart probe = %+v", r)
			}
		})
	}
}

func TestCloseClosesBuckets(t *testing.T) {
	c, _, u := memClient(t, provider.Options{})
	ctx := context.Background()
	b, rel, err := c.Lease(ctx, u.Integration(destination.S3, memCfg))
	if err != nil {
		t.Fatal(err)
	}
	rel()
	c.Close()
	if _, err := b.Attributes(ctx, "k"); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("bucket still open after Close (err %v)", err)
	}
}

// TestCacheKeyedByWorkspace: the same integration ID and version in two workspaces are two
// buckets (unsealed each), never one tenant's bucket handed to the other.
func TestCacheKeyedByWorkspace(t *testing.T) {
	c, d, u := memClient(t, provider.Options{})
	ctx := context.Background()
	a := u.Integration(destination.S3, memCfg)
	b := a.Clone()
	b.WorkspaceID = "ws-other"
	ba, rela, err := c.Lease(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer rela()
	bb, relb, err := c.Lease(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer relb()
	if ba == bb || d.opened.Load() != 2 || u.Calls() != 2 {
		t.Fatalf("same bucket %v, opened %d, unsealed %d; want two buckets", ba == bb, d.opened.Load(), u.Calls())
	}
	// Both stay usable: opening one workspace's integration does not evict the other's.
	if _, err := ba.Attributes(ctx, "k"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Fatalf("workspace A's bucket: %v", err)
	}
}

// TestLeaseHoldsBucket: a leased bucket stays open across eviction and Close until released.
func TestLeaseHoldsBucket(t *testing.T) {
	c, _, u := memClient(t, provider.Options{})
	ctx := context.Background()
	in := u.Integration(destination.S3, memCfg)
	b, release, err := c.Lease(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := b.Attributes(ctx, "k"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Fatalf("leased bucket closed before release: %v", err)
	}
	release()
	release() // idempotent
	if _, err := b.Attributes(ctx, "k"); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("released bucket still open after Close: %v", err)
	}
}

// TestNilInputs: nil and typed-nil inputs are errors, never panics.
func TestNilInputs(t *testing.T) {
	c, _, u := memClient(t, provider.Options{})
	ctx := context.Background()
	if r := c.Test(ctx, nil); r.OK || r.Code == "" {
		t.Errorf("Test(nil) = %+v", r)
	}
	var typed *destination.Integration
	if r := c.Test(ctx, typed); r.OK {
		t.Errorf("Test(typed nil) = %+v", r)
	}
	in := u.Integration(destination.S3, memCfg)
	var nilReader *strings.Reader
	for name, up := range map[string]func() error{
		"nil integration": func() error {
			_, err := c.Upload(ctx, nil, "k.mp4", strings.NewReader("x"), destination.UploadOptions{Size: 1})
			return err
		},
		"nil source": func() error {
			_, err := c.Upload(ctx, in, "k.mp4", nil, destination.UploadOptions{Size: 1})
			return err
		},
		"typed-nil source": func() error {
			_, err := c.Upload(ctx, in, "k.mp4", nilReader, destination.UploadOptions{Size: 1})
			return err
		},
		"bad size": func() error {
			_, err := c.Upload(ctx, in, "k.mp4", strings.NewReader("x"), destination.UploadOptions{Size: -2})
			return err
		},
	} {
		if err := up(); destination.AsUploadError(err) == nil {
			t.Errorf("%s: %v, want an UploadError", name, err)
		}
	}
	if _, _, err := c.Lease(ctx, nil); err == nil {
		t.Error("Lease(nil) succeeded")
	}
}
