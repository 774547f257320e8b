package s3

import (
	"context"
	"encoding/json"
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

var (
	_ provider.ReaderAtUploader = (*Driver)(nil)
	_ provider.SessionAborter   = (*Driver)(nil)
)

// session is what a checkpoint keeps of a multipart upload (Parts.Begin): its ID and where it
// is (the bucket and the stored, escaped key it was created with).
type session struct {
	UploadID string `json:"uploadId"`
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
}

// UploadParts uploads a file source as a multipart upload whose UploadPart bodies are sections
// of the file (seekable: the SDK signs and sends them without a copy), src.PartSize bytes each
// but the last, at most wo.MaxConcurrency at once, then completes it. The object gets what the
// s3blob writer would have sent (escaped key and metadata, content type, the ACL of
// PrepareUpload). The multipart upload is tracked as the transfer manager's are, and the
// cleanup it returns aborts what is left of it.
//
// With a checkpoint (src.Checkpointed), the upload ID is saved right after
// CreateMultipartUpload and each part's ETag once S3 stored it; an upload that resumes one
// (src.Resumed) lists its parts (ListParts), skips those whose number, size and ETag match,
// sends the others and completes it with all of them. An upload S3 no longer knows (aborted, or
// expired by a lifecycle rule) is started afresh.
func (d *Driver) UploadParts(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, src *provider.Parts, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var client *s3.Client
	if !b.As(&client) {
		return nil, errors.New("s3: the bucket has no S3 client")
	}
	req, err := writerRequest(ctx, b, key, wo)
	if err != nil {
		return nil, err
	}
	tr := &tracker{Client: client, started: time.Now(), settle: d.opts.AbortSettle, bucket: aws.ToString(req.Bucket), key: aws.ToString(req.Key)}
	var algo types.ChecksumAlgorithm
	if in != nil {
		if s, err := d.settings(in.Provider, in.Config); err == nil && s.sums {
			algo = types.ChecksumAlgorithmCrc32 // what the transfer manager sends to AWS
		}
	}
	cleanup := func(ctx context.Context) error { return confirmAborted(ctx, tr) }
	parts := make([]types.CompletedPart, src.Count())
	uploadID, err := resume(ctx, tr, src, parts)
	if err != nil {
		return cleanup, err
	}
	if uploadID == "" {
		mpu, err := tr.CreateMultipartUpload(ctx, createInput(req, algo))
		if err != nil {
			return cleanup, err
		}
		uploadID = aws.ToString(mpu.UploadId)
		if src.Checkpointed() {
			sess, _ := json.Marshal(session{UploadID: uploadID, Bucket: tr.bucket, Key: tr.key})
			if err := src.Begin(ctx, sess); err != nil {
				return cleanup, err
			}
		}
	}
	var mu sync.Mutex
	err = src.Each(ctx, wo.MaxConcurrency, func(ctx context.Context, i int, body io.ReadSeeker, size int64) error {
		n := aws.Int32(int32(i + 1))
		out, err := tr.UploadPart(ctx, &s3.UploadPartInput{Bucket: req.Bucket, Key: req.Key, UploadId: &uploadID,
			PartNumber: n, Body: body, ContentLength: aws.Int64(size), ChecksumAlgorithm: algo})
		if err != nil {
			return err
		}
		mu.Lock()
		parts[i] = types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
		mu.Unlock()
		return src.Stored(ctx, i, aws.ToString(out.ETag))
	})
	if err != nil {
		return cleanup, err
	}
	_, err = tr.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: req.Bucket, Key: req.Key,
		UploadId: &uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return cleanup, err
}

// resume takes up the multipart upload a checkpoint of src kept, when there is one S3 still
// knows for the same bucket and key: it lists its parts, skips (src.Skip) those whose number,
// size and ETag match what the checkpoint saved, fills them in parts, saves the session again
// with them (src.Begin) and returns the upload ID. It returns "" when there is nothing to
// resume. The upload is tracked from the start, so the cleanup of a failure before the session
// is saved again aborts it: the checkpoint is cleared then, and nothing may be left behind.
func resume(ctx context.Context, tr *tracker, src *provider.Parts, parts []types.CompletedPart) (string, error) {
	raw, saved := src.Resumed()
	var sess session
	if raw == nil || json.Unmarshal(raw, &sess) != nil || sess.UploadID == "" {
		return "", nil
	}
	if sess.Bucket != tr.bucket || sess.Key != tr.key {
		return "", nil // another bucket (the integration changed): not ours to touch
	}
	tr.track(sess.UploadID)
	listed := map[int32]types.Part{}
	in := &s3.ListPartsInput{Bucket: &tr.bucket, Key: &tr.key, UploadId: &sess.UploadID}
	for {
		out, err := tr.ListParts(ctx, in)
		if noSuchUpload(err) {
			tr.done(sess.UploadID)
			return "", nil // aborted or expired: start afresh
		}
		if err != nil {
			return "", err
		}
		for _, p := range out.Parts {
			listed[aws.ToInt32(p.PartNumber)] = p
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextPartNumberMarker) == "" {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	for _, rp := range saved {
		n := int32(rp.Index + 1)
		p, ok := listed[n]
		want := min(src.PartSize(), src.Size()-int64(rp.Index)*src.PartSize())
		if !ok || aws.ToInt64(p.Size) != want || rp.Token == "" || aws.ToString(p.ETag) != rp.Token || !src.Skip(rp.Index) {
			continue // missing or another body: sent again (a part number sent again replaces it)
		}
		parts[rp.Index] = types.CompletedPart{PartNumber: aws.Int32(n), ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32}
	}
	if err := src.Begin(ctx, raw); err != nil {
		return "", err
	}
	return sess.UploadID, nil
}

// AbortSession aborts the multipart upload a checkpointed session names (see
// provider.SessionAborter); one S3 no longer knows is not an error. The worker that kept the
// session may have died with parts in flight, which S3 can still store after the abort and so
// bring the upload back (S3 documents that an abort may have to be repeated): it checks with
// ListParts, AbortSettle after each abort, and aborts again until S3 no longer knows the upload
// (at most abortTries times; where ListParts is refused it trusts the abort).
func (d *Driver) AbortSession(ctx context.Context, b *blob.Bucket, _ *destination.Integration, _ string, raw []byte) error {
	var sess session
	if json.Unmarshal(raw, &sess) != nil || sess.UploadID == "" {
		return nil // not a session of this driver: nothing to abort
	}
	var client *s3.Client
	if !b.As(&client) {
		return errors.New("s3: the bucket has no S3 client")
	}
	for range abortTries {
		_, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &sess.Bucket, Key: &sess.Key, UploadId: &sess.UploadID})
		if err != nil && !noSuchUpload(err) {
			return err
		}
		select {
		case <-time.After(d.opts.AbortSettle):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err = client.ListParts(ctx, &s3.ListPartsInput{Bucket: &sess.Bucket, Key: &sess.Key, UploadId: &sess.UploadID, MaxParts: aws.Int32(1)})
		if noSuchUpload(err) {
			return nil
		}
		if c, ok := classifyError(err); ok && !c.Transient {
			return nil // listing is refused: trust the abort
		}
	}
	return errors.New("s3: the aborted multipart upload is still listed")
}

// abortTries bounds the aborts of one checkpointed session (AbortSession).
const abortTries = 5

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
