package gcs_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestTLS uploads over https with a test CA trusted through provider.Options.RootCAs, and checks
// that an untrusted certificate is refused.
func TestTLS(t *testing.T) {
	cfg, roots := emulator.GCSTLS(t)
	emulator.CheckTLS(t, destination.GCS, cfg, roots, nil, driver())
}
