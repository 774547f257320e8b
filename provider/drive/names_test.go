package drive

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeName(t *testing.T) {
	for seg, want := range map[string]string{
		"":              "%",
		".":             "%2E",
		"..":            "%2E%2E",
		"render.mp4":    "render.mp4",
		"100%":          "100%25",
		" padded ":      "%20padded%20",
		"tab\there":     "tab%09here",
		"it's \\ fine":  "it's \\ fine",
		"☺":             "☺",
		"%2E":           "%252E",
		"...":           "...",
		"a\x7fb":        "a%7Fb",
		"inner  spaces": "inner  spaces",
	} {
		if got := escapeName(seg); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", seg, got, want)
		}
		if back := unescapeName(want); back != seg {
			t.Errorf("unescapeName(%q) = %q, want %q", want, back, seg)
		}
	}
	// Names not made by escapeName read literally.
	for _, name := range []string{"100%", "50%off", "%zz", "%2e", "%C3"} {
		if got := unescapeName(name); got != name {
			t.Errorf("unescapeName(%q) = %q, want it unchanged", name, got)
		}
	}
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a%b", " x ", "\x00\x1f", "☺%", "%25", "%", "%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unescapeName(s) // any name found in Drive: must not panic
		if got != s && escapeName(got) != s {
			t.Fatalf("unescapeName(%q) = %q, which escapes to %q", s, got, escapeName(got))
		}
		if !utf8.ValidString(s) || strings.Contains(s, "/") {
			return
		}
		e := escapeName(s)
		if back := unescapeName(e); back != s {
			t.Fatalf("round trip %q → %q → %q", s, e, back)
		}
		if e == "" || e == "." || e == ".." || strings.IndexFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Fatalf("escapeName(%q) = %q is not a safe Drive name", s, e)
		}
	})
}

func TestQEscape(t *testing.T) {
	if got := qEscape(`it's a \ test`); got != `it\'s a \\ test` {
		t.Errorf("qEscape = %q", got)
	}
}
