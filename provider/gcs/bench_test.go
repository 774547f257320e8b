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

// benchUpload compares provider.Client.Upload with a raw storage.Writer (same chunk size) on
// fake-gcs-server, over https when the TLS instance runs, else over http.
func benchUpload(b *testing.B, size int64, withRaw bool) {
	cfg, roots := emulator.BenchGCS(b)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: roots}, nil, driver())
	var raw func(ctx context.Context, key string, src *emulator.Data) error
	if withRaw {
		opts := []option.ClientOption{option.WithEndpoint(cfg.Endpoint + "/storage/v1/"), option.WithoutAuthentication()}
		if roots != nil { // WithoutAuthentication does nothing next to WithHTTPClient: this client has no credentials
			opts = append(opts, option.WithHTTPClient(emulator.HTTPClient(roots)))
		}
		sc, err := storage.NewClient(context.Background(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sc.Close() })
		raw = func(ctx context.Context, key string, src *emulator.Data) error {
			w := sc.Bucket(cfg.Bucket).Object(key).NewWriter(ctx)
			w.ChunkSize, w.ContentType = 8<<20, "video/mp4"
			if _, err := io.Copy(w, src); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		}
	}
	emulator.BenchUpload(b, size, c, in, raw)
}

func BenchmarkUpload256MiB(b *testing.B) { benchUpload(b, 256<<20, true) }
func BenchmarkUpload1GiB(b *testing.B)   { benchUpload(b, 1<<30, false) }
