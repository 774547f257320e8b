package azure_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestSweepAbandoned stages blocks by hand, as an upload killed before its Put Block List leaves
// them, and sweeps: the blocks of a key that has no blob are gone (and no blob appeared), while
// a key not asked for keeps its blocks and a blob that exists keeps its content and its own
// uncommitted block.
func TestSweepAbandoned(t *testing.T) {
	srv := emulator.NeedAzure(t)
	cfg := srv.Container(t)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	c := newClient(t, &u, nil)
	ctx := context.Background()
	cc := srv.ContainerClient(t, cfg.AzureContainerName)
	stage := func(key string) *blockblob.Client {
		t.Helper()
		bb := cc.NewBlockBlobClient(key)
		id := base64.StdEncoding.EncodeToString([]byte("abandoned-000000"))
		if _, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader([]byte("staged bytes"))), nil); err != nil {
			t.Fatal(err)
		}
		return bb
	}
	uncommitted := func(bb *blockblob.Client) int {
		t.Helper()
		bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		return len(bl.BlockList.UncommittedBlocks)
	}
	abandoned := stage("renders/r1/render.mp4")
	theirs := stage("renders/their-own.mp4")
	existing := cc.NewBlockBlobClient("renders/r2/render.mp4")
	if _, err := existing.UploadBuffer(ctx, []byte("delivered"), nil); err != nil {
		t.Fatal(err)
	}
	stage("renders/r2/render.mp4")

	n, err := c.SweepAbandoned(ctx, in, "renders/", []string{"renders/r1/render.mp4", "renders/r2/render.mp4"}, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("SweepAbandoned = %d, %v; want 1", n, err)
	}
	if k := uncommitted(abandoned); k != 0 {
		t.Errorf("the abandoned key still has %d uncommitted blocks", k)
	}
	if _, err := abandoned.GetProperties(ctx, nil); !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Errorf("the swept key has a blob: %v", err)
	}
	if k := uncommitted(theirs); k != 1 {
		t.Errorf("a key not asked for has %d uncommitted blocks, want its 1", k)
	}
	if k := uncommitted(existing); k != 1 {
		t.Errorf("the existing blob has %d uncommitted blocks, want its 1 (left alone)", k)
	}
	got, err := existing.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "delivered" {
		t.Errorf("the existing blob holds %q", b)
	}
}
