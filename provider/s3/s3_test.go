package s3_test

import (
	"context"
	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	"gocloud.dev/blob/s3blob"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

const partSize = 5 << 20

// newClient returns a provider.Client with the S3 driver, allowed to reach loopback, recording
// requests into rec when non-nil.
func newClient(t *testing.T, u destination.Unsealer, rec *emulator.Recorder, dopts s3.Options) *provider.Client {
	t.Helper()
	opts := provider.Options{PartSize: partSize, Concurrency: 2}
	if rec != nil {
		opts.WrapTransport = rec.Wrap
	}
	return emulator.NewClient(t, u, opts, nil, s3.NewDriver(dopts))
}

func TestRoundTrip(t *testing.T) {
	cfg := emulator.S3(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	c := newClient(t, &u, nil, s3.Options{})
	emulator.CheckRoundTrip(t, c, in, "renders/r1.mp4", "video/mp4", cfg.Endpoint+"/"+cfg.Bucket+"/renders/r1.mp4")
	if u.Calls() != 1 {
		t.Errorf("Unseal ran %d times for one integration version, want 1", u.Calls())
	}
}

// TestNonAWSQuirks records what the client sends to a real S3 server (versitygw) for every
// non-AWS provider: no checksum headers or aws-chunked bodies, no ACL, path-style addressing,
// equal-size multipart parts.
func TestNonAWSQuirks(t *testing.T) {
	srv := emulator.NeedS3(t)
	for _, p := range []destination.Provider{destination.S3, destination.B2, destination.Wasabi} {
		t.Run(string(p), func(t *testing.T) {
			cfg := srv.Bucket(t)
			var u emulator.Unsealer
			in := u.Integration(p, cfg)
			rec := &emulator.Recorder{}
			c := newClient(t, &u, rec, s3.Options{})
			const size = 2*partSize + 1234
			if _, err := c.Upload(context.Background(), in, "q/big.mp4", emulator.NewData(size, 1), destination.UploadOptions{Size: -1}); err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if r := c.Test(context.Background(), in); !r.OK {
				t.Fatalf("Test: %+v", r)
			}
			parts := map[string]int64{} // part number → bytes (parts go out concurrently)
			for _, r := range rec.Requests() {
				checkNoQuirkHeaders(t, r)
				if !strings.HasPrefix(r.URL.Path, "/"+cfg.Bucket+"/") {
					t.Errorf("%s %s: not path-style", r.Method, r.URL)
				}
				if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && strings.Contains(r.URL.Path, "big.mp4") {
					parts[r.URL.Query().Get("partNumber")] = r.BodyBytes
				}
			}
			if len(parts) != 3 || parts["1"] != partSize || parts["2"] != partSize {
				t.Fatalf("parts %v, want 1 and 2 of %d bytes and a shorter 3 (equal-size parts)", parts, partSize)
			}
			sum := parts["1"] + parts["2"] + parts["3"]
			if sum != size {
				t.Errorf("parts sum to %d, want %d", sum, size)
			}
		})
	}
}

func checkNoQuirkHeaders(t *testing.T, r emulator.Request) {
	t.Helper()
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, "x-amz-checksum-"), lk == "x-amz-sdk-checksum-algorithm", lk == "x-amz-trailer",
			lk == "x-amz-acl", strings.HasPrefix(lk, "x-amz-grant-"):
			t.Errorf("%s %s sent %s: %v", r.Method, r.URL.Path, k, v)
		case lk == "content-encoding" && strings.Contains(strings.Join(v, ","), "aws-chunked"),
			lk == "x-amz-content-sha256" && strings.HasPrefix(v[0], "STREAMING-"):
			t.Errorf("%s %s sent %s: %v (aws-chunked)", r.Method, r.URL.Path, k, v)
		}
	}
}

