package azure

import (
	"context"
	"errors"
	"strings"
	"time"

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
	return func(ctx context.Context) error { return discardUncommitted(ctx, bb, false) }
}

// cleanupMark is the metadata of the empty blob discardUncommitted commits and then deletes, so
// that a retry whose first commit's answer was lost still deletes it.
const cleanupMark = "outputs_cleanup"

// discardUncommitted drops the uncommitted blocks of bb. Azure has no call for it: committing
// a block list discards every uncommitted block. A blob that does not exist gets an empty,
// marked list committed only if it still does not exist, and is then deleted; an existing blob
// gets its own committed list (with its headers and metadata) committed again, only if
// unchanged, unless missingOnly (then an existing blob is left as it is). Each step is retried on its own until it succeeds or ctx expires, so a flaky
// connection does not restart the whole sequence.
func discardUncommitted(ctx context.Context, bb *blockblob.Client, missingOnly bool) error {
	step := func(fn func(context.Context) error) error {
		timeout := time.Minute
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		return provider.RetryDetached(ctx, timeout, 0, func(ctx context.Context) error {
			return provider.StopIfPermanent((*Driver)(nil), fn(ctx))
		})
	}
	var bl blockblob.GetBlockListResponse
	gone := false
	if err := step(func(ctx context.Context) error {
		var err error
		bl, err = bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			gone, err = true, nil
		}
		return err
	}); err != nil || gone {
		return err // no blob, no blocks
	}
	var props blob.GetPropertiesResponse
	exists := true
	if err := step(func(ctx context.Context) error {
		var err error
		props, err = bb.GetProperties(ctx, nil)
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			exists, err = false, nil
		}
		return err
	}); err != nil {
		return err
	}
	del := func(etag *azcore.ETag) error {
		return step(func(ctx context.Context) error {
			_, err := bb.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{
				ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: etag}}})
			if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ConditionNotMet) {
				return nil
			}
			return err
		})
	}
	switch {
	case exists && marked(props.Metadata):
		return del(props.ETag) // an earlier try's empty commit
	case len(bl.BlockList.UncommittedBlocks) == 0, exists && missingOnly:
		return nil
	case !exists:
		anyTag, one := azcore.ETagAny, "1"
		var resp blockblob.CommitBlockListResponse
		recheck := false
		err := step(func(ctx context.Context) error {
			var err error
			resp, err = bb.CommitBlockList(ctx, nil, &blockblob.CommitBlockListOptions{Metadata: map[string]*string{cleanupMark: &one},
				AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &anyTag}}})
			if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
				recheck, err = true, nil
			}
			return err
		})
		if err != nil {
			return err
		}
		if recheck {
			return errRecheck // the outer retry reads the blob again (and deletes a marked one)
		}
		return del(resp.ETag)
	case len(bl.BlockList.CommittedBlocks) == 0:
		// A blob written in one Put Blob has no block list to commit again: its uncommitted
		// blocks cannot be dropped without replacing it; Azure removes them after a week.
		return nil
	}
	ids := make([]string, 0, len(bl.BlockList.CommittedBlocks))
	for _, blk := range bl.BlockList.CommittedBlocks {
		if blk.Name == nil {
			return errors.New("azure: committed block without a name")
		}
		ids = append(ids, *blk.Name)
	}
	h := blob.ParseHTTPHeaders(props)
	return step(func(ctx context.Context) error {
		_, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: &h, Metadata: props.Metadata,
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}}})
		if bloberror.HasCode(err, bloberror.ConditionNotMet) {
			return nil // replaced meanwhile: that commit dropped the blocks too
		}
		return err
	})
}

// errRecheck ends a step whose outcome must be read again from the start (the whole cleanup is
// retried).
var errRecheck = provider.Classified(destination.CodeUnavailable, true, "").UploadError(errors.New("azure: the blob changed during cleanup"))

func marked(md map[string]*string) bool {
	for k := range md {
		if strings.EqualFold(k, cleanupMark) {
			return true
		}
	}
	return false
}
