package gcs_test

import (
	"context"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// cdnOn returns a CDN over a bucket of cfg leased from c.
func cdnOn(t *testing.T, c *provider.Client, u *emulator.Unsealer, cfg destination.Config) *provider.CDN {
	t.Helper()
	b, release, err := c.Lease(context.Background(), u.Integration(destination.GCS, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	cdn, err := provider.NewCDN(b, provider.CDNOptions{Driver: driver(), PartSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return cdn
}

// TestCopyFromCDN: a bucket on the CDN's fake-gcs-server is written with a rewrite (no byte
// through the worker, the CRC32C GCS reports checked against the CDN copy's); a bucket on
// another fake-gcs-server (the TLS instance: the CDN object is not there) is streamed.
func TestCopyFromCDN(t *testing.T) {
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	cdn := cdnOn(t, c, &u, emulator.GCS(t))
	in := u.Integration(destination.GCS, emulator.GCS(t))
	const size = 9<<20 + 3
	st := emulator.CDNCopy(t, c, rec, cdn, in, "renders/r/render.mp4", "out/a b.mp4", size, 8, destination.TransferCopy)
	if st.Result.Verified != "crc32c" {
		t.Errorf("Verified %q, want crc32c", st.Result.Verified)
	}
	t.Logf("rewrite of %d bytes: %d read from the source, %d sent", size, st.SourceBytes, st.SentBytes)

	cfg, roots := emulator.GCSTLS(t)
	var u2 emulator.Unsealer
	rec2 := &emulator.Recorder{}
	c2 := emulator.NewClient(t, &u2, provider.Options{PartSize: chunk, Concurrency: 2, RootCAs: roots, WrapTransport: rec2.Wrap}, nil, driver())
	cdn2 := cdnOn(t, c2, &u2, emulator.GCS(t))
	st = emulator.CDNCopy(t, c2, rec2, cdn2, u2.Integration(destination.GCS, cfg), "renders/r/render.mp4", "out/x.mp4", size, 9, destination.TransferStream)
	if st.SourceBytes != size {
		t.Errorf("streamed %d bytes of the source, want %d", st.SourceBytes, size)
	}
}
