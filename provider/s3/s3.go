// Package s3 is the provider.Driver for the S3-compatible providers: Amazon S3, Cloudflare R2,
// Backblaze B2 and Wasabi, over gocloud.dev/blob/s3blob and aws-sdk-go-v2.
//
// Each integration gets its own client, built with s3.New from its own keys (never from the
// environment or shared config files), or for s3 with Config.RoleARN from temporary credentials
// of the customer's role assumed with the platform's own (role.go), with the provider's quirks:
//
//   - Every store other than AWS (r2, b2, wasabi, and s3 with a custom endpoint) computes and
//     validates checksums only when an operation requires them, on the client and in the
//     transfer manager (s3blob.Options): no x-amz-checksum-*, no x-amz-sdk-checksum-algorithm,
//     no aws-chunked encoding, which those stores reject. AWS keeps the SDK's default checksums,
//     and so do the endpoints the host names in Options.ChecksumEndpoints.
//   - R2 signs for region "auto" and uses path-style addressing; B2 takes its region from its
//     endpoint (s3.<region>.backblazeb2.com); Wasabi's endpoint comes from its region; AWS uses
//     virtual-host addressing; a custom S3 endpoint uses path-style addressing.
//   - No ACL header is ever sent unless Options.ACL asks for one.
//   - Multipart uploads use equal-size parts (R2 rejects unequal ones) and abort on a fresh
//     context (Options.FailTimeout) so a cancelled upload leaves no parts behind.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Options configures the driver. The zero value is usable.
type Options struct {
	// ACL is a canned ACL ("public-read", "bucket-owner-full-control") sent with every upload and
	// probe. Empty (the default) sends no ACL header: R2, B2, GCS with uniform access and new AWS
	// buckets reject ACL headers.
	ACL string
	// PresignR2 makes ObjectURL return a presigned GET URL for an R2 integration without a
	// publicUrl (R2 has no public URL of its own); without it such outputs have no URL.
	PresignR2 bool
	// PresignTTL is how long presigned URLs stay valid (default 24h, at most 7 days).
	PresignTTL time.Duration
	// FailTimeout bounds the transfer manager's own AbortMultipartUpload of a failed or
	// cancelled upload, which runs on a fresh context (default 30s); the Client's cleanup then
	// aborts whatever is left, retrying until S3 confirms (provider.Options.CleanupTimeout).
	FailTimeout time.Duration
	// AbortSettle is how long after a failed upload's cleanup began requests still in flight
	// may reach S3 (a cancelled CreateMultipartUpload or UploadPart the client gave up on):
	// the cleanup lists the key's multipart uploads again after it (default 1s).
	AbortSettle time.Duration
	// RetryMaxAttempts is the SDK's attempts per request (default 1: no SDK retries, the
	// delivery engine retries whole uploads so attempts never multiply).
	RetryMaxAttempts int
	// ChecksumEndpoints are S3-compatible endpoints (as integrations' Config.Endpoint names
	// them: scheme, host and port) known to take the flexible checksums AWS takes, such as
	// recent MinIO, Ceph RGW or versitygw. Uploads there send a CRC32 of every part (an
	// aws-chunked trailer over https) and downloads ask for checksums, as on AWS. By default
	// no custom endpoint gets them: B2, Wasabi and older R2 reject those headers.
	ChecksumEndpoints []string

	// Platform is the platform's own AWS credentials, used only to sign STS AssumeRole for
	// integrations with a roleArn (see role.go). Set once by the host (a role of its own, an
	// instance profile, a key); never sent to a tenant's endpoint. Without it, role-based
	// integrations fail with a configuration error.
	Platform aws.CredentialsProvider
	// PlatformPrincipal is the ARN of the platform's AWS principal the customers' trust
	// policies name (arn:aws:iam::111122223333:role/outputs-delivery); shown in views.
	PlatformPrincipal string
	// STSRegion is the region of the STS endpoint (default us-east-1).
	STSRegion string
	// STSEndpoint overrides the STS endpoint (default https://sts.<STSRegion>.amazonaws.com),
	// for tests (ststest) and private deployments.
	STSEndpoint string
	// RoleSessionDuration is how long assumed-role credentials last (default 1h; 15 min to
	// 12 h, within the role's maximum session duration).
	RoleSessionDuration time.Duration
	// RefreshWindow is how long before their expiry assumed-role credentials are renewed
	// (default 5 min).
	RefreshWindow time.Duration
}

// Driver opens S3-compatible buckets. Create it with NewDriver.
type Driver struct {
	opts Options
}

var (
	_ provider.Driver          = (*Driver)(nil)
	_ provider.UploadPreparer  = (*Driver)(nil)
	_ provider.KeyMapper       = (*Driver)(nil)
	_ provider.MultipartProber = (*Driver)(nil)
	_ provider.HealthReporter  = (*Driver)(nil)
)

