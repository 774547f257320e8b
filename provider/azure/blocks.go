package azure

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
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

var (
	_ provider.ReaderAtUploader = (*Driver)(nil)
	_ provider.SessionAborter   = (*Driver)(nil)
)

// UploadParts uploads a file source as staged blocks whose bodies are sections of the file
// (seekable, no copy), src.PartSize bytes each but the last, at most wo.MaxConcurrency at once,
// then commits them with Put Block List. The blob gets what the azureblob writer would have
// sent (escaped name and metadata, headers; a Content-MD5 only if wo carries one: the write
// path computes none over a file sent in parts, so the blob has none). The cleanup it returns discards the uncommitted blocks, as PrepareUpload's does.
//
// With a checkpoint (src.Checkpointed), the session is the upload's block-ID scheme: a random
// tag every block ID of the upload carries, saved before the first block is staged; each
// staged block is saved once the service confirmed it. An upload that resumes such a session
// lists the blob's uncommitted blocks and skips the parts whose block is listed with the
// part's size; it stages the others under the same IDs and commits the whole list in order.
// A session none of whose blocks is left (they expired, or a commit of the blob dropped them)
// is replaced by a new one.
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
	tag, err := resumeBlocks(ctx, bb, src)
	if err != nil {
		// Without a session saved the failure cleans up: the next attempt starts afresh.
		return cleanup, err
	}
	if tag == "" {
		tag = newBlockTag()
	}
	ids := blockIDs(tag, src.Count())
	if err := src.Begin(ctx, []byte(sessionPrefix+tag)); err != nil {
		return cleanup, err
	}
	err = src.Each(ctx, wo.MaxConcurrency, func(ctx context.Context, i int, body io.ReadSeeker, _ int64) error {
		if _, err := bb.StageBlock(ctx, ids[i], streaming.NopCloser(body), nil); err != nil {
			return err
		}
		// The block is held: save it even if the upload is being cancelled meanwhile, so
		// that the next attempt does not send it again.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storedTimeout)
		defer cancel()
		return src.Stored(sctx, i, ids[i])
	})
	if err != nil {
		return cleanup, err
	}
	if err := commit(ctx, bb, ids, uo); err != nil {
		return cleanup, err
	}
	if session, _ := src.Resumed(); session != nil {
		// A Put Block of the interrupted attempt can be stored after that attempt ended
		// (Azurite stores one a cancel cut off after its body was sent, after a later commit):
		// once such requests had time to settle, drop what they left. The blob is committed;
		// a failure here leaves blocks Azure removes after a week.
		_ = dropLateBlocks(ctx, bb)
	}
	return cleanup, nil
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

// commit commits the staged blocks ids as bb, with what the writer would have sent (uo).
func commit(ctx context.Context, bb *blockblob.Client, ids []string, uo *azblob.UploadStreamOptions) error {
	_, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: uo.HTTPHeaders,
		Metadata: uo.Metadata, AccessConditions: uo.AccessConditions, Tags: uo.Tags, Tier: uo.AccessTier})
	return err
}

// dropLateBlocks waits blockSettle, then discards bb's uncommitted blocks if it has any.
func dropLateBlocks(ctx context.Context, bb *blockblob.Client) error {
	bl, err := settledBlocks(ctx, bb)
	if err != nil || len(bl.BlockList.UncommittedBlocks) == 0 {
		return err
	}
	return discardUncommitted(ctx, bb, false)
}

// settledBlocks waits blockSettle (a cancelled Put Block may still land), then lists bb's
// uncommitted blocks.
func settledBlocks(ctx context.Context, bb *blockblob.Client) (blockblob.GetBlockListResponse, error) {
	t := time.NewTimer(blockSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return blockblob.GetBlockListResponse{}, ctx.Err()
	case <-t.C:
	}
	return bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
}

// sessionPrefix starts the session a checkpoint keeps of a block upload; the block tag follows.
const sessionPrefix = "azure-blocks/1:"

// blockTagLen is the length of a block tag (hex of 12 random bytes).
const blockTagLen = 24

// storedTimeout bounds saving a staged block in the checkpoint.
const storedTimeout = 30 * time.Second

// newBlockTag returns a random tag for the block IDs of one upload.
func newBlockTag() string {
	var tag [blockTagLen / 2]byte
	_, _ = rand.Read(tag[:])
	return hex.EncodeToString(tag[:])
}

// blockIDs returns the IDs of n blocks tagged tag: block IDs of one blob must have one length,
// and the tag tells this upload's blocks from any other's.
func blockIDs(tag string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", tag, i))
	}
	return ids
}

// sessionTag returns the block tag of a session UploadParts saved, or "" when session is not one.
func sessionTag(session []byte) string {
	tag, ok := strings.CutPrefix(string(session), sessionPrefix)
	if !ok || len(tag) != blockTagLen {
		return ""
	}
	if _, err := hex.DecodeString(tag); err != nil {
		return ""
	}
	return tag
}

// resumeBlocks checks the session src's checkpoint kept against bb's uncommitted blocks and
// skips every saved part whose block the service still holds with the part's size. It returns
// the session's block tag when at least one part was skipped, else "" (start afresh).
func resumeBlocks(ctx context.Context, bb *blockblob.Client, src *provider.Parts) (string, error) {
	session, saved := src.Resumed()
	tag := sessionTag(session)
	if tag == "" || len(saved) == 0 {
		return "", nil
	}
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return "", nil // no block at all
	}
	if err != nil {
		return "", err
	}
	held := make(map[string]int64, len(bl.BlockList.UncommittedBlocks))
	for _, blk := range bl.BlockList.UncommittedBlocks {
		if blk != nil && blk.Name != nil && blk.Size != nil {
			held[*blk.Name] = *blk.Size
		}
	}
	ids := blockIDs(tag, src.Count())
	skipped := 0
	for _, p := range saved {
		size := min(src.PartSize(), src.Size()-int64(p.Index)*src.PartSize())
		if n, ok := held[ids[p.Index]]; ok && p.Token == ids[p.Index] && n == size && src.Skip(p.Index) {
			skipped++
		}
	}
	if skipped == 0 {
		return "", nil
	}
	return tag, nil
}

// AbortSession discards the uncommitted blocks of key's blob, which hold what a session
// UploadParts saved (and any other upload's uncommitted blocks of that blob, as a failed
// upload's cleanup does). A blob without blocks is not an error.
func (d *Driver) AbortSession(ctx context.Context, b *gblob.Bucket, _ *destination.Integration, key string, _ []byte) error {
	var cc *container.Client
	if !b.As(&cc) {
		return errors.New("azure: the bucket has no container client")
	}
	bb := cc.NewBlockBlobClient(d.StoredKey(key))
	for try := 1; ; try++ {
		err := discardSettled(ctx, bb)
		if err == nil || !errors.Is(err, errRecheck) || try == abortRechecks || ctx.Err() != nil {
			return err
		}
	}
}

// abortRechecks is how many times AbortSession discards blocks that reappeared.
const abortRechecks = 5

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
	bl, err := settledBlocks(ctx, bb)
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
