package gcs_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestReaderAtContract runs the file-source contract on fake-gcs-server. GCS has no
// part-by-part path (storage.Writer takes an io.Reader): the file is read as a stream through
// the chunked writer, with the same promises.
func TestReaderAtContract(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	emulator.CheckReaderAtContract(t, newClient(t, &u, nil), in, chunk, emulator.RawGCS(cfg), false)
}
