// Package drivetest is an in-process fake of the Google Drive v3 API for tests: an httptest
// server that speaks the wire protocol google.golang.org/api/drive/v3 uses, plus Google's OAuth 2.0
// authorization and token endpoints.
//
// It implements files create, get (metadata and alt=media with Range), list (with the q subset
// file-sync clients use, orderBy and paging), update (metadata, addParents/removeParents, trash),
// delete and copy; permissions create; multipart and resumable uploads (every Content-Range form,
// chunk overwrite, X-GUploader-No-308); shared drives (items in a shared drive are only visible to
// calls that pass supportsAllDrives, and to lists that also pass includeItemsFromAllDrives); the
// Google error JSON; partial responses (fields); fault injection; and an OAuth token endpoint with
// authorization codes (PKCE S256), refresh, refresh-token rotation, revocation and invalid_grant.
//
// Content is kept in memory, in pieces that are never copied once received; an upload session holds
// only the bytes received so far, and becomes the file when it completes.
//
// Point a Drive client at it with [Server.Service], or with
// option.WithEndpoint(s.Endpoint()) and option.WithHTTPClient(c).
package drivetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/option"
)

// FolderMimeType is the MIME type of Drive folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// Options configures a Server. The zero value is a server that needs no authentication.
type Options struct {
	// RequireAuth makes every Drive API call require an access token issued by the server's
	// token endpoint (Authorization: Bearer), answering 401 otherwise.
	RequireAuth bool
	// ClientID and ClientSecret are the OAuth client the token endpoint accepts. They default to
	// "fake-client-id" and "fake-client-secret".
	ClientID, ClientSecret string
	// AccessTokenTTL is the lifetime of issued access tokens (default one hour).
	AccessTokenTTL time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token and revoke the old one.
	RotateRefreshTokens bool
	// SessionTTL is how long an unfinished resumable upload session is kept (default one week, as
	// on Drive). Expired sessions, and the bytes they hold, are dropped.
	SessionTTL time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
}

// Server is a fake Drive v3 API. It is safe for concurrent use. Create it with NewServer and stop
// it with Close.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	seq      int64
	lastTime time.Time
	files    map[string]*file
	rootID   string
	drives   map[string]string // shared drive ID → name
	sessions map[string]*session
	faults   []*Fault
	calls    map[string]int
	// generated holds the IDs files.generateIds handed out: a create or copy may name one.
	generated map[string]bool
	oauth     oauthState

	denyLinkSharing bool
}

// file is one stored item (file or folder).
type file struct {
	id, name, mimeType, description string
	parent                          string // "" for a root
	driveID                         string // shared drive, or "" for My Drive
	appProps, props                 map[string]string
	trashed                         bool
	inRoot                          bool // on the copy a query matches: the parent is My Drive's root ("root")
	created, modified               time.Time
	version                         int64
	seq                             int64
	data                            *content // nil for folders
	md5                             string
	perms                           []*drive.Permission
}

func (f *file) isFolder() bool { return f.mimeType == FolderMimeType }

// NewServer starts a fake Drive server on a loopback port.
func NewServer(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = "fake-client-id"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "fake-client-secret"
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 7 * 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &Server{
		opts:     opts,
		files:    map[string]*file{},
		drives:   map[string]string{},
		sessions: map[string]*session{},
		calls:    map[string]int{},
	}
	s.oauth.init()
	root := s.newFileLocked("My Drive", FolderMimeType, "", "")
	s.rootID = root.id
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Close shuts the server down and releases everything it stores.
func (s *Server) Close() {
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files, s.sessions = map[string]*file{}, map[string]*session{}
}

// URL is the server's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Endpoint is the Drive API endpoint to pass to option.WithEndpoint (it ends in "/drive/v3/").
func (s *Server) Endpoint() string { return s.srv.URL + "/drive/v3/" }

// Client returns an HTTP client for the server, without credentials.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// RootID is the ID of the "My Drive" root folder (also reachable as "root").
func (s *Server) RootID() string { return s.rootID }

// Service returns a Drive client for the server using hc (nil: an unauthenticated client, which
// works unless Options.RequireAuth is set).
func (s *Server) Service(ctx context.Context, hc *http.Client) (*drive.Service, error) {
	if hc == nil {
		hc = s.Client()
	}
	return drive.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.Endpoint()))
}

