package emulator

import (
	"context"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// S3Server is the versitygw instance scripts/services.d/versitygw.sh started.
type S3Server struct {
	Endpoint, AccessKey, SecretKey, Region string
	// RootCAs are the roots that verify an https Endpoint (BenchS3); nil over http.
	RootCAs *x509.CertPool
}

// NeedS3 returns the running versitygw, or skips (fails under CI=true).
func NeedS3(t testing.TB) S3Server {
	t.Helper()
	return S3Server{
		Endpoint:  testenv.Need(t, "OUTPUTS_TEST_S3_ENDPOINT", "versitygw (S3)"),
		AccessKey: testenv.Need(t, "OUTPUTS_TEST_S3_ACCESS_KEY", "versitygw (S3)"),
		SecretKey: testenv.Need(t, "OUTPUTS_TEST_S3_SECRET_KEY", "versitygw (S3)"),
		Region:    "us-east-1",
	}
}

// Client returns a raw aws-sdk-go-v2 client for the server (path style, checksums when
// required), over hc when non-nil, else over the SDK's default HTTP client (trusting RootCAs).
func (s S3Server) Client(hc *http.Client) *s3.Client {
	o := s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if hc != nil {
		o.HTTPClient = hc
	} else if s.RootCAs != nil {
		o.HTTPClient = awsHTTPClient(s.RootCAs)
	}
	return s3.New(o)
}

// S3 makes a fresh bucket on versitygw and returns the config of an "s3" integration with a
// custom endpoint for it (plaintext secret included). The bucket and its objects are removed
// when the test ends.
func S3(t testing.TB) destination.Config {
	t.Helper()
	srv := NeedS3(t)
	return srv.Bucket(t)
}

// Bucket makes a fresh bucket on s; see S3.
func (s S3Server) Bucket(t testing.TB) destination.Config {
	t.Helper()
	ctx := context.Background()
	c := s.Client(nil)
	name := Name("outputs-")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket on versitygw: %v", err)
	}
	t.Cleanup(func() { removeS3Bucket(t, c, name) })
	return destination.Config{Bucket: name, AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, Endpoint: s.Endpoint, Region: s.Region}
}

func removeS3Bucket(t testing.TB, c *s3.Client, name string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("list bucket %s for cleanup: %v", name, err)
			return
		}
		for _, o := range page.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key})
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Logf("delete bucket %s: %v", name, err)
	}
}

// MultipartUploads lists the multipart uploads in progress in bucket (to prove none was left).
func (s S3Server) MultipartUploads(t testing.TB, bucket string) int {
	t.Helper()
	out, err := s.Client(nil).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}
