package outputs_test

import (
	"context"
	"testing"
)

// BenchmarkCreateIntegration measures Service.CreateIntegration end to end over the memstore:
// validation, sealing of the secret, the store write and the view.
func BenchmarkCreateIntegration(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	in := r2Input(false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.svc.CreateIntegration(ctx, wsA, in); err != nil {
			b.Fatal(err)
		}
	}
}
