package gcs

import (
	"context"
	"errors"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ServerSideCopier = (*Driver)(nil)

// CopyFromCDN writes key from the CDN object with a GCS rewrite (CopierFrom) when the CDN is on
// GCS and the destination's credentials can read the CDN object: the destination's client first
// reads the object's attributes, which must be the CDN's own (same generation, CRC32C and
// size: the same service and object), then rewrites that generation into key with the upload's
// content type and metadata. A rewrite is atomic: nothing to clean up. A 403 or 404 makes the
// Client stream instead.
func (d *Driver) CopyFromCDN(ctx context.Context, b *blob.Bucket, _ *destination.Integration, key string, src *provider.CDNObject, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var sc, cdnSC *storage.Client
	if !b.As(&sc) {
		return nil, errors.New("gcs: the bucket has no storage client")
	}
	var oa storage.ObjectAttrs
	if !src.Bucket().As(&cdnSC) || !src.Attributes().As(&oa) {
		return nil, provider.CopyUnsupported("the CDN is not on GCS")
	}
	cdnObj := objectHandle(ctx, src.Bucket(), src.Key(), &blob.WriterOptions{})
	dst := objectHandle(ctx, b, key, wo)
	if cdnObj == nil || dst == nil {
		return nil, provider.CopyUnsupported("the buckets' writers could not be prepared")
	}
	from := sc.Bucket(cdnObj.BucketName()).Object(cdnObj.ObjectName())
	seen, err := from.Attrs(ctx)
	if err != nil {
		return nil, err // refused (403) or another service (404): the Client streams
	}
	if seen.Generation != oa.Generation || seen.CRC32C != oa.CRC32C || seen.Size != oa.Size {
		return nil, provider.CopyUnsupported("the destination's service holds another object under the CDN's name")
	}
	cp := dst.CopierFrom(from.Generation(oa.Generation))
	cp.ContentType, cp.Metadata = wo.ContentType, wo.Metadata
	cp.CacheControl, cp.ContentDisposition, cp.ContentEncoding, cp.ContentLanguage = wo.CacheControl, wo.ContentDisposition, wo.ContentEncoding, wo.ContentLanguage
	var reported uint64
	cp.ProgressFunc = func(copied, _ uint64) {
		if copied > reported {
			src.Copied(int64(copied - reported))
			reported = copied
		}
	}
	_, err = cp.Run(ctx)
	return nil, err
}

// objectHandle returns the object handle the bucket's gcsblob writer would write key with for
// wo (its bucket, escaped name, and the retry policy of PrepareUpload), or nil.
func objectHandle(ctx context.Context, b *blob.Bucket, key string, wo *blob.WriterOptions) *storage.ObjectHandle {
	var h *storage.ObjectHandle
	provider.WriterAs(ctx, b, key, wo, func(as func(any) bool) bool {
		var oh **storage.ObjectHandle
		if as(&oh) && oh != nil {
			h = *oh
		}
		return h != nil
	})
	return h
}
