package s3_test

import (
	"net/http"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// TestTLS uploads over https with a test CA trusted through provider.Options.RootCAs, and checks
// that the SDK takes production's path there: parts are sent UNSIGNED-PAYLOAD (TLS protects
// them), not hashed for SigV4 as over plain http.
func TestTLS(t *testing.T) {
	srv := emulator.NeedS3TLS(t)
	var rec emulator.Recorder
	emulator.CheckTLS(t, destination.S3, srv.Bucket(t), srv.RootCAs, &rec, s3.NewDriver(s3.Options{}))
	parts := 0
	for _, r := range rec.Requests() {
		if r.Method != http.MethodPut {
			continue
		}
		parts++
		if got := r.Header.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
			t.Errorf("%s %s: x-amz-content-sha256 %q, want UNSIGNED-PAYLOAD", r.Method, r.URL.Path, got)
		}
	}
	if parts != 3 {
		t.Errorf("%d PUTs, want 3 parts", parts)
	}
}
