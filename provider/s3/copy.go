package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ServerSideCopier = (*Driver)(nil)

// maxCopyPart is the largest part of UploadPartCopy, and the largest object of CopyObject.
const maxCopyPart = 5 << 30

// CopyFromCDN copies the CDN object into key on the server when the CDN bucket is on the same
// S3 service as the destination: both on AWS in the same region, or both on the same custom
// endpoint host (R2, B2, Wasabi, any S3-compatible server). The request is signed with the
// destination's credentials, so they must be allowed to read the CDN object; when they are not
// (AccessDenied) the Client streams instead. An object of at most one part is one CopyObject
// (metadata replaced by the upload's); a larger one is a multipart upload of UploadPartCopy
// ranges, tracked and aborted on failure like UploadParts'. Every request pins the version it
// copies with CopySourceIfMatch (the ETag the CDN reported), so a replaced CDN object fails the
// copy instead of delivering other bytes.
func (d *Driver) CopyFromCDN(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, src *provider.CDNObject, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var client, cdnClient *s3.Client
	if !b.As(&client) {
		return nil, errors.New("s3: the bucket has no S3 client")
	}
	if !src.Bucket().As(&cdnClient) {
		return nil, provider.CopyUnsupported("the CDN is not on S3")
	}
	if why := sameService(in, cdnClient.Options()); why != "" {
		return nil, provider.CopyUnsupported(why)
	}
	ps, ok := src.PartSize(maxCopyPart, 10000)
	if !ok {
		return nil, provider.CopyUnsupported("the object is too large for a multipart copy")
	}
	var cdnReq *transfermanager.UploadObjectInput
	if !provider.WriterAs(ctx, src.Bucket(), src.Key(), &blob.WriterOptions{}, func(as func(any) bool) bool { return as(&cdnReq) }) || cdnReq == nil {
		return nil, provider.CopyUnsupported("the CDN bucket's writer could not be prepared")
	}
	req, err := writerRequest(ctx, b, key, wo)
	if err != nil {
		return nil, err
	}
	from := aws.String(copySource(aws.ToString(cdnReq.Bucket), aws.ToString(cdnReq.Key)))
	var ifMatch *string
	if e := src.Attributes().ETag; e != "" {
		ifMatch = aws.String(e)
	}
	if src.Size() <= ps {
		cp := &s3.CopyObjectInput{Bucket: req.Bucket, Key: req.Key, CopySource: from, CopySourceIfMatch: ifMatch,
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: req.Metadata, ContentType: req.ContentType,
			CacheControl: req.CacheControl, ContentDisposition: req.ContentDisposition, ContentEncoding: req.ContentEncoding,
			ContentLanguage: req.ContentLanguage}
		if req.ACL != "" {
			cp.ACL = types.ObjectCannedACL(req.ACL)
		}
		_, err := client.CopyObject(ctx, cp)
		return nil, err // one request: it copied the whole object or nothing
	}
	// A part copy whose answer was lost may still be running on the server and bring the upload
	// back after an abort: the cleanup checks again after AbortSettle.
	tr := &tracker{Client: client, started: time.Now(), settle: d.opts.AbortSettle, bucket: aws.ToString(req.Bucket), key: aws.ToString(req.Key)}
	cleanup := func(ctx context.Context) error { return confirmAborted(ctx, tr) }
	mpu, err := tr.CreateMultipartUpload(ctx, createInput(req, ""))
	if err != nil {
		return cleanup, err
	}
	parts := make([]types.CompletedPart, src.Count(ps))
	var mu sync.Mutex
	err = src.Each(ctx, ps, func(ctx context.Context, i int, off, n int64) error {
		num := aws.Int32(int32(i + 1))
		out, err := tr.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: req.Bucket, Key: req.Key, UploadId: mpu.UploadId,
			PartNumber: num, CopySource: from, CopySourceIfMatch: ifMatch,
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))})
		if err != nil {
			return err
		}
		if out.CopyPartResult == nil || out.CopyPartResult.ETag == nil {
			return errors.New("s3: UploadPartCopy answered without an ETag")
		}
		mu.Lock()
		parts[i] = types.CompletedPart{PartNumber: num, ETag: out.CopyPartResult.ETag}
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

// sameService returns "" when a request to the destination in can name an object of the bucket
// whose client has options cdn (the same S3 service), else why not. It decides conservatively,
// without a request: AWS and AWS in the same region, or the same custom endpoint host and port.
func sameService(in *destination.Integration, cdn s3.Options) string {
	s, err := settingsFor(in.Provider, in.Config)
	if err != nil {
		return "the destination's settings are invalid"
	}
	cdnEndpoint := strings.TrimRight(aws.ToString(cdn.BaseEndpoint), "/")
	switch {
	case s.aws && cdnEndpoint == "":
		if s.region != cdn.Region {
			return "the CDN is in another AWS region"
		}
		return ""
	case s.aws || cdnEndpoint == "":
		return "the CDN is on another S3 service"
	}
	du, err1 := url.Parse(s.endpoint)
	cu, err2 := url.Parse(cdnEndpoint)
	if err1 != nil || err2 != nil || du.Host == "" || !strings.EqualFold(du.Host, cu.Host) {
		return "the CDN is on another S3 endpoint"
	}
	return ""
}

// copySource is the x-amz-copy-source of an object: bucket/key, each path segment escaped.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}

// writerRequest returns the request the bucket's writer would send for key with wo (the
// escaped key and metadata, headers, the ACL of PrepareUpload).
func writerRequest(ctx context.Context, b *blob.Bucket, key string, wo *blob.WriterOptions) (*transfermanager.UploadObjectInput, error) {
	var req *transfermanager.UploadObjectInput
	if !provider.WriterAs(ctx, b, key, wo, func(as func(any) bool) bool { return as(&req) }) || req == nil {
		return nil, errors.New("s3: the bucket's writer could not be prepared")
	}
	return req, nil
}

// createInput is the CreateMultipartUpload of the object req describes.
func createInput(req *transfermanager.UploadObjectInput, algo types.ChecksumAlgorithm) *s3.CreateMultipartUploadInput {
	create := &s3.CreateMultipartUploadInput{Bucket: req.Bucket, Key: req.Key, ContentType: req.ContentType,
		Metadata: req.Metadata, CacheControl: req.CacheControl, ContentDisposition: req.ContentDisposition,
		ContentEncoding: req.ContentEncoding, ContentLanguage: req.ContentLanguage, ChecksumAlgorithm: algo}
	if req.ACL != "" {
		create.ACL = types.ObjectCannedACL(req.ACL)
	}
	return create
}
