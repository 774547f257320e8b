package resolve_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/resolve"
)

// timeline300 is a compact videoJSON of 300 clips (132 KB) with five destinations at the end.
func timeline300(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/timeline-300-clips.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkParseVideoJSONTimeline300 parses the destinations out of the 300-clip timeline.
// Target: ≤ 0.5× BenchmarkUnmarshalTimeline300.
func BenchmarkParseVideoJSONTimeline300(b *testing.B) {
	data := timeline300(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if req, err := resolve.ParseVideoJSON(data); err != nil || len(req.Destinations) != 5 {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalTimeline300 is plain json.Unmarshal of the same document into an any.
func BenchmarkUnmarshalTimeline300(b *testing.B) {
	data := timeline300(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndResolveTimeline300 parses and resolves the 300-clip timeline's destinations.
func BenchmarkParseAndResolveTimeline300(b *testing.B) {
	store := memstore.New()
	seed(b, store)
	r := resolve.New(store, resolve.Options{})
	data := timeline300(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req, err := resolve.ParseVideoJSON(data)
		if err != nil {
			b.Fatal(err)
		}
		if ts, err := r.Resolve(ctx, user, req); err != nil || len(ts) != 5 {
			b.Fatal(len(ts), err)
		}
	}
}

// BenchmarkParseVideoJSON5 is the parsing half of BenchmarkParseAndResolve5 alone.
func BenchmarkParseVideoJSON5(b *testing.B) {
	videoJSON := videoJSON5()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if req, err := resolve.ParseVideoJSON(videoJSON); err != nil || len(req.Destinations) != 5 {
			b.Fatal(err)
		}
	}
}

// videoJSON5 is BenchmarkParseAndResolve5's document: a short timeline and five destinations.
func videoJSON5() []byte {
	return []byte(`{"name":"Product Promo","layers":[{"type":"video","src":"https://example.com/a.mp4"}],"destinations":[` +
		`{"integrationId":"` + idR2 + `","provider":"r2","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idS3 + `","provider":"s3","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idAzure + `","provider":"azure","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idDrive + `","provider":"drive","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idLong + `","provider":"s3","pathPrefix":"campaigns/summer-2026/"}]}`)
}