// TestRouting records (without sending) what the client would send to the real providers.
func TestRouting(t *testing.T) {
	cases := []struct {
		name        string
		p           destination.Provider
		cfg         destination.Config
		opts        s3.Options
		host, path  string
		region      string
		checksummed bool
		acl         string
	}{
		{name: "aws", p: destination.S3, cfg: destination.Config{Region: "eu-west-1"},
			host: "videos-bucket.s3.eu-west-1.amazonaws.com", path: "/k.mp4", region: "eu-west-1", checksummed: true},
		{name: "aws-acl", p: destination.S3, cfg: destination.Config{Region: "us-east-2"}, opts: s3.Options{ACL: "bucket-owner-full-control"},
			host: "videos-bucket.s3.us-east-2.amazonaws.com", path: "/k.mp4", region: "us-east-2", checksummed: true, acl: "bucket-owner-full-control"},
		{name: "r2", p: destination.R2, cfg: destination.Config{Endpoint: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"},
			host: "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com", path: "/videos-bucket/k.mp4", region: "auto"},
		{name: "b2", p: destination.B2, cfg: destination.Config{Endpoint: "https://s3.us-west-004.backblazeb2.com"},
			host: "videos-bucket.s3.us-west-004.backblazeb2.com", path: "/k.mp4", region: "us-west-004"},
		{name: "wasabi", p: destination.Wasabi, cfg: destination.Config{Region: "eu-central-1"},
			host: "videos-bucket.s3.eu-central-1.wasabisys.com", path: "/k.mp4", region: "eu-central-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Bucket, cfg.AccessKeyID, cfg.SecretAccessKey = "videos-bucket", "AKIDEXAMPLE", "routing-secret-value"
			var u emulator.Unsealer
			in := u.Integration(tc.p, cfg)
			rec := &emulator.Recorder{Stub: true}
			c := newClient(t, &u, rec, tc.opts)
			_, err := c.Upload(context.Background(), in, "k.mp4", strings.NewReader("hello"), destination.UploadOptions{Size: -1})
			if !errors.Is(err, emulator.ErrStub) {
				t.Fatalf("Upload error %v, want the stub's", err)
			}
			reqs := rec.Requests()
			if len(reqs) == 0 {
				t.Fatal("no request recorded")
			}
			r := reqs[0]
			if r.Method != http.MethodPut || r.Host != tc.host || !strings.HasSuffix(r.URL.Path, tc.path) {
				t.Errorf("sent %s %s%s, want PUT %s ...%s", r.Method, r.Host, r.URL.Path, tc.host, tc.path)
			}
			if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/"+tc.region+"/s3/aws4_request") {
				t.Errorf("Authorization %q does not sign for region %s", auth, tc.region)
			}
			var hasChecksum bool
			for k := range r.Header {
				lk := strings.ToLower(k)
				hasChecksum = hasChecksum || strings.HasPrefix(lk, "x-amz-checksum-") || lk == "x-amz-sdk-checksum-algorithm"
			}
			if hasChecksum != tc.checksummed {
				t.Errorf("checksum headers sent: %v, want %v (%v)", hasChecksum, tc.checksummed, r.Header)
			}
			if got := r.Header.Get("X-Amz-Acl"); got != tc.acl {
				t.Errorf("x-amz-acl %q, want %q", got, tc.acl)
			}
			if !tc.checksummed {
				checkNoQuirkHeaders(t, r)
			}
		})
	}
}

func TestBigUpload(t *testing.T) {
	cfg := emulator.S3(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	emulator.CheckBigUpload(t, newClient(t, &u, nil, s3.Options{}), in, 200<<20)
}

// TestCancelledUpload cancels an upload after two parts went out: no object and no multipart
// upload may remain.
func TestCancelledUpload(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	emulator.CheckCancelledUpload(t, newClient(t, &u, nil, s3.Options{}), in, partSize)
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 0 {
		t.Fatalf("%d multipart uploads left after a cancelled upload", n)
	}
}

func TestObjectURL(t *testing.T) {
	const secret = "url-secret-DO-NOT-LEAK"
	base := destination.Config{Bucket: "videos", AccessKeyID: "AKID", SecretAccessKey: secret}
	r2 := destination.Config{Endpoint: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"}
	cases := []struct {
		name string
		p    destination.Provider
		cfg  destination.Config
		opts s3.Options
		want string // prefix for presigned URLs
	}{
		{"aws", destination.S3, destination.Config{Region: "eu-west-1"}, s3.Options{}, "https://videos.s3.eu-west-1.amazonaws.com/a%20b/c.mp4"},
		{"aws dotted", destination.S3, destination.Config{Region: "eu-west-1", Bucket: "my.videos"}, s3.Options{}, "https://s3.eu-west-1.amazonaws.com/my.videos/a%20b/c.mp4"},
		{"public url", destination.S3, destination.Config{Region: "eu-west-1", PublicURL: "https://cdn.example.com/v"}, s3.Options{}, "https://cdn.example.com/v/a%20b/c.mp4"},
		{"custom endpoint", destination.S3, destination.Config{Endpoint: "https://minio.example.com"}, s3.Options{}, "https://minio.example.com/videos/a%20b/c.mp4"},
		{"b2", destination.B2, destination.Config{Endpoint: "https://s3.us-west-004.backblazeb2.com"}, s3.Options{}, "https://s3.us-west-004.backblazeb2.com/videos/a%20b/c.mp4"},
		{"wasabi", destination.Wasabi, destination.Config{Region: "eu-central-1"}, s3.Options{}, "https://s3.eu-central-1.wasabisys.com/videos/a%20b/c.mp4"},
		{"r2 without signing", destination.R2, r2, s3.Options{}, ""},
		{"r2 presigned", destination.R2, r2, s3.Options{PresignR2: true}, "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/videos/a%20b/c.mp4?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Bucket == "" {
				cfg.Bucket = base.Bucket
			}
			cfg.AccessKeyID, cfg.SecretAccessKey = base.AccessKeyID, base.SecretAccessKey
			var u emulator.Unsealer
			in := u.Integration(tc.p, cfg)
			c := newClient(t, &u, &emulator.Recorder{Stub: true}, tc.opts)
			got, err := c.ObjectURL(context.Background(), in, "a b/c.mp4")
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.want, "?") {
				if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "X-Amz-Signature=") || !strings.Contains(got, "X-Amz-Expires=86400") {
					t.Errorf("ObjectURL = %q, want a presigned GET under %s", got, tc.want)
				}
			} else if got != tc.want {
				t.Errorf("ObjectURL = %q, want %q", got, tc.want)
			}
			emulator.NoSecrets(t, cfg, tc.p, got)
		})
	}
}