// NewDriver returns a driver for s3, r2, b2 and wasabi.
func NewDriver(opts Options) *Driver {
	if opts.PresignTTL <= 0 {
		opts.PresignTTL = 24 * time.Hour
	}
	if opts.PresignTTL > 7*24*time.Hour {
		opts.PresignTTL = 7 * 24 * time.Hour
	}
	if opts.FailTimeout <= 0 {
		opts.FailTimeout = 30 * time.Second
	}
	if opts.RetryMaxAttempts <= 0 {
		opts.RetryMaxAttempts = 1
	}
	if opts.STSRegion == "" {
		opts.STSRegion = "us-east-1"
	}
	switch {
	case opts.RoleSessionDuration <= 0:
		opts.RoleSessionDuration = time.Hour
	case opts.RoleSessionDuration < 15*time.Minute:
		opts.RoleSessionDuration = 15 * time.Minute
	case opts.RoleSessionDuration > 12*time.Hour:
		opts.RoleSessionDuration = 12 * time.Hour
	}
	if opts.RefreshWindow <= 0 {
		opts.RefreshWindow = 5 * time.Minute
	}
	if opts.AbortSettle <= 0 {
		opts.AbortSettle = time.Second
	}
	return &Driver{opts: opts}
}

// settings are the client settings of the integration's provider and config, with the
// checksums Options.ChecksumEndpoints grants.
func (d *Driver) settings(p destination.Provider, c destination.Config) (settings, error) {
	s, err := settingsFor(p, c)
	if err != nil || s.aws {
		return s, err
	}
	if u, err := url.Parse(s.endpoint); err == nil && u.Host != "" {
		for _, e := range d.opts.ChecksumEndpoints {
			if v, err := url.Parse(strings.TrimRight(e, "/")); err == nil && strings.EqualFold(v.Scheme, u.Scheme) && strings.EqualFold(v.Host, u.Host) {
				s.sums = true
				break
			}
		}
	}
	return s, nil
}

// Providers returns s3, r2, b2 and wasabi.
func (d *Driver) Providers() []destination.Provider {
	return []destination.Provider{destination.S3, destination.R2, destination.B2, destination.Wasabi}
}

// settings are the client settings an integration's provider and config imply.
type settings struct {
	region    string
	endpoint  string // "" for AWS's own endpoints
	pathStyle bool
	aws       bool // real AWS
	sums      bool // the SDK's default checksums: AWS and Options.ChecksumEndpoints
}

func settingsFor(p destination.Provider, c destination.Config) (settings, error) {
	s := settings{region: c.Region, endpoint: strings.TrimRight(c.Endpoint, "/")}
	switch p {
	case destination.S3:
		s.aws = s.endpoint == ""
		s.sums = s.aws
		s.pathStyle = !s.aws
		if s.region == "" && !s.aws {
			s.region = "us-east-1"
		}
	case destination.R2:
		s.region, s.pathStyle = "auto", true
	case destination.B2:
		if r := destination.RegionFromEndpoint(destination.B2, s.endpoint); r != "" {
			s.region = r
		}
	case destination.Wasabi:
		if s.region == "" {
			s.region = "us-east-1"
		}
		if s.endpoint == "" {
			s.endpoint = "https://s3." + s.region + ".wasabisys.com"
		}
	default:
		return s, provider.BadConfig("provider", fmt.Sprintf("%q is not S3-compatible", p))
	}
	if s.region == "" {
		return s, provider.BadConfig("region", "is required")
	}
	if !s.aws && s.endpoint == "" {
		return s, provider.BadConfig("endpoint", "is required for "+string(p))
	}
	return s, nil
}

func (s settings) checksums() (aws.RequestChecksumCalculation, aws.ResponseChecksumValidation) {
	if s.sums {
		return aws.RequestChecksumCalculationWhenSupported, aws.ResponseChecksumValidationWhenSupported
	}
	return aws.RequestChecksumCalculationWhenRequired, aws.ResponseChecksumValidationWhenRequired
}

// Open builds an S3 client over hc from the integration's access key and secret, or from its
// role (temporary credentials from STS, see role.go), and opens the bucket. It makes no request.
func (d *Driver) Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if hc == nil {
		return nil, errors.New("s3: Open needs an HTTP client")
	}
	s, err := d.settings(in.Provider, cfg)
	if err != nil {
		return nil, err
	}
	var creds aws.CredentialsProvider
	switch {
	case cfg.Bucket == "":
		return nil, provider.BadConfig("bucket", "is required")
	case cfg.RoleARN != "":
		if creds, err = d.roleCredentials(in, cfg, hc); err != nil {
			return nil, err
		}
	case cfg.AccessKeyID == "" || cfg.SecretAccessKey == "":
		return nil, provider.BadConfig("secretAccessKey", "accessKeyId and secretAccessKey (or roleArn) are required")
	default:
		creds = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	}
	req, resp := s.checksums()
	o := s3.Options{
		Region:                     s.region,
		Credentials:                creds,
		HTTPClient:                 hc,
		UsePathStyle:               s.pathStyle,
		RequestChecksumCalculation: req,
		ResponseChecksumValidation: resp,
		RetryMaxAttempts:           d.opts.RetryMaxAttempts,
		// Uploads through the transfer manager without checksums would log a warning per read.
		DisableLogOutputChecksumValidationSkipped: true,
		APIOptions: []func(*middleware.Stack) error{checkListings},
	}
	if s.endpoint != "" {
		o.BaseEndpoint = aws.String(s.endpoint)
	}
	return s3blob.OpenBucket(ctx, s3.New(o), cfg.Bucket, &s3blob.Options{RequestChecksumCalculation: req})
}

