package gcs_test

import (
	"context"
	"io"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// BenchmarkUpload256MiBFile uploads a file (see emulator.BenchUploadFile): "provider" goes part
// by part over a resumable session in raw HTTP, each chunk a section of the file (UploadParts);
// "stream" is the same file as a plain reader through storage.Writer (the path files took
// before, a resumable session buffering each chunk); "raw-chunk8MiB" is storage.Writer with
// 8 MiB chunks, "raw-unchunked" with ChunkSize 0 (one streaming request, no buffer, no
// resumable session: nothing to resume).
func BenchmarkUpload256MiBFile(b *testing.B) {
	cfg, roots := emulator.BenchGCS(b)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: roots}, nil, driver())
	opts := []option.ClientOption{option.WithEndpoint(cfg.Endpoint + "/storage/v1/"), option.WithoutAuthentication()}
	if roots != nil {
		opts = append(opts, option.WithHTTPClient(emulator.HTTPClient(roots)))
	}
	sc, err := storage.NewClient(context.Background(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sc.Close() })
	raw := func(chunk int) func(ctx context.Context, key string, src io.Reader) error {
		return func(ctx context.Context, key string, src io.Reader) error {
			w := sc.Bucket(cfg.Bucket).Object(key).NewWriter(ctx)
			w.ChunkSize, w.ContentType = chunk, "video/mp4"
			if _, err := io.Copy(w, src); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		}
	}
	emulator.BenchUploadFile(b, emulator.BenchFileSize(b, 256<<20), c, in, map[string]emulator.RawUpload{
		"raw-chunk8MiB": {Upload: raw(8 << 20)}, "raw-unchunked": {Upload: raw(0)}})
}
