package azure

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	gblob "gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.Sweeper = (*Driver)(nil)

// SweepAbandoned discards the uncommitted blocks of exactly keys whose blob does not exist: what
// an upload killed before its Put Block List left (Azure bills them and keeps them a week). It
// commits an empty, marked block list only if the blob still does not exist, then deletes that
// empty blob, as a failed upload's own cleanup does. A blob that exists is never touched (its
// committed content stays as it is; uncommitted blocks of an abandoned later upload remain
// until Azure drops them). Azure keeps no time for uncommitted blocks, so olderThan cannot be
// checked here: the caller (the janitor) sweeps only keys whose uploads stopped before it. It
// reports how many blobs' blocks it discarded.
func (d *Driver) SweepAbandoned(ctx context.Context, b *gblob.Bucket, _ *destination.Integration, _ string, keys []string, _ time.Time) (int, error) {
	var cc *container.Client
	if !b.As(&cc) {
		return 0, nil
	}
	n := 0
	var errs []error
	for _, k := range keys {
		bb := cc.NewBlockBlobClient(d.StoredKey(k))
		bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
		switch {
		case bloberror.HasCode(err, bloberror.BlobNotFound):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		case len(bl.BlockList.UncommittedBlocks) == 0 || len(bl.BlockList.CommittedBlocks) > 0:
			continue
		}
		if err := discardUncommitted(ctx, bb, true); err != nil {
			errs = append(errs, err)
			continue
		}
		if after, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil); bloberror.HasCode(err, bloberror.BlobNotFound) ||
			(err == nil && len(after.BlockList.UncommittedBlocks) == 0) {
			n++
		}
	}
	return n, errors.Join(errs...)
}
