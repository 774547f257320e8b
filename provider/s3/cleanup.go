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

	"github.com/ilovevideoeditor/outputs/provider"
)

// clockSkew is how much earlier than the upload's start an S3 server may date a multipart
// upload the upload created.
const clockSkew = time.Minute

// tracker is the S3 client of one upload's transfer manager: it records the multipart uploads
// it creates and completes, so that the upload's cleanup aborts exactly what is left.
type tracker struct {
	*s3.Client
	started     time.Time
	bucket, key string

	mu        sync.Mutex
	open      map[string]bool // upload ID → still to abort
	ambiguous bool            // a CreateMultipartUpload's answer was lost
}

func (t *tracker) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	out, err := t.Client.CreateMultipartUpload(ctx, in, o...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		t.open = map[string]bool{}
	}
	switch {
	case err == nil && out.UploadId != nil:
		t.open[*out.UploadId] = true
	case err != nil && !answered(err):
		t.ambiguous = true
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

func (t *tracker) done(id string) {
	t.mu.Lock()
	delete(t.open, id)
	t.mu.Unlock()
}

// cleanup aborts the multipart uploads left open; it returns nil once S3 confirmed every abort.
func (t *tracker) cleanup(ctx context.Context) error {
	t.mu.Lock()
	ids := make([]string, 0, len(t.open))
	for id := range t.open {
		ids = append(ids, id)
	}
	ambiguous := t.ambiguous
	t.mu.Unlock()
	if t.bucket == "" {
		return nil // the transfer manager never started
	}
	if ambiguous {
		found, err := t.listOwn(ctx)
		if err != nil {
			return err
		}
		ids = append(ids, found...)
	}
	var errs []error
	for _, id := range ids {
		_, err := t.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &t.bucket, Key: &t.key, UploadId: aws.String(id)})
		if err != nil && !noSuchUpload(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ambiguous {
		t.mu.Lock()
		t.ambiguous = false
		t.mu.Unlock()
	}
	return nil
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

// answered reports whether err is S3's refusal (an error status), after which nothing was
// created; a 200 whose body was cut off is not.
func answered(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 300
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