// PrepareUpload replaces the writer's transfer manager with one whose multipart threshold is
// the part size (so every non-final part has the same size), whose checksum setting is the
// provider's and whose S3 client records the multipart uploads it creates; it adds the ACL when
// one is set. The cleanup it returns aborts every multipart upload of this upload that was not
// completed and those of key created since the upload started (ListMultipartUploads: a create
// whose answer was lost), until S3 confirms and a check after requests in flight settled finds
// none.
func (d *Driver) PrepareUpload(b *blob.Bucket, in *destination.Integration, key string, wo *blob.WriterOptions) func(context.Context) error {
	var client *s3.Client
	if !b.As(&client) {
		return nil
	}
	calc := aws.RequestChecksumCalculationWhenRequired
	if in != nil {
		if s, err := d.settings(in.Provider, in.Config); err == nil {
			calc, _ = s.checksums()
		}
	}
	tr := &tracker{Client: client, started: time.Now(), settle: d.opts.AbortSettle}
	part, conc := int64(wo.BufferSize), wo.MaxConcurrency
	prev := wo.BeforeWrite
	wo.BeforeWrite = func(as func(any) bool) error {
		var tm *transfermanager.Client
		if as(&tm) {
			*tm = *transfermanager.New(tr, func(o *transfermanager.Options) {
				o.RequestChecksumCalculation = calc
				if part > 0 {
					o.PartSizeBytes, o.MultipartUploadThreshold = part, part
				}
				if conc > 0 {
					o.Concurrency = conc
				}
				o.FailTimeout = d.opts.FailTimeout
			})
		}
		var req *transfermanager.UploadObjectInput
		if as(&req) {
			tr.bucket, tr.key = aws.ToString(req.Bucket), aws.ToString(req.Key)
			if d.opts.ACL != "" {
				req.ACL = tmtypes.ObjectCannedACL(d.opts.ACL)
			}
		}
		if prev != nil {
			return prev(as)
		}
		return nil
	}
	return tr.cleanup
}

// ProbeMultipart writes key through CreateMultipartUpload, one small UploadPart and
// CompleteMultipartUpload, then deletes it; a failed upload is aborted.
func (d *Driver) ProbeMultipart(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) error {
	var client *s3.Client
	if !b.As(&client) {
		return nil
	}
	bucket := aws.String(in.Config.Bucket)
	create := &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String(key), ContentType: aws.String("text/plain")}
	if d.opts.ACL != "" {
		create.ACL = types.ObjectCannedACL(d.opts.ACL)
	}
	mpu, err := client.CreateMultipartUpload(ctx, create)
	if err != nil {
		return err
	}
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.FailTimeout)
		defer cancel()
		_, _ = client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String(key), UploadId: mpu.UploadId})
	}
	part, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String(key), UploadId: mpu.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("outputs multipart connection test; safe to delete\n"))})
	if err != nil {
		abort()
		return err
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String(key), UploadId: mpu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1),
			ChecksumCRC32: part.ChecksumCRC32}}}})
	if err != nil {
		abort()
		return err
	}
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)})
	return provider.ProbeDeleted(key, err)
}

// ObjectURL returns the canonical URL of the object: virtual-host style on AWS (path style for bucket names with
// dots, which the wildcard certificate does not cover), path style on the endpoint for B2,
// Wasabi and custom S3 endpoints. R2 has no public URL of its own: it gets a presigned GET URL
// when Options.PresignR2 is set, else "".
func (d *Driver) ObjectURL(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) (string, error) {
	c := in.Config
	s, err := settingsFor(in.Provider, c)
	if err != nil {
		return "", err
	}
	switch {
	case in.Provider == destination.R2:
		if !d.opts.PresignR2 {
			return "", nil
		}
		return b.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: d.opts.PresignTTL, Method: http.MethodGet})
	case s.aws && !strings.Contains(c.Bucket, "."):
		return provider.JoinURL("https://"+c.Bucket+".s3."+s.region+".amazonaws.com", d.StoredKey(key)), nil
	case s.aws:
		return provider.JoinURL("https://s3."+s.region+".amazonaws.com/"+c.Bucket, d.StoredKey(key)), nil
	}
	return provider.JoinURL(s.endpoint+"/"+url.PathEscape(c.Bucket), d.StoredKey(key)), nil
}
