package s3

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.Sweeper = (*Driver)(nil)

// SweepAbandoned aborts the multipart uploads of exactly keys (as s3blob stores them) initiated
// before olderThan: what a worker killed mid-upload left, since its own cleanup (tracker) never
// ran. It lists the uploads under prefix (ListMultipartUploads) and aborts only those whose key
// is one of keys, so a customer's own multipart uploads under the same prefix, or under another
// one, are never touched. It reports how many it aborted. A nil in is the CDN's bucket.
func (d *Driver) SweepAbandoned(ctx context.Context, b *blob.Bucket, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error) {
	var client *s3.Client
	if !b.As(&client) || len(keys) == 0 {
		return 0, nil
	}
	var bucket string
	if in != nil {
		bucket = in.Config.Bucket
	} else { // the CDN's bucket: its name is in the request its writer would send
		req, err := writerRequest(ctx, b, keys[0], &blob.WriterOptions{})
		if err != nil {
			return 0, err
		}
		bucket = aws.ToString(req.Bucket)
	}
	own := make(map[string]bool, len(keys))
	for _, k := range keys {
		own[d.StoredKey(k)] = true
	}
	var stale []*tracker // one per key: the tracker's own abort path
	byKey := map[string]*tracker{}
	in2 := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: aws.String(d.StoredKey(prefix))}
	for {
		out, err := client.ListMultipartUploads(ctx, in2)
		if err != nil {
			return 0, err
		}
		for _, u := range out.Uploads {
			k := aws.ToString(u.Key)
			if !own[k] || u.UploadId == nil || u.Initiated == nil || !u.Initiated.Before(olderThan) {
				continue
			}
			t := byKey[k]
			if t == nil {
				t = &tracker{Client: client, bucket: bucket, key: k, open: map[string]bool{}}
				byKey[k] = t
				stale = append(stale, t)
			}
			t.open[*u.UploadId] = true
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in2.KeyMarker, in2.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	n := 0
	var errs []error
	for _, t := range stale {
		want := len(t.open)
		if err := sweepRetry(ctx, t); err != nil {
			errs = append(errs, err)
		}
		t.mu.Lock()
		n += want - len(t.open)
		t.mu.Unlock()
	}
	return n, errors.Join(errs...)
}

// sweepRetry aborts what t still has open through the tracker's abort (NoSuchUpload counts as
// done), again with backoff while S3 answers errors (an abort can meet a 500 while a part is
// still being written), up to 6 times or until ctx ends.
func sweepRetry(ctx context.Context, t *tracker) error {
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		t.mu.Lock()
		ids := make([]string, 0, len(t.open))
		for id := range t.open {
			ids = append(ids, id)
		}
		t.mu.Unlock()
		err := t.abort(ctx, ids)
		if err == nil || try == 6 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
