package provider

import (
	"context"
	"errors"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
)

// TestEachIndexRecovers: a part whose upload panics fails the upload with a permanent
// UploadError instead of killing the process (no caller can recover another goroutine's panic).
func TestEachIndexRecovers(t *testing.T) {
	err := eachIndex(context.Background(), 4, 2, func(_ context.Context, i int) error {
		if i == 2 {
			panic("a part's upload panicked") // a driver's bug, or an SDK trusting an answer
		}
		return nil
	})
	ue := destination.AsUploadError(err)
	if ue == nil || ue.Transient || ue.Code != CodeUnknown {
		t.Fatalf("eachIndex with a panicking part: %v, want a permanent %s UploadError", err, CodeUnknown)
	}
	if errors.Unwrap(err) == nil {
		t.Error("the recovered panic is not kept as the cause")
	}
}
