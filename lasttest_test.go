package outputs_test

import (
	"context"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
)

// hookUploader runs hook in Test, then returns its result.
type hookUploader struct {
	deliverytest.Uploader
	hook func()
	res  destination.TestResult
}

func (u *hookUploader) Test(context.Context, *destination.Integration) destination.TestResult {
	if u.hook != nil {
		u.hook()
	}
	return u.res
}

// TestTestResultIsNotVersioned: recording a test changes neither version nor updatedAt, and a
// test that ends after an update does not write its stale result over the newer version.
func TestTestResultIsNotVersioned(t *testing.T) {
	up := &hookUploader{res: destination.TestResult{OK: true, Code: "ok"}}
	h := newHarness(t, func(o *outputs.Options) { o.Uploader = up })
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.TestIntegration(ctx, wsA, v.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := h.svc.GetIntegration(ctx, wsA, v.ID)
	if got.Version != v.Version || !got.UpdatedAt.Equal(v.UpdatedAt) || got.LastTest == nil || got.LastTest.Code != "ok" {
		t.Fatalf("after a test: version %d (was %d), updatedAt %v (was %v), last test %+v", got.Version, v.Version, got.UpdatedAt, v.UpdatedAt, got.LastTest)
	}
	// An optimistic PATCH with the version read before the test still applies.
	if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Version: v.Version, Name: ptr("renamed")}); err != nil {
		t.Fatalf("PATCH with the version read before a test: %v", err)
	}

	// A test that is overtaken by an update.
	up.res = destination.TestResult{OK: false, Code: "permission_denied"}
	up.hook = func() {
		if _, err := h.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Name: ptr("newer")}); err != nil {
			t.Error(err)
		}
	}
	res, err := h.svc.TestIntegration(ctx, wsA, v.ID)
	if err != nil || res.Code != "permission_denied" {
		t.Fatalf("the test itself: %+v %v", res, err)
	}
	got, _ = h.svc.GetIntegration(ctx, wsA, v.ID)
	if got.Name != "newer" || got.LastTest == nil || got.LastTest.Code != "ok" {
		t.Fatalf("after an overtaken test: name %q, last test %+v; want the newer version with the earlier result", got.Name, got.LastTest)
	}
}
