package outputs_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// BenchmarkResolveDestinations5 is Service.ResolveDestinations of a short videoJSON naming five
// destinations (five integrations of the workspace), over the memstore. Target: ≤ 10 µs/op.
func BenchmarkResolveDestinations5(b *testing.B) {
	h, dests := resolveHarness(b)
	benchResolve(b, h, []byte(`{"name":"Product Promo","layers":[{"type":"video","src":"https://example.com/a.mp4"}],"destinations":[`+dests+`]}`))
}

// BenchmarkResolveDestinationsTimeline300 is the same with the 300-clip timeline of
// resolve/testdata in front of the destinations. Target: ≤ 0.5× json.Unmarshal of the document
// (resolve's BenchmarkUnmarshalTimeline300).
func BenchmarkResolveDestinationsTimeline300(b *testing.B) {
	h, dests := resolveHarness(b)
	data, err := os.ReadFile("resolve/testdata/timeline-300-clips.json")
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndex(string(data), `,"destinations":`)
	if i < 0 {
		b.Fatal("no destinations in the fixture")
	}
	benchResolve(b, h, []byte(string(data[:i])+`,"destinations":[`+dests+`]}`))
}

// resolveHarness creates five integrations and returns them as videoJSON destinations.
func resolveHarness(b *testing.B) (*harness, string) {
	h := newHarness(b)
	var dests []string
	for i := range 5 {
		v, err := h.svc.CreateIntegration(context.Background(), wsA, r2Input(i == 0))
		if err != nil {
			b.Fatal(err)
		}
		dests = append(dests, fmt.Sprintf(`{"integrationId":%q,"provider":"r2","pathPrefix":"campaigns/summer-2026/"}`, v.ID))
	}
	return h, strings.Join(dests, ",")
}

func benchResolve(b *testing.B, h *harness, videoJSON []byte) {
	ctx := context.Background()
	b.ReportAllocs()
	start := emulator.CPUTime()
	for b.Loop() {
		if ts, err := h.svc.ResolveDestinations(ctx, wsA, videoJSON); err != nil || len(ts) != 5 {
			b.Fatal(len(ts), err)
		}
	}
	// CPU time, unlike wall time, does not count waiting for a core on a busy machine.
	b.ReportMetric(float64((emulator.CPUTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
