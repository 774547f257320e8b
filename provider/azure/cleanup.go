package azure

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	gblob "gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var (
	_ provider.UploadPreparer = (*Driver)(nil)
	_ provider.KeyMapper      = (*Driver)(nil)
)

// StoredKey returns the name azureblob stores key under: `\`, `"`, `#`, `%`, `?`, DEL, control
// characters, a trailing "/" and the "/" of "../" are hex-escaped ("a%b.mp4" is stored as
// "a__0x25__b.mp4").
func (d *Driver) StoredKey(key string) string {
	return provider.HexEscapeKey(key, func(r []rune, i int) bool {
		switch c := r[i]; {
		case c < 32 || c == '\\' || c == '"' || c == '#' || c == '%' || c == '?' || c == 127:
			return true
		case i == len(r)-1 && c == '/':
			return true
		}
		return provider.DotDotSlash(r, i)
	})
}

// PrepareUpload returns the cleanup of a failed upload: the blocks it staged and did not commit
// are discarded (Azure keeps uncommitted blocks for a week otherwise).
func (d *Driver) PrepareUpload(b *gblob.Bucket, _ *destination.Integration, key string, _ *gblob.WriterOptions) func(context.Context) error {
	var cc *container.Client
	if !b.As(&cc) {
		return nil
	}
	bb := cc.NewBlockBlobClient(d.StoredKey(key))
	return func(ctx context.Context) error { return discardUncommitted(ctx, bb) }
}

// discardUncommitted drops the uncommitted blocks of bb. Azure has no call for it: committing
// a block list discards every uncommitted block. A blob that does not exist gets an empty
// list committed only if it still does not exist, and is then deleted; an existing blob gets
// its own committed list (with its headers and metadata) committed again, only if unchanged.
func discardUncommitted(ctx context.Context, bb *blockblob.Client) error {
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil // no blob, no blocks
	}
	if err != nil {
		return err
	}
	if len(bl.BlockList.UncommittedBlocks) == 0 {
		return nil
	}
	if len(bl.BlockList.CommittedBlocks) == 0 {
		_, err := bb.GetProperties(ctx, nil)
		switch {
		case bloberror.HasCode(err, bloberror.BlobNotFound):
			anyTag := azcore.ETagAny
			resp, err := bb.CommitBlockList(ctx, nil, &blockblob.CommitBlockListOptions{AccessConditions: &blob.AccessConditions{
				ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &anyTag}}})
			if err != nil {
				return err
			}
			_, err = bb.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{
				ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: resp.ETag}}})
			if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ConditionNotMet) {
				return nil
			}
			return err
		case err != nil:
			return err
		default:
			// A blob written in one Put Blob has no block list to commit again: its uncommitted
			// blocks cannot be dropped without replacing it; Azure removes them after a week.
			return nil
		}
	}
	props, err := bb.GetProperties(ctx, nil)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(bl.BlockList.CommittedBlocks))
	for _, blk := range bl.BlockList.CommittedBlocks {
		if blk.Name == nil {
			return errors.New("azure: committed block without a name")
		}
		ids = append(ids, *blk.Name)
	}
	h := blob.ParseHTTPHeaders(props)
	_, err = bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: &h, Metadata: props.Metadata,
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}}})
	if bloberror.HasCode(err, bloberror.ConditionNotMet) {
		return nil // replaced meanwhile: that commit dropped the blocks too
	}
	return err
}
