package azure_test

import (
	"context"
	"io"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// benchUpload compares provider.Client.Upload with the raw azblob UploadStream (same block
// size and concurrency) on Azurite, over https when the TLS instance runs, else over http.
func benchUpload(b *testing.B, size int64, withRaw bool) {
	srv := emulator.BenchAzure(b)
	cfg := srv.Container(b)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: srv.RootCAs}, nil, azure.NewDriver(azure.Options{}))
	var raw func(ctx context.Context, key string, src *emulator.Data) error
	if withRaw {
		cc := srv.ContainerClient(b, cfg.AzureContainerName)
		raw = func(ctx context.Context, key string, src *emulator.Data) error {
			_, err := cc.NewBlockBlobClient(key).UploadStream(ctx, src, &blockblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
			return err
		}
	}
	emulator.BenchUpload(b, size, c, in, raw)
}

func BenchmarkUpload256MiB(b *testing.B) { benchUpload(b, 256<<20, true) }
func BenchmarkUpload1GiB(b *testing.B)   { benchUpload(b, 1<<30, false) }

// BenchmarkUploadFile uploads a 256 MiB file (OUTPUTS_BENCH_FILE_MIB sets another size; see
// emulator.BenchUploadFile): "provider" stages blocks straight from sections of the file,
// "stream" is the same file as a plain reader through the bucket's writer, "raw" azblob's
// UploadStream (8 MiB blocks, 4 at once) of a section reader of the file.
func BenchmarkUploadFile(b *testing.B) {
	srv := emulator.BenchAzure(b)
	cfg := srv.Container(b)
	var u emulator.Unsealer
	in := u.Integration(destination.Azure, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: srv.RootCAs}, nil, azure.NewDriver(azure.Options{}))
	cc := srv.ContainerClient(b, cfg.AzureContainerName)
	emulator.BenchUploadFile(b, emulator.BenchFileSize(b, 256<<20), c, in, map[string]emulator.RawUpload{
		"raw": {Upload: func(ctx context.Context, key string, src io.Reader) error {
			_, err := cc.NewBlockBlobClient(key).UploadStream(ctx, src, &blockblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
			return err
		}}})
}
