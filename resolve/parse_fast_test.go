package resolve

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseVideoJSONDifferential checks the fast path against the checked one (the
// encoding/json Decoder implementation ParseVideoJSON had before it): wherever parseFast
// answers, parseChecked accepts the same document with the same Request; wherever parseChecked
// accepts, parseFast answers too (unless the document nests deeper than parseFast follows); and
// ParseVideoJSON returns exactly what parseChecked returns, errors included.
//
//	go test ./resolve/ -run '^$' -fuzz '^FuzzParseVideoJSONDifferential$' -fuzztime 3m
func FuzzParseVideoJSONDifferential(f *testing.F) {
	files, _ := filepath.Glob("testdata/videojson/*.json")
	files = append(files, "testdata/timeline-300-clips.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"destin\u0061tions":[{"provider":"r2"}]}`, `{"destinations":[{"provider":"\ud800x"}]}`,
		`{"destinations":[{"pathPrefix":"a` + "\xff" + `b"}]}`, `{"a":-0.5e+3,"b":[true,false,null,{}],"destinations":[]}`,
		`{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"destinations":[{}],"destinations":null}`, `{"destinations":[{"integrationId":"a","integrationId":"b"}]}`,
		` {"destinations" : null } ` + "\n", `{"a":[` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `]}`,
		`{"destinations":[{"\u0070rovider":"s3"}]}`, `{"destinations":[] }x`, `{"a":tru}`, `{"a":"` + "\t" + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := parseChecked(data)
		fast, ok := parseFast(data)
		if ok && (werr != nil || !reflect.DeepEqual(fast, want)) {
			t.Fatalf("fast path accepted %q as %#v; checked: %#v, %v", data, fast, want, werr)
		}
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > fastMaxDepth
		if !ok && werr == nil && !deep {
			t.Fatalf("fast path declined %q, which the checked path accepts as %#v", data, want)
		}
		got, err := ParseVideoJSON(data)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(err, werr) {
			t.Fatalf("ParseVideoJSON(%q) = %#v, %v; checked: %#v, %v", data, got, err, want, werr)
		}
	})
}

// BenchmarkParseCheckedTimeline300 is the previous implementation on the 300-clip timeline, for
// comparison with BenchmarkParseVideoJSONTimeline300.
func BenchmarkParseCheckedTimeline300(b *testing.B) {
	data, err := os.ReadFile("testdata/timeline-300-clips.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if req, err := parseChecked(data); err != nil || len(req.Destinations) != 5 {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseChecked5 is the previous implementation on BenchmarkParseVideoJSON5's document.
func BenchmarkParseChecked5(b *testing.B) {
	data := []byte(`{"name":"Product Promo","layers":[{"type":"video","src":"https://example.com/a.mp4"}],"destinations":[` +
		strings.Repeat(`{"integrationId":"018f3a5c-7b1e-7000-8000-000000000001","provider":"r2","pathPrefix":"campaigns/summer-2026/"},`, 4) +
		`{"integrationId":"018f3a5c-7b1e-7000-8000-000000000006","provider":"s3","pathPrefix":"campaigns/summer-2026/"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if req, err := parseChecked(data); err != nil || len(req.Destinations) != 5 {
			b.Fatal(err)
		}
	}
}
