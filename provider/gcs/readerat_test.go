package gcs_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestReaderAtContract runs the file-source contract on fake-gcs-server: a file goes part by
// part over a resumable session (UploadParts), each chunk a section of the file, never read as
// a stream.
func TestReaderAtContract(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	emulator.CheckReaderAtContract(t, newClient(t, &u, nil), in, chunk, emulator.RawGCS(cfg), true)
}
