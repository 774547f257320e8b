package azure

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	gblob "gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var _ provider.ReaderAtUploader = (*Driver)(nil)

// UploadParts uploads a file source as staged blocks whose bodies are sections of the file
// (seekable, no copy), src.PartSize bytes each but the last, at most wo.MaxConcurrency at once,
// then commits them with Put Block List. The blob gets what the azureblob writer would have
// sent (escaped name and metadata, headers). The cleanup it returns discards the uncommitted
// blocks, as PrepareUpload's does.
func (d *Driver) UploadParts(ctx context.Context, b *gblob.Bucket, _ *destination.Integration, key string, src *provider.Parts, wo *gblob.WriterOptions) (func(context.Context) error, error) {
	var cc *container.Client
	if !b.As(&cc) {
		return nil, errors.New("azure: the bucket has no container client")
	}
	uo, err := writerOptions(ctx, b, key, wo)
	if err != nil {
		return nil, err
	}
	bb := cc.NewBlockBlobClient(d.StoredKey(key))
	cleanup := func(ctx context.Context) error { return discardSettled(ctx, bb) }
	ids := blockIDs(src.Count())
	err = src.Each(ctx, wo.MaxConcurrency, func(ctx context.Context, i int, body io.ReadSeeker, _ int64) error {
		_, err := bb.StageBlock(ctx, ids[i], streaming.NopCloser(body), nil)
		return err
	})
	if err != nil {
		return cleanup, err
	}
	return cleanup, commit(ctx, bb, ids, uo)
}

// writerOptions returns the options the bucket's azureblob writer would have had for key with
// wo (headers, metadata, conditions, tags, tier).
func writerOptions(ctx context.Context, b *gblob.Bucket, key string, wo *gblob.WriterOptions) (*azblob.UploadStreamOptions, error) {
	var uo *azblob.UploadStreamOptions
	if !provider.WriterAs(ctx, b, key, wo, func(as func(any) bool) bool { return as(&uo) }) || uo == nil {
		return nil, errors.New("azure: the bucket's writer could not be prepared")
	}
	return uo, nil
}

// blockIDs returns n block IDs of one length (Azure requires it of one blob), this upload's own.
func blockIDs(n int) []string {
	var tag [12]byte
	_, _ = rand.Read(tag[:])
	prefix := hex.EncodeToString(tag[:])
	ids := make([]string, n)
	for i := range ids {
		ids[i] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", prefix, i))
	}
	return ids
}

// commit commits the staged blocks ids as bb, with what the writer would have sent (uo).
func commit(ctx context.Context, bb *blockblob.Client, ids []string, uo *azblob.UploadStreamOptions) error {
	_, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: uo.HTTPHeaders,
		Metadata: uo.Metadata, AccessConditions: uo.AccessConditions, Tags: uo.Tags, Tier: uo.AccessTier})
	return err
}

// blockSettle is how long discardSettled waits before it looks for blocks again.
const blockSettle = 300 * time.Millisecond

// discardSettled discards bb's uncommitted blocks, then, once requests in flight had time to
// settle, looks again: a Put Block whose upload was cancelled can still be stored by the
// service after the discard (seen on Azurite with blocks staged in parallel). Blocks found
// then make it return errRecheck, so the cleanup's retry loop runs it again.
func discardSettled(ctx context.Context, bb *blockblob.Client) error {
	if err := discardUncommitted(ctx, bb, false); err != nil {
		return err
	}
	t := time.NewTimer(blockSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		return nil
	case err != nil:
		return err
	case len(bl.BlockList.UncommittedBlocks) > 0:
		return errRecheck
	}
	return nil
}
