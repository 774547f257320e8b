package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestQuickstart runs the README's first command end to end.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), "../../testdata/render.mp4", false, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{`"status": "completed"`, `"outputKey": "renders/campaigns/summer-2026/render.mp4"`,
		`"outputUrl": "https://cdn.example.com/renders/campaigns/summer-2026/render.mp4"`, "identical to", "ok=true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "quickstart-secret-key-0001") {
		t.Error("the secret was printed")
	}
}