func TestUploadContract(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	emulator.CheckUploadContract(t, newClient(t, &u, nil, s3.Options{AbortSettle: 100 * time.Millisecond}), in, partSize, srv.RawS3(cfg))
}

// TestCDNContract runs the upload contract on a CDN over an s3blob bucket with the S3 driver's
// cleanup: 10 cancels leave no multipart upload.
func TestCDNContract(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	b, err := s3blob.OpenBucket(context.Background(), srv.Client(nil), cfg.Bucket,
		&s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cdn, err := provider.NewCDN(b, provider.CDNOptions{PartSize: partSize, Concurrency: 2, Driver: s3.NewDriver(s3.Options{AbortSettle: 100 * time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	emulator.CheckUploadContract(t, emulator.CDNUploader(cdn), nil, partSize, srv.RawS3(cfg))
}

// TestResponseHeaderTimeout: a tarpit endpoint that accepts the request and never answers
// fails the upload (transient timeout) once Options.ResponseHeaderTimeout has passed.
func TestResponseHeaderTimeout(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-stop
	}))
	defer srv.Close()
	defer close(stop)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, destination.Config{Bucket: "b", AccessKeyID: "k", SecretAccessKey: "s", Endpoint: srv.URL, Region: "us-east-1"})
	c := emulator.NewClient(t, &u, provider.Options{ResponseHeaderTimeout: 200 * time.Millisecond, CleanupTimeout: time.Second}, nil, s3.NewDriver(s3.Options{}))
	start := time.Now()
	_, err := c.Upload(context.Background(), in, "tarpit.mp4", strings.NewReader("hello"), destination.UploadOptions{Size: 5})
	ue := destination.AsUploadError(err)
	if ue == nil || ue.Code != provider.CodeTimeout || !ue.Transient {
		t.Fatalf("Upload: %v, want a transient timeout", err)
	}
	t.Logf("failed after %v", time.Since(start))
}

// TestChecksumEndpoints: an endpoint the host names in Options.ChecksumEndpoints gets a CRC32 of
// every part, from files (parts straight from the file) and streams (the transfer manager), as
// AWS does; the same host on another port, or another scheme, gets none.
func TestChecksumEndpoints(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	const size = 2*partSize + 1234
	f, _ := emulator.DataFile(t, size, 3)
	for _, tc := range []struct {
		name, endpoint string
		sums           bool
	}{
		{"named", cfg.Endpoint + "/", true},
		{"other-port", "http://" + u.Hostname() + ":1", false},
		{"other-scheme", "https://" + u.Host, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var un emulator.Unsealer
			in := un.Integration(destination.S3, cfg)
			rec := &emulator.Recorder{}
			c := newClient(t, &un, rec, s3.Options{ChecksumEndpoints: []string{tc.endpoint}})
			for key, src := range map[string]io.Reader{"sums/file.mp4": io.NewSectionReader(f, 0, size),
				"sums/stream.mp4": struct{ io.Reader }{io.NewSectionReader(f, 0, size)}} {
				if _, err := c.Upload(context.Background(), in, key, src, destination.UploadOptions{Size: size}); err != nil {
					t.Fatalf("Upload %s: %v", key, err)
				}
			}
			parts := map[string]int{}
			for _, r := range rec.Requests() {
				if r.Method != http.MethodPut || !r.URL.Query().Has("partNumber") {
					continue
				}
				name := path.Base(r.URL.Path)
				if !tc.sums {
					checkNoQuirkHeaders(t, r)
					parts[name]++
					continue
				}
				if r.Header.Get("X-Amz-Checksum-Crc32") == "" && !strings.EqualFold(r.Header.Get("X-Amz-Trailer"), "x-amz-checksum-crc32") {
					t.Errorf("%s part %s: no CRC32 (header or trailer): %v", name, r.URL.Query().Get("partNumber"), r.Header)
				}
				parts[name]++
			}
			if parts["file.mp4"] != 3 || parts["stream.mp4"] != 3 {
				t.Errorf("parts sent %v, want 3 of each upload", parts)
			}
		})
	}
}
