package azure_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// TestTLS uploads over https with a test CA trusted through provider.Options.RootCAs, and checks
// that an untrusted certificate is refused.
func TestTLS(t *testing.T) {
	srv := emulator.NeedAzureTLS(t)
	emulator.CheckTLS(t, destination.Azure, srv.Container(t), srv.RootCAs, nil, azure.NewDriver(azure.Options{}))
}
