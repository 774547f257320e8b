package resolve_test

import (
	"context"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/resolve"
)

// BenchmarkResolve5 resolves five destinations (five distinct integrations, each with a render
// prefix nested under the integration's) over the in-memory store. Target: ≤ 20 µs/op.
func BenchmarkResolve5(b *testing.B) {
	store := memstore.New()
	seed(b, store)
	r := resolve.New(store, resolve.Options{})
	req := given(
		dest(idR2, destination.R2, "campaigns/summer-2026/"),
		dest(idS3, destination.S3, "campaigns/summer-2026/"),
		dest(idAzure, destination.Azure, "campaigns/summer-2026/"),
		dest(idDrive, destination.Drive, "campaigns/summer-2026/"),
		dest(idLong, destination.S3, "campaigns/summer-2026/"),
	)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ts, err := r.Resolve(ctx, user, req)
		if err != nil || len(ts) != 5 {
			b.Fatal(len(ts), err)
		}
	}
}

// BenchmarkParseAndResolve5 adds parsing the destinations out of a videoJSON document.
func BenchmarkParseAndResolve5(b *testing.B) {
	store := memstore.New()
	seed(b, store)
	r := resolve.New(store, resolve.Options{})
	videoJSON := []byte(`{"name":"Product Promo","layers":[{"type":"video","src":"https://example.com/a.mp4"}],"destinations":[` +
		`{"integrationId":"` + idR2 + `","provider":"r2","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idS3 + `","provider":"s3","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idAzure + `","provider":"azure","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idDrive + `","provider":"drive","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + idLong + `","provider":"s3","pathPrefix":"campaigns/summer-2026/"}]}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := resolve.ParseVideoJSON(videoJSON)
		if err != nil {
			b.Fatal(err)
		}
		if ts, err := r.Resolve(ctx, user, req); err != nil || len(ts) != 5 {
			b.Fatal(len(ts), err)
		}
	}
}