// AddSharedDrive creates a shared drive and returns its ID, which is also the ID of its root
// folder. Items in it are invisible to calls without supportsAllDrives=true.
func (s *Server) AddSharedDrive(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.newFileLocked(name, FolderMimeType, "", "")
	f.driveID = f.id
	s.drives[f.id] = name
	return f.id
}

// Calls reports how many requests of an operation the server has received, including those
// answered by an injected fault. Operations are "files.create", "files.get", "files.download",
// "files.list", "files.update", "files.delete", "files.copy", "files.generateIds", "permissions.create",
// "upload.multipart", "upload.media", "upload.start", "upload.chunk", "oauth.authorize" and
// "oauth.token".
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Sessions reports how many unfinished resumable upload sessions the server holds.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireSessionsLocked()
	n := 0
	for _, ss := range s.sessions {
		if ss.done == "" {
			n++
		}
	}
	return n
}

// Item is a snapshot of a stored file or folder, for assertions.
type Item struct {
	ID, Name, MimeType, Parent string
	Trashed                    bool
	Size                       int64
	MD5                        string
	AppProperties              map[string]string
	Permissions                int
}

// Items returns a snapshot of every stored item (roots and shared drives excluded), in creation order.
func (s *Server) Items() []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for _, f := range s.sortedLocked() {
		if f.parent == "" {
			continue
		}
		it := Item{ID: f.id, Name: f.name, MimeType: f.mimeType, Parent: f.parent, Trashed: f.trashed,
			MD5: f.md5, Permissions: len(f.perms), AppProperties: clone(f.appProps)}
		if f.data != nil {
			it.Size = f.data.size
		}
		out = append(out, it)
	}
	return out
}

// Content returns a copy of a stored file's bytes.
func (s *Server) Content(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok || f.data == nil {
		return nil, false
	}
	b := make([]byte, 0, f.data.size)
	for _, p := range f.data.pieces {
		b = append(b, p...)
	}
	return b, true
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// now returns a strictly increasing time, so creation order is total.
func (s *Server) nowLocked() time.Time {
	t := s.opts.Clock().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastTime) {
		t = s.lastTime.Add(time.Millisecond)
	}
	s.lastTime = t
	return t
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return string(b)
}

func (s *Server) newFileLocked(name, mimeType, parent, driveID string) *file {
	now := s.nowLocked()
	s.seq++
	f := &file{id: "1" + newID(32), name: name, mimeType: mimeType, parent: parent, driveID: driveID,
		created: now, modified: now, version: 1, seq: s.seq}
	s.files[f.id] = f
	return f
}

// serveHTTP routes a request after authentication and fault injection.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, h := s.route(r)
	if h == nil {
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	s.mu.Lock()
	s.calls[op]++
	fault := s.takeFaultLocked(op, r)
	s.mu.Unlock()
	if fault != nil && fault.LoseAnswer {
		// Served, then the connection breaks before the answer: the change is made, the client
		// never learns it.
		h(discardWriter{}, r)
		panic(http.ErrAbortHandler)
	}
	if fault != nil {
		fault.serve(s, w, r)
		return
	}
	if !strings.HasPrefix(op, "oauth.") && s.opts.RequireAuth && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeGoogleError(w, gError{Code: 401, Message: "Request had invalid authentication credentials.",
			Reason: "authError", Domain: "global", Status: "UNAUTHENTICATED"})
		return
	}
	h(w, r)
}

