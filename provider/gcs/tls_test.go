package gcs_test

import (
	"context"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// TestTLS uploads over https with a test CA trusted through provider.Options.RootCAs, and checks
// that an untrusted certificate is refused.
func TestTLS(t *testing.T) {
	cfg, roots := emulator.GCSTLS(t)
	emulator.CheckTLS(t, destination.GCS, cfg, roots, nil, driver())
}

// TestTLSFile uploads a file source over https: the resumable path's raw requests go through
// the bucket's client, which trusts the test CA through provider.Options.RootCAs.
func TestTLSFile(t *testing.T) {
	cfg, roots := emulator.GCSTLS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	c := emulator.NewClient(t, &u, provider.Options{PartSize: 5 << 20, RootCAs: roots}, nil, driver())
	const size = 2*(5<<20) + 3
	f, _ := emulator.DataFile(t, size, 8) // verified: the CRC32C the server computed
	src := emulator.NewFileSource(f, size)
	res, err := c.Upload(context.Background(), in, "tls/file.mp4", src, destination.UploadOptions{Size: size})
	if err != nil || res.Verified != "crc32c" || src.Streamed.Load() != 0 {
		t.Fatalf("Upload = %+v, %v (stream reads %d); want verified part by part", res, err, src.Streamed.Load())
	}
}
