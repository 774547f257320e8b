package s3

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// clockSkew is how much earlier than the upload's start an S3 server may date a multipart
// upload the upload created.
const clockSkew = time.Minute

// tracker is the S3 client of one upload's transfer manager: it records the multipart uploads
// it creates and completes, so that the upload's cleanup aborts what is left, then lists the
// uploads of the key created since the upload started (a create whose answer was lost) and
// aborts those too.
type tracker struct {
	*s3.Client
	started     time.Time
	settle      time.Duration // see Options.AbortSettle
	bucket, key string

	mu           sync.Mutex
	open         map[string]bool // upload ID → still to abort
	created      bool            // a CreateMultipartUpload was sent
	cleanupStart time.Time
}

func (t *tracker) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	t.mu.Lock()
	t.created = true // before it is sent: a cleanup that overlaps it still lists the key
	t.mu.Unlock()
	out, err := t.Client.CreateMultipartUpload(ctx, in, o...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		t.open = map[string]bool{}
	}
	if err == nil && out.UploadId != nil {
		t.open[*out.UploadId] = true
	}
	return out, err
}

func (t *tracker) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	out, err := t.Client.CompleteMultipartUpload(ctx, in, o...)
	if err == nil {
		t.done(aws.ToString(in.UploadId))
	}
	return out, err
}

func (t *tracker) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	out, err := t.Client.AbortMultipartUpload(ctx, in, o...)
	if err == nil || noSuchUpload(err) {
		t.done(aws.ToString(in.UploadId))
	}
	return out, err
}

// track records id as an upload to abort unless it completes (one a checkpoint resumes).
func (t *tracker) track(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		t.open = map[string]bool{}
	}
	t.open[id] = true
}

func (t *tracker) done(id string) {
	t.mu.Lock()
	delete(t.open, id)
	t.mu.Unlock()
}

// cleanup aborts the multipart uploads left open; it returns nil once S3 confirmed every abort
// and, at least t.settle after the cleanup began, no upload of key created since the upload
// started is listed any more (AWS documents that a part upload in flight can outlive an abort,
// and a cancelled create can still be processed). Where listing is not allowed it trusts the
// aborts.
func (t *tracker) cleanup(ctx context.Context) error {
	t.mu.Lock()
	if !t.created && len(t.open) == 0 {
		t.mu.Unlock()
		return nil // a single PutObject, or nothing sent: no multipart upload can exist
	}
	if t.cleanupStart.IsZero() {
		t.cleanupStart = time.Now()
	}
	ids := make([]string, 0, len(t.open))
	for id := range t.open {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	if err := t.abort(ctx, ids); err != nil {
		return err
	}
	found, err := t.listOwn(ctx)
	if c, ok := classifyError(err); ok && !c.Transient {
		return nil // listing is refused (no permission, not implemented): trust the aborts
	}
	if err != nil {
		return err
	}
	if err := t.abort(ctx, found); err != nil {
		return err
	}
	if len(found) > 0 || time.Since(t.cleanupStart) < t.settle {
		return errSettling
	}
	return nil
}

// errSettling asks the cleanup's retry loop (which stops on permanent errors) to call again.
var errSettling = provider.Classified(destination.CodeUnavailable, true, "").UploadError(
	errors.New("s3: waiting for requests in flight before checking again"))

func (t *tracker) abort(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		_, err := t.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &t.bucket, Key: &t.key, UploadId: aws.String(id)})
		if err != nil && !noSuchUpload(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listOwn lists the multipart uploads of exactly key initiated since the upload started.
func (t *tracker) listOwn(ctx context.Context) ([]string, error) {
	var ids []string
	in := &s3.ListMultipartUploadsInput{Bucket: &t.bucket, Prefix: &t.key}
	for {
		out, err := t.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) == t.key && u.UploadId != nil && (u.Initiated == nil || !u.Initiated.Before(t.started.Add(-clockSkew))) {
				ids = append(ids, *u.UploadId)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return ids, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func noSuchUpload(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload" {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

// StoredKey returns the name s3blob stores key under: control characters and the "/" of "../"
// are hex-escaped.
func (d *Driver) StoredKey(key string) string {
	return provider.HexEscapeKey(key, func(r []rune, i int) bool { return r[i] < 32 || provider.DotDotSlash(r, i) })
}
