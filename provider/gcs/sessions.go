package gcs

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/provider"
)

// sessions are the resumable upload sessions started over one bucket's client and not yet seen
// to finish or be cancelled, by object name. storage.Writer neither cancels the session of an
// upload that fails nor exposes it, so the client's transport notes each one it starts (the
// answer's Location) and the cleanup of a failed stream upload cancels those of its object.
type sessions struct {
	mu   sync.Mutex
	open map[string]session // by upload_id
	ids  []string           // upload_ids, oldest first
}

// session is one resumable upload session: its URI and the name of its object.
type session struct{ uri, name string }

// maxOpenSessions bounds what one client remembers: the oldest are forgotten first (a session
// nobody cancels holds nothing visible and expires after a week).
const maxOpenSessions = 1024

func newSessions() *sessions {
	return &sessions{open: map[string]session{}}
}

// note records what req and its answer resp say of a session: one started, finished or
// cancelled.
func (s *sessions) note(req *http.Request, resp *http.Response) {
	q := req.URL.Query()
	switch id := q.Get("upload_id"); {
	case id == "" && req.Method == http.MethodPost && q.Get("uploadType") == "resumable" && resp.StatusCode == http.StatusOK:
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("upload_id") == "" || q.Get("name") == "" {
			return
		}
		s.started(loc.Query().Get("upload_id"), q.Get("name"), loc.String())
	case id == "":
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusGone, resp.StatusCode == 499: // gone
		s.ended(id)
	case resp.StatusCode/100 == 2 && req.Method == http.MethodDelete: // cancelled
		s.ended(id)
	case (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated) &&
		resp.Header.Get("X-Http-Status-Code-Override") != "308": // the object is committed
		s.ended(id)
	}
}

func (s *sessions) started(id, name, uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[id]; ok {
		return
	}
	for len(s.ids) >= maxOpenSessions {
		s.forget(s.ids[0])
	}
	s.open[id] = session{uri: uri, name: name}
	s.ids = append(s.ids, id)
}

func (s *sessions) ended(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget(id)
}

func (s *sessions) forget(id string) {
	delete(s.open, id)
	for i, v := range s.ids {
		if v == id {
			s.ids = append(s.ids[:i], s.ids[i+1:]...)
			break
		}
	}
}

// of returns the URIs of the sessions of object name still open.
func (s *sessions) of(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var uris []string
	for _, id := range s.ids {
		if e := s.open[id]; e.name == name {
			uris = append(uris, e.uri)
		}
	}
	return uris
}

// cancelStreamSessions is the cleanup of a failed stream upload of key to b: it cancels the
// sessions of the object the bucket's client started and did not see end (a cancelled one
// ends as its DELETE is answered), on the bucket's own host only.
func (d *Driver) cancelStreamSessions(b *blob.Bucket, key string) func(context.Context) error {
	return func(ctx context.Context) error {
		c := d.connOf(b)
		if c == nil || c.sessions == nil {
			return nil
		}
		var errs []error
		for _, uri := range c.sessions.of(d.StoredKey(key)) {
			if !c.sameHost(uri) {
				continue // never send the tenant's token elsewhere
			}
			if err := c.cancel(ctx, uri); err != nil {
				errs = append(errs, provider.StopIfPermanent(d, err))
			}
		}
		return errors.Join(errs...)
	}
}
