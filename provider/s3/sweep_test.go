package s3_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob/s3blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// stuckSource gives n bytes, then blocks until release is closed, then fails: an upload whose
// worker stopped mid-file.
type stuckSource struct {
	n       int
	release chan struct{}
	sent    chan struct{}
}

func (s *stuckSource) Read(p []byte) (int, error) {
	if s.n > 0 {
		k := min(len(p), s.n)
		clear(p[:k])
		s.n -= k
		return k, nil
	}
	select {
	case <-s.sent:
	default:
		close(s.sent)
	}
	<-s.release
	return 0, errors.New("worker gone")
}

// TestSweepAbandoned leaves a multipart upload open through the library's own upload path (a
// source that stops mid-file, as a killed worker does) and sweeps it: ListMultipartUploads shows
// it gone, while a customer's multipart uploads, under the same prefix (another key) and under
// another prefix, are left alone.
func TestSweepAbandoned(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	c := newClient(t, &u, nil, s3.Options{})
	ctx := context.Background()
	raw := srv.Client(nil)

	// A customer's own uploads: same prefix, another key; another prefix.
	var theirs []string
	for _, k := range []string{"renders/their-own.mp4", "elsewhere/render.mp4"} {
		out, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, aws.ToString(out.UploadId))
	}

	const key = "renders/r1/render.mp4"
	src := &stuckSource{n: 3 * partSize, release: make(chan struct{}), sent: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := c.Upload(ctx, in, key, src, destination.UploadOptions{Size: -1, ContentType: "video/mp4"})
		done <- err
	}()
	<-src.sent
	deadline := time.Now().Add(10 * time.Second)
	for srv.MultipartUploads(t, cfg.Bucket) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 3 {
		t.Fatalf("%d multipart uploads before the sweep, want 3 (the library's and two of the customer's)", n)
	}

	// A killed worker sends nothing more: wait until its three parts are stored (none in flight).
	for time.Now().Before(deadline) {
		ups, err := raw.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(key)})
		if err == nil && len(ups.Uploads) == 1 {
			parts, err := raw.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key), UploadId: ups.Uploads[0].UploadId})
			if err == nil && len(parts.Parts) == 3 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Too young: nothing swept.
	if n, err := c.SweepAbandoned(ctx, in, "renders/", []string{key}, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of uploads younger than the age: %d, %v", n, err)
	}
	n, err := c.SweepAbandoned(ctx, in, "renders/", []string{key, "elsewhere/render.mp4"}, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		out, _ := raw.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket)})
		for _, up := range out.Uploads {
			t.Logf("upload %s initiated %v (now %v)", aws.ToString(up.Key), aws.ToTime(up.Initiated), time.Now())
		}
		t.Fatalf("SweepAbandoned = %d, %v; want 1 aborted", n, err)
	}
	out, err := raw.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, up := range out.Uploads {
		if aws.ToString(up.Key) == key {
			t.Errorf("the abandoned upload of %s is still there", key)
		}
		left[aws.ToString(up.UploadId)] = true
	}
	for _, id := range theirs {
		if !left[id] {
			t.Errorf("a customer's multipart upload %s was aborted", id)
		}
	}
	close(src.release)
	if err := <-done; err == nil {
		t.Error("the stopped upload succeeded")
	}
	if n := srv.MultipartUploads(t, cfg.Bucket); n != 2 {
		t.Errorf("%d multipart uploads at the end, want the customer's 2", n)
	}
	_, err = c.SweepAbandoned(ctx, in, "renders/", []string{key}, time.Time{})
	var ve *destination.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("sweep without an age: %v, want a validation error", err)
	}
}

var _ io.Reader = (*stuckSource)(nil)
var _ provider.Sweeper = s3.NewDriver(s3.Options{})

// TestCDNSweepAbandoned: the CDN over an s3blob bucket with the S3 driver aborts the abandoned
// multipart upload of exactly the key it is given (the bucket's name comes from the bucket, as
// no integration names it), never another key's under the same prefix; a CDN without a driver
// that sweeps says so (ErrNoSweeper, destination.ErrUnsupported).
func TestCDNSweepAbandoned(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	ctx := context.Background()
	b, err := s3blob.OpenBucket(ctx, srv.Client(nil), cfg.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw := srv.Client(nil)
	ids := map[string]string{}
	for _, k := range []string{"renders/r1/render.mp4", "renders/r1/other.mp4"} {
		out, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k), UploadId: out.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("abandoned part")}); err != nil {
			t.Fatal(err)
		}
		ids[k] = aws.ToString(out.UploadId)
	}
	bare, err := provider.NewCDN(b, provider.CDNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.SweepAbandoned(ctx, "renders/r1/", []string{"renders/r1/render.mp4"}, time.Now()); !errors.Is(err, provider.ErrNoSweeper) || !errors.Is(err, destination.ErrUnsupported) {
		t.Errorf("a CDN without a driver: %v, want ErrNoSweeper", err)
	}
	cdn, err := provider.NewCDN(b, provider.CDNOptions{Driver: s3.NewDriver(s3.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cdn.SweepAbandoned(ctx, "renders/r1/", []string{"renders/r1/render.mp4"}, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of an upload younger than the age: %d, %v", n, err)
	}
	if n, err := cdn.SweepAbandoned(ctx, "renders/r1/", []string{"renders/r1/render.mp4"}, time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("SweepAbandoned = %d, %v; want 1 aborted", n, err)
	}
	out, err := raw.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range out.Uploads {
		left = append(left, aws.ToString(u.UploadId))
	}
	if !slices.Equal(left, []string{ids["renders/r1/other.mp4"]}) {
		t.Errorf("uploads left %v, want only the other key's %s", left, ids["renders/r1/other.mp4"])
	}
	if _, err := cdn.SweepAbandoned(ctx, "renders/", []string{"renders/r1/render.mp4"}, time.Time{}); err == nil {
		t.Error("a sweep without an age was accepted")
	}
}
