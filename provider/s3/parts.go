package s3

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ReaderAtUploader = (*Driver)(nil)

// UploadParts uploads a file source as a multipart upload whose UploadPart bodies are sections
// of the file (seekable: the SDK signs and sends them without a copy), src.PartSize bytes each
// but the last, at most wo.MaxConcurrency at once, then completes it. The object gets what the
// s3blob writer would have sent (escaped key and metadata, content type, the ACL of
// PrepareUpload). The multipart upload is tracked as the transfer manager's are, and the
// cleanup it returns aborts what is left of it.
func (d *Driver) UploadParts(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, src *provider.Parts, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var client *s3.Client
	if !b.As(&client) {
		return nil, errors.New("s3: the bucket has no S3 client")
	}
	req, err := writerRequest(ctx, b, key, wo)
	if err != nil {
		return nil, err
	}
	tr := &tracker{Client: client, started: time.Now(), bucket: aws.ToString(req.Bucket), key: aws.ToString(req.Key)}
	var algo types.ChecksumAlgorithm
	if in != nil {
		if s, err := settingsFor(in.Provider, in.Config); err == nil && s.aws {
			algo = types.ChecksumAlgorithmCrc32 // what the transfer manager sends to AWS
		}
	}
	cleanup := func(ctx context.Context) error { return confirmAborted(ctx, tr) }
	mpu, err := tr.CreateMultipartUpload(ctx, createInput(req, algo))
	if err != nil {
		return cleanup, err
	}
	parts := make([]types.CompletedPart, src.Count())
	var mu sync.Mutex
	err = src.Each(ctx, wo.MaxConcurrency, func(ctx context.Context, i int, body io.ReadSeeker, size int64) error {
		n := aws.Int32(int32(i + 1))
		out, err := tr.UploadPart(ctx, &s3.UploadPartInput{Bucket: req.Bucket, Key: req.Key, UploadId: mpu.UploadId,
			PartNumber: n, Body: body, ContentLength: aws.Int64(size), ChecksumAlgorithm: algo})
		if err != nil {
			return err
		}
		mu.Lock()
		parts[i] = types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return cleanup, err
	}
	_, err = tr.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: req.Bucket, Key: req.Key,
		UploadId: mpu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return cleanup, err
}

// confirmAborted runs the tracker's cleanup, then lists the multipart uploads of the key begun
// since the upload started, twice, settle apart: a server may still be storing a part whose
// request was cancelled (or held up on the way) when the abort arrived, and bring the upload
// back (S3 documents that an abort may have to be repeated). Any found is aborted on the next
// try.
func confirmAborted(ctx context.Context, tr *tracker) error {
	if err := tr.cleanup(ctx); err != nil {
		return err
	}
	for i := range 2 {
		if i > 0 {
			select {
			case <-time.After(settle):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ids, err := tr.listOwn(ctx)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			tr.mu.Lock()
			if tr.open == nil {
				tr.open = map[string]bool{}
			}
			for _, id := range ids {
				tr.open[id] = true
			}
			tr.mu.Unlock()
			return errors.New("s3: aborted multipart uploads are still listed")
		}
	}
	return nil
}

// settle is how long after a clean listing confirmAborted lists again.
const settle = 300 * time.Millisecond
