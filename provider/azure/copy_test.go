package azure_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// cdnOn returns a CDN over a container of cfg leased from c (shared key: it signs URLs).
func cdnOn(t *testing.T, c *provider.Client, u *emulator.Unsealer, cfg destination.Config) *provider.CDN {
	t.Helper()
	b, release, err := c.Lease(context.Background(), u.Integration(destination.Azure, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	cdn, err := provider.NewCDN(b, provider.CDNOptions{Driver: azure.NewDriver(azure.Options{}), PartSize: blockSize})
	if err != nil {
		t.Fatal(err)
	}
	return cdn
}

// TestCopyFromCDN: a container on the CDN's Azurite is written with Put Block From URL from the
// CDN blob's SAS URL (no byte through the worker); a container on another Azurite (the TLS
// instance, which cannot read the first: CannotVerifyCopySource) is streamed, with identical
// bytes and no uncommitted block left.
func TestCopyFromCDN(t *testing.T) {
	srv := emulator.NeedAzure(t)
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := newClient(t, &u, rec)
	cdn := cdnOn(t, c, &u, srv.Container(t))
	for _, size := range []int64{1 << 20, provider.DefaultCopyPartSize + 2<<20 + 5} {
		in := u.Integration(destination.Azure, srv.Container(t))
		st := emulator.CDNCopy(t, c, rec, cdn, in, "renders/r/render.mp4", "out/a b.mp4", size, 6, destination.TransferCopy)
		t.Logf("copy of %d bytes: %d read from the source, %d sent", size, st.SourceBytes, st.SentBytes)
	}

	tls := emulator.NeedAzureTLS(t)
	var u2 emulator.Unsealer
	rec2 := &emulator.Recorder{}
	c2 := emulator.NewClient(t, &u2, provider.Options{PartSize: blockSize, Concurrency: 2, RootCAs: tls.RootCAs, WrapTransport: rec2.Wrap}, nil, azure.NewDriver(azure.Options{}))
	cdn2 := cdnOn(t, c2, &u2, srv.Container(t))
	dst := tls.Container(t)
	in := u2.Integration(destination.Azure, dst)
	const size = 3<<20 + 1
	st := emulator.CDNCopy(t, c2, rec2, cdn2, in, "renders/r/render.mp4", "out/x.mp4", size, 7, destination.TransferStream)
	if st.SourceBytes != size {
		t.Errorf("streamed %d bytes of the source, want %d", st.SourceBytes, size)
	}
	refused := false
	for _, r := range rec2.Requests() {
		for k := range r.Header {
			refused = refused || strings.EqualFold(k, "x-ms-copy-source")
		}
	}
	if !refused {
		t.Error("no Put Block From URL was tried")
	}
	if n, err := emulator.UncommittedBlocks(context.Background(), tls.ContainerClient(t, dst.AzureContainerName), "out/"); err != nil || n != 0 {
		t.Errorf("uncommitted blocks left: %d, %v", n, err)
	}
}
