package drive_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// TestQuotaErrorsClassified: Drive's quota and rate refusals (403 storageQuotaExceeded,
// dailyLimitExceeded, userRateLimitExceeded; 429) are classified as quota or throttling, not as
// a missing write permission; rate limits are transient (and retried, honouring Retry-After).
func TestQuotaErrorsClassified(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status    int
		reason    string
		code      string
		transient bool
		says      string
	}{
		{http.StatusForbidden, "storageQuotaExceeded", provider.CodeQuotaExceeded, false, "storage"},
		{http.StatusForbidden, "dailyLimitExceeded", provider.CodeQuotaExceeded, false, "daily"},
		{http.StatusForbidden, "userRateLimitExceeded", provider.CodeThrottled, true, "slow down"},
		{http.StatusTooManyRequests, "", provider.CodeThrottled, true, "slow down"},
	} {
		t.Run(tc.reason+http.StatusText(tc.status), func(t *testing.T) {
			srv := drivetest.NewServer(drivetest.Options{})
			defer srv.Close()
			srv.InjectFault(drivetest.Fault{Status: tc.status, Reason: tc.reason, RetryAfter: time.Second, Times: -1})
			b, err := drive.OpenBucket(ctx, srv.Client(), "", &drive.Options{Endpoint: srv.Endpoint(),
				Retry: drive.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxRetryAfter: 2 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			err = b.WriteAll(ctx, "renders/x.mp4", []byte("video"), nil)
			var qe *drive.QuotaError
			if !errors.As(err, &qe) || gcerrors.Code(err) != gcerrors.ResourceExhausted {
				t.Fatalf("WriteAll: %v (code %v), want a *drive.QuotaError, ResourceExhausted", err, gcerrors.Code(err))
			}
			if tc.transient && qe.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %v, want Google's 1s", qe.RetryAfter)
			}
			c := provider.Classify(err)
			if c.Code != tc.code || c.Transient != tc.transient || !strings.Contains(c.Message, tc.says) || strings.Contains(c.Message, "permission") {
				t.Fatalf("Classify = %+v; want %s (transient %v) saying %q", c, tc.code, tc.transient, tc.says)
			}
			// Rate limits are retried; a full storage or a used-up quota is not.
			calls := 0
			for _, op := range []string{"files.create", "files.get", "files.list", "files.update", "upload.multipart", "upload.media", "upload.start", "upload.chunk"} {
				calls += srv.Calls(op)
			}
			if tc.transient != (calls > 1) {
				t.Errorf("%d calls for %s; want retries only when transient", calls, tc.reason)
			}
		})
	}
}
