package s3_test

import (
	"bytes"
	"context"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"net/http"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// cdnOn returns a CDN over a bucket of cfg leased from c (the platform's own bucket, opened
// with the same driver).
func cdnOn(t *testing.T, c *provider.Client, u *emulator.Unsealer, cfg destination.Config) *provider.CDN {
	t.Helper()
	b, release, err := c.Lease(context.Background(), u.Integration(destination.S3, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	cdn, err := provider.NewCDN(b, provider.CDNOptions{Driver: s3.NewDriver(s3.Options{}), PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	return cdn
}

// TestCopyFromCDN: a destination bucket on the CDN's versitygw is written server-side
// (CopyObject for one part, UploadPartCopy ranges beyond), no byte through the worker; on
// another endpoint (the TLS instance) the same upload streams, with identical bytes.
func TestCopyFromCDN(t *testing.T) {
	srv := emulator.NeedS3(t)
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec, s3.Options{})
	cdn := cdnOn(t, c, &u, srv.Bucket(t))
	in := u.Integration(destination.S3, srv.Bucket(t))
	for _, tc := range []struct {
		name string
		size int64
	}{{"CopyObject", 3 << 20}, {"UploadPartCopy", provider.DefaultCopyPartSize + 5<<20 + 7}} {
		t.Run(tc.name, func(t *testing.T) {
			st := emulator.CDNCopy(t, c, rec, cdn, in, "renders/"+tc.name+"/render.mp4", "out/"+tc.name+" 1.mp4", tc.size, 3, destination.TransferCopy)
			t.Logf("%s of %d bytes: %d read from the source, %d sent", tc.name, tc.size, st.SourceBytes, st.SentBytes)
			copies := 0
			for _, r := range rec.Requests() {
				if r.Header.Get("X-Amz-Copy-Source") != "" {
					copies++
				}
			}
			if copies == 0 {
				t.Error("no request named a copy source")
			}
		})
	}
	if n := srv.MultipartUploads(t, in.Config.Bucket); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}

	t.Run("other endpoint streams", func(t *testing.T) {
		tls := emulator.NeedS3TLS(t)
		var u2 emulator.Unsealer
		rec2 := &emulator.Recorder{}
		c2 := emulator.NewClient(t, &u2, provider.Options{PartSize: partSize, Concurrency: 2, RootCAs: tls.RootCAs, WrapTransport: rec2.Wrap}, nil, s3.NewDriver(s3.Options{}))
		cdn2 := cdnOn(t, c2, &u2, srv.Bucket(t))
		in2 := u2.Integration(destination.S3, tls.Bucket(t))
		const size = 7 << 20
		st := emulator.CDNCopy(t, c2, rec2, cdn2, in2, "renders/x/render.mp4", "out/x.mp4", size, 4, destination.TransferStream)
		if st.SourceBytes != size {
			t.Errorf("streamed %d bytes of the source, want %d", st.SourceBytes, size)
		}
	})
}

// TestCopyFromCDNFaults: every UploadPartCopy (or CopyObject) answered 500 or reset: the upload
// falls back to streaming, the object is whole and no multipart upload is left.
func TestCopyFromCDNFaults(t *testing.T) {
	srv := emulator.NeedS3(t)
	for _, f := range []faultproxy.Fault{faultproxy.ServerError, faultproxy.Reset, faultproxy.Truncate} {
		t.Run(f.String(), func(t *testing.T) {
			p, err := faultproxy.Start(faultproxy.Options{Target: srv.Endpoint, Rate: 1, Faults: []faultproxy.Fault{f}, Seed: 1,
				Match: func(r *http.Request) bool { return r.Header.Get("X-Amz-Copy-Source") != "" }})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var u emulator.Unsealer
			rec := &emulator.Recorder{}
			var logs bytes.Buffer
			c := emulator.NewClient(t, &u, provider.Options{PartSize: partSize, Concurrency: 2, WrapTransport: rec.Wrap}, &logs, s3.NewDriver(s3.Options{}))
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			cdnCfg, dstCfg := srv.Bucket(t), srv.Bucket(t)
			cdnCfg.Endpoint, dstCfg.Endpoint = p.URL, p.URL
			cdn := cdnOn(t, c, &u, cdnCfg)
			in := u.Integration(destination.S3, dstCfg)
			size := int64(provider.DefaultCopyPartSize + 1<<20)
			want := destination.TransferStream
			if f == faultproxy.Truncate {
				want = "" // the copy happened, its answer was cut off: either way is right
			}
			st := emulator.CDNCopy(t, c, rec, cdn, in, "renders/f/render.mp4", "out/f.mp4", size, 5, want)
			t.Logf("%s: transfer %s, faults %v", f, st.Result.Transfer, p.Counts())
			if p.Count(f) == 0 {
				t.Error("no copy request was broken")
			}
			if n := srv.MultipartUploads(t, dstCfg.Bucket); n != 0 {
				out, _ := srv.Client(nil).ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &dstCfg.Bucket})
				for _, up := range out.Uploads {
					t.Logf("left: %s %s %v", *up.Key, *up.UploadId, up.Initiated)
				}
				t.Errorf("%d multipart uploads left", n)
			}
		})
	}
}

// TestCopyFromCDNNoReadAccess: the destination's credentials (a versitygw user owning only its
// own bucket) cannot read the CDN bucket on the same server: the copy is refused (AccessDenied)
// and the upload streams, with identical bytes and no multipart upload left.
func TestCopyFromCDNNoReadAccess(t *testing.T) {
	gw := emulator.StartIAMGateway(t)
	ctx := context.Background()
	access, secret := emulator.Name("user"), emulator.Name("secret-")
	if err := gw.CreateUserRole(ctx, access, secret, "userplus"); err != nil {
		t.Fatal(err)
	}
	user := gw.S3Server
	user.AccessKey, user.SecretKey = access, secret
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec, s3.Options{})
	cdn := cdnOn(t, c, &u, gw.Bucket(t))
	dst := user.Bucket(t)
	const size = 6<<20 + 1
	st := emulator.CDNCopy(t, c, rec, cdn, u.Integration(destination.S3, dst), "renders/r/render.mp4", "out/x.mp4", size, 2, destination.TransferStream)
	if st.SourceBytes != size {
		t.Errorf("streamed %d bytes of the source, want %d", st.SourceBytes, size)
	}
	tried := false
	for _, r := range rec.Requests() {
		tried = tried || r.Header.Get("X-Amz-Copy-Source") != ""
	}
	if !tried {
		t.Error("no copy was tried")
	}
	if n := user.MultipartUploads(t, dst.Bucket); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}
}
