package gcs

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestSessionsNote: a session is remembered from its start until it is seen committed, gone or
// cancelled (a DELETE answered 500 keeps it for the cleanup's next try), never more than
// maxOpenSessions at once.
func TestSessionsNote(t *testing.T) {
	s := newSessions()
	const base = "https://storage.googleapis.com/upload/storage/v1/b/bkt/o"
	start := func(id, name string) {
		req := &http.Request{Method: http.MethodPost, URL: mustURL(t, base+"?uploadType=resumable&name="+url.QueryEscape(name))}
		resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Location": {base + "?uploadType=resumable&upload_id=" + id}}}
		s.note(req, resp)
	}
	answer := func(method, id string, status int, override string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		if override != "" {
			resp.Header.Set("X-Http-Status-Code-Override", override)
		}
		s.note(&http.Request{Method: method, URL: mustURL(t, base+"?uploadType=resumable&upload_id="+id)}, resp)
	}
	start("a", "k/one.mp4")
	start("b", "k/one.mp4")
	start("c", "k/two.mp4")
	answer(http.MethodPut, "a", http.StatusOK, "308") // a chunk stored: still open
	answer(http.MethodDelete, "b", http.StatusInternalServerError, "")
	if got := s.of("k/one.mp4"); len(got) != 2 {
		t.Fatalf("open sessions of one.mp4: %v, want a and b", got)
	}
	answer(http.MethodPut, "a", http.StatusOK, "") // committed
	answer(http.MethodDelete, "b", 499, "")        // cancelled
	answer(http.MethodPut, "c", http.StatusNotFound, "")
	for _, name := range []string{"k/one.mp4", "k/two.mp4"} {
		if got := s.of(name); len(got) != 0 {
			t.Errorf("open sessions of %s: %v, want none", name, got)
		}
	}
	for i := range maxOpenSessions + 10 {
		start(fmt.Sprint("x", i), "k/many.mp4")
	}
	if n := len(s.of("k/many.mp4")); n != maxOpenSessions || len(s.open) != maxOpenSessions || len(s.ids) != maxOpenSessions {
		t.Errorf("%d sessions remembered (%d, %d), want at most %d", n, len(s.open), len(s.ids), maxOpenSessions)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
