package drivetest

import (
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	f := &file{name: "It's", mimeType: FolderMimeType, parent: "p1", appProps: map[string]string{"bk": "v"}}
	for q, want := range map[string]bool{
		``:                                      true,
		`name = 'it\'s'`:                        true, // case-insensitive
		`name = 'Its'`:                          false,
		`'p1' in parents and trashed = false`:   true,
		`'p2' in parents or name contains 'IT'`: true,
		`not (mimeType = 'application/vnd.google-apps.folder')`:            false,
		`mimeType != 'x' and appProperties has { key='bk' and value='v' }`: true,
		`trashed = true`: false,
	} {
		parsed, err := parseQuery(q)
		if err != nil {
			t.Errorf("parseQuery(%q): %v", q, err)
			continue
		}
		if got := parsed.match(f); got != want {
			t.Errorf("%q matched %v, want %v", q, got, want)
		}
	}
	for _, bad := range []string{`name = `, `name = 'x`, `'x' in`, `size > 3`, `(name = 'a'`, `name = 'a' and`, `trashed = maybe`, `name = 'a\q'`} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("parseQuery(%q) accepted", bad)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for h, want := range map[string]contentRange{
		"bytes 0-262143/*":           {0, 262143, -1, true},
		"bytes 262144-300000/300001": {262144, 300000, 300001, true},
		"bytes */300001":             {0, 0, 300001, false},
		"bytes */*":                  {0, 0, -1, false},
	} {
		got, err := parseContentRange(h)
		if err != nil || got != want {
			t.Errorf("parseContentRange(%q) = %+v, %v; want %+v", h, got, err, want)
		}
	}
	for _, bad := range []string{"", "bytes", "bytes 5-4/*", "bytes 0-9/5", "bytes -1-2/*", "items 0-1/2", "bytes 0-+1/*", "bytes a-b/*"} {
		if _, err := parseContentRange(bad); err == nil {
			t.Errorf("parseContentRange(%q) accepted", bad)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{`name = 'a\'b' and 'root' in parents and trashed = false`,
		`appProperties has { key='k' and value='v' }`, `not (name contains 'x' or mimeType != 'y')`, `((`, `'`} {
		f.Add(s)
	}
	sample := &file{name: "n", mimeType: "m", parent: "p", appProps: map[string]string{"k": "v"}, created: time.Now()}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseQuery(s)
		if err == nil {
			q.match(sample)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-262143/*", "bytes */*", "bytes */10", "bytes 1-2/3", "bytes 9223372036854775807-9223372036854775807/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := parseContentRange(s)
		if err != nil {
			return
		}
		if cr.hasBytes && (cr.first < 0 || cr.last < cr.first || (cr.total >= 0 && cr.last >= cr.total)) {
			t.Fatalf("%q parsed to inconsistent %+v", s, cr)
		}
	})
}

func FuzzParseFields(f *testing.F) {
	for _, s := range []string{"id,name", "files(id,name),nextPageToken", "files/id", "*", "a(b(c)),d/e/f", "(", "a(,)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseFields(s)
		if err == nil {
			_, _ = filterJSON(map[string]any{"files": []any{map[string]any{"id": "1"}}, "id": 2}, m)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=5-", "bytes=-3", "bytes=0-0,2-3", "bytes=9-1"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		start, n, _, ok := parseRange(h, size)
		if ok && (start < 0 || n < 0 || start+n > size) {
			t.Fatalf("parseRange(%q, %d) = %d+%d", h, size, start, n)
		}
	})
}