func (s *Server) route(r *http.Request) (string, http.HandlerFunc) {
	p := r.URL.Path
	q := r.URL.Query()
	switch {
	case p == "/o/oauth2/auth" && r.Method == http.MethodGet:
		return "oauth.authorize", s.handleAuthorize
	case p == "/token" && r.Method == http.MethodPost:
		return "oauth.token", s.handleToken
	case strings.HasPrefix(p, "/upload/drive/v3/files"):
		id := strings.TrimPrefix(strings.TrimPrefix(p, "/upload/drive/v3/files"), "/")
		if strings.Contains(id, "/") {
			return "", nil
		}
		if q.Get("upload_id") != "" {
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				return "upload.chunk", s.handleChunk
			}
			return "", nil
		}
		if (id == "" && r.Method != http.MethodPost) || (id != "" && r.Method != http.MethodPatch) {
			return "", nil
		}
		switch q.Get("uploadType") {
		case "multipart":
			return "upload.multipart", func(w http.ResponseWriter, r *http.Request) { s.handleMultipart(w, r, id) }
		case "resumable":
			return "upload.start", func(w http.ResponseWriter, r *http.Request) { s.handleStart(w, r, id) }
		case "media":
			return "upload.media", func(w http.ResponseWriter, r *http.Request) { s.handleMedia(w, r, id) }
		}
		return "upload.invalid", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid Value: uploadType")
		}
	case p == "/drive/v3/files":
		switch r.Method {
		case http.MethodGet:
			return "files.list", s.handleList
		case http.MethodPost:
			return "files.create", s.handleCreate
		}
	case p == "/drive/v3/files/generateIds" && r.Method == http.MethodGet:
		return "files.generateIds", s.handleGenerateIds
	case strings.HasPrefix(p, "/drive/v3/files/"):
		parts := strings.Split(strings.TrimPrefix(p, "/drive/v3/files/"), "/")
		id := parts[0]
		switch {
		case len(parts) == 1 && r.Method == http.MethodGet && q.Get("alt") == "media":
			return "files.download", func(w http.ResponseWriter, r *http.Request) { s.handleDownload(w, r, id) }
		case len(parts) == 1 && r.Method == http.MethodGet:
			return "files.get", func(w http.ResponseWriter, r *http.Request) { s.handleGet(w, r, id) }
		case len(parts) == 1 && r.Method == http.MethodPatch:
			return "files.update", func(w http.ResponseWriter, r *http.Request) { s.handleUpdate(w, r, id) }
		case len(parts) == 1 && r.Method == http.MethodDelete:
			return "files.delete", func(w http.ResponseWriter, r *http.Request) { s.handleDelete(w, r, id) }
		case len(parts) == 2 && parts[1] == "copy" && r.Method == http.MethodPost:
			return "files.copy", func(w http.ResponseWriter, r *http.Request) { s.handleCopy(w, r, id) }
		case len(parts) == 2 && parts[1] == "permissions" && r.Method == http.MethodPost:
			return "permissions.create", func(w http.ResponseWriter, r *http.Request) { s.handlePermission(w, r, id) }
		}
	}
	return "", nil
}

// gError is a Google API error, written in the JSON shape googleapi.CheckResponse parses.
type gError struct {
	Code                    int
	Message, Reason, Domain string
	Status                  string
	Location                string
}

func writeGoogleError(w http.ResponseWriter, e gError) {
	item := map[string]any{"domain": e.Domain, "reason": e.Reason, "message": e.Message}
	if e.Location != "" {
		item["location"] = e.Location
		item["locationType"] = "parameter"
	}
	body := map[string]any{"error": map[string]any{
		"code": e.Code, "message": e.Message, "errors": []any{item}, "status": e.Status,
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, code int, reason, message string) {
	status := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
		404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 416: "OUT_OF_RANGE",
		429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[code]
	writeGoogleError(w, gError{Code: code, Message: message, Reason: reason, Domain: "global", Status: status})
}

func notFound(w http.ResponseWriter, id string) {
	writeGoogleError(w, gError{Code: 404, Message: fmt.Sprintf("File not found: %s.", id), Reason: "notFound",
		Domain: "global", Status: "NOT_FOUND", Location: "fileId"})
}

func writeJSON(w http.ResponseWriter, status int, v any, fields string) {
	var mask fieldMask
	if fields != "" {
		var err error
		if mask, err = parseFields(fields); err != nil {
			writeGoogleError(w, gError{Code: 400, Message: "Invalid field selection " + truncate(fields, 40),
				Reason: "invalidParameter", Domain: "global", Status: "INVALID_ARGUMENT", Location: "fields"})
			return
		}
	}
	b, err := filterJSON(v, mask)
	if err != nil {
		writeError(w, 500, "internalError", "Internal Error")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// NewTestServer starts a Server that tb closes at the end of the test, and returns it with a
// Drive client for it (unauthenticated; with Options.RequireAuth, build your own from an
// OAuth token).
func NewTestServer(tb testing.TB, opts Options) (*Server, *drive.Service) {
	tb.Helper()
	s := NewServer(opts)
	tb.Cleanup(s.Close)
	svc, err := s.Service(context.Background(), nil)
	if err != nil {
		tb.Fatalf("drivetest: %v", err)
	}
	return s, svc
}
