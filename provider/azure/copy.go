package azure

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	gblob "gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ServerSideCopier = (*Driver)(nil)

// Limits of Put Block From URL.
const (
	maxURLBlock = 100 << 20
	maxBlocks   = 50000
	copyURLTTL  = time.Hour // the lifetime of the CDN object's signed URL
)

// CopyFromCDN writes key from the CDN object when the CDN is on Azure Blob Storage (any
// account, any cloud): each block is a Put Block From URL of a range of the object's signed
// (SAS) URL, which Azure reads itself, and the blocks are committed with the upload's headers
// and metadata; a failed copy's uncommitted blocks are discarded, as UploadParts' are. The CDN
// container must be able to sign URLs (a shared key). Every block pins the CDN object's ETag
// (SourceIfMatch). Azure refuses a URL it cannot read (CannotVerifyCopySource; Azurite reads
// only from itself): the Client then streams. A CDN on another provider is not tried: its
// signed URL would hand the CDN's key ID to the destination's endpoint.
func (d *Driver) CopyFromCDN(ctx context.Context, b *gblob.Bucket, _ *destination.Integration, key string, src *provider.CDNObject, wo *gblob.WriterOptions) (func(context.Context) error, error) {
	var cc, cdnCC *container.Client
	if !b.As(&cc) {
		return nil, errors.New("azure: the bucket has no container client")
	}
	if !src.Bucket().As(&cdnCC) {
		return nil, provider.CopyUnsupported("the CDN is not on Azure Blob Storage")
	}
	bs, ok := src.PartSize(maxURLBlock, maxBlocks)
	if !ok {
		return nil, provider.CopyUnsupported("the object is too large for Put Block From URL")
	}
	u, err := src.Bucket().SignedURL(ctx, src.Key(), &gblob.SignedURLOptions{Method: http.MethodGet, Expiry: copyURLTTL})
	if err != nil {
		return nil, provider.CopyUnsupported("the CDN cannot sign a URL of the object")
	}
	uo, err := writerOptions(ctx, b, key, wo)
	if err != nil {
		return nil, err
	}
	var cond *blob.SourceModifiedAccessConditions
	if e := src.Attributes().ETag; e != "" {
		tag := azcore.ETag(e)
		cond = &blob.SourceModifiedAccessConditions{SourceIfMatch: &tag}
	}
	bb := cc.NewBlockBlobClient(d.StoredKey(key))
	cleanup := func(ctx context.Context) error { return discardSettled(ctx, bb) }
	ids := blockIDs(newBlockTag(), src.Count(bs))
	err = src.Each(ctx, bs, func(ctx context.Context, i int, off, n int64) error {
		_, err := bb.StageBlockFromURL(ctx, ids[i], u, &blockblob.StageBlockFromURLOptions{
			Range: blob.HTTPRange{Offset: off, Count: n}, SourceModifiedAccessConditions: cond})
		return err
	})
	if err != nil {
		return cleanup, err
	}
	return cleanup, commit(ctx, bb, ids, uo)
}
