package s3_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"gocloud.dev/blob/s3blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// TestReaderAtContract runs the file-source contract on versitygw: parts straight from the
// file (never read as a stream), byte-identical, checksummed and verified; failures and
// cancellations leave no object and no multipart upload.
func TestReaderAtContract(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	emulator.CheckReaderAtContract(t, newClient(t, &u, nil, s3.Options{}), in, partSize, srv.RawS3(cfg), true)
}

// TestReaderAtCDNContract runs it on a CDN over an s3blob bucket with the S3 driver.
func TestReaderAtCDNContract(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	b, err := s3blob.OpenBucket(context.Background(), srv.Client(nil), cfg.Bucket,
		&s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cdn, err := provider.NewCDN(b, provider.CDNOptions{PartSize: partSize, Concurrency: 2, Driver: s3.NewDriver(s3.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	emulator.CheckReaderAtContract(t, emulator.CDNUploader(cdn), nil, partSize, srv.RawS3(cfg), true)
}

// TestReaderAtParts records the fast path on the wire: equal-size parts (R2 rejects unequal
// ones), the non-AWS quirks (no checksum headers, no ACL), the upload's metadata and type on
// CreateMultipartUpload; a file of one part is one PUT.
func TestReaderAtParts(t *testing.T) {
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec, s3.Options{})
	const size = 3*partSize + 99
	f, _ := emulator.DataFile(t, size, 2)
	if _, err := c.Upload(context.Background(), in, "p/big file.mp4", emulator.NewFileSource(f, size), destination.UploadOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(context.Background(), in, "p/small.mp4", emulator.NewFileSource(f, partSize/2), destination.UploadOptions{Size: partSize / 2}); err != nil {
		t.Fatal(err)
	}
	parts := map[string]int64{}
	var creates, smallPuts int
	for _, r := range rec.Requests() {
		checkNoQuirkHeaders(t, r)
		switch {
		case r.Method == http.MethodPost && r.URL.Query().Has("uploads"):
			creates++
			if r.Header.Get("Content-Type") != "video/mp4" || r.Header.Get("X-Amz-Meta-Outputs-Upload") == "" {
				t.Errorf("CreateMultipartUpload headers %v: want the type and the upload's metadata", r.Header)
			}
		case r.Method == http.MethodPut && r.URL.Query().Has("partNumber"):
			parts[r.URL.Query().Get("partNumber")] = r.BodyBytes
		case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/small.mp4"):
			smallPuts++
		}
	}
	if creates != 1 || smallPuts != 1 {
		t.Errorf("%d multipart uploads and %d single PUTs of the small file, want 1 and 1", creates, smallPuts)
	}
	if len(parts) != 4 || parts["1"] != partSize || parts["2"] != partSize || parts["3"] != partSize || parts["4"] != 99 {
		t.Errorf("parts %v, want 3 of %d bytes and a last of 99", parts, partSize)
	}
}
