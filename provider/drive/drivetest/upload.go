package drivetest

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// chunkGranularity is the size every non-final resumable chunk must be a multiple of.
const chunkGranularity = 256 << 10

// session is a resumable upload in progress.
type session struct {
	id          string
	fileID      string // the file being updated; "" for a create
	meta        *metadata
	contentType string
	expires     time.Time

	mu    sync.Mutex // guards the fields below; held while a chunk is received
	total int64      // declared total size, or -1
	data  content
	done  string // ID of the finished file
}

func (s *Server) expireSessionsLocked() {
	now := s.opts.Clock()
	for id, ss := range s.sessions {
		if now.After(ss.expires) {
			delete(s.sessions, id)
		}
	}
}

// sortedLocked returns every item in creation order.
func (s *Server) sortedLocked() []*file {
	out := make([]*file, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// handleStart opens a resumable session (POST …/files or PATCH …/files/{id}?uploadType=resumable).
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, id string) {
	m, err := decodeMetadata(r.Body)
	if err != nil {
		writeError(w, 400, "parseError", err.Error())
		return
	}
	total := int64(-1)
	if v := r.Header.Get("X-Upload-Content-Length"); v != "" {
		if total, err = strconv.ParseInt(v, 10, 64); err != nil || total < 0 {
			writeError(w, 400, "invalid", "Invalid X-Upload-Content-Length")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireSessionsLocked()
	if id != "" {
		f, ok := s.lookupLocked(id, r)
		if !ok {
			notFound(w, id)
			return
		}
		id = f.id
	} else if _, ok := s.newItemLocked(w, r, m, "application/octet-stream"); !ok {
		return
	}
	ss := &session{id: newID(40), fileID: id, meta: m, contentType: r.Header.Get("X-Upload-Content-Type"),
		total: total, expires: s.opts.Clock().Add(s.opts.SessionTTL)}
	s.sessions[ss.id] = ss
	q := r.URL.Query()
	q.Set("upload_id", ss.id)
	// On the host the client called, as Google does (a proxy in front of the fake stays in the path).
	base := s.srv.URL
	if r.Host != "" {
		base = strings.SplitN(s.srv.URL, "://", 2)[0] + "://" + r.Host
	}
	w.Header().Set("Location", base+r.URL.Path+"?"+q.Encode())
	w.Header().Set("X-GUploader-UploadID", ss.id)
	w.WriteHeader(http.StatusOK)
}

// contentRange is a parsed resumable-chunk Content-Range header.
type contentRange struct {
	first, last int64 // the bytes in the body, when hasBytes
	total       int64 // -1 when "*"
	hasBytes    bool
}

// parseContentRange parses "bytes a-b/T", "bytes a-b/*", "bytes */T" and "bytes */*".
func parseContentRange(h string) (contentRange, error) {
	cr := contentRange{total: -1}
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return cr, fmt.Errorf("invalid Content-Range")
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return cr, fmt.Errorf("invalid Content-Range")
	}
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 || tot[0] == '+' {
			return cr, fmt.Errorf("invalid Content-Range total")
		}
		cr.total = t
	}
	if rng == "*" {
		return cr, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || first < 0 || last < first || a[0] == '+' || b[0] == '+' {
		return cr, fmt.Errorf("invalid Content-Range range")
	}
	if cr.total >= 0 && last >= cr.total {
		return cr, fmt.Errorf("Content-Range beyond the total size")
	}
	cr.first, cr.last, cr.hasBytes = first, last, true
	return cr, nil
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireSessionsLocked()
	ss := s.sessions[r.URL.Query().Get("upload_id")]
	if ss == nil {
		writeError(w, 404, "notFound", "Upload session not found or expired.")
	}
	return ss
}

// handleChunk receives bytes for (or queries, or finishes) a resumable session.
func (s *Server) handleChunk(w http.ResponseWriter, r *http.Request) {
	ss := s.session(w, r)
	if ss == nil {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done != "" {
		_, _ = io.Copy(io.Discard, r.Body)
		s.writeFinished(w, r, ss.done)
		return
	}
	var cr contentRange
	if h := r.Header.Get("Content-Range"); h != "" {
		var err error
		if cr, err = parseContentRange(h); err != nil {
			writeError(w, 400, "badContent", err.Error())
			return
		}
	} else if r.ContentLength > 0 { // the whole upload in one request
		cr = contentRange{first: 0, last: r.ContentLength - 1, total: r.ContentLength, hasBytes: true}
	} else if r.ContentLength == 0 {
		cr = contentRange{total: 0}
	} else {
		writeError(w, 400, "badContent", "Content-Range or Content-Length is required.")
		return
	}
	if cr.total >= 0 && ss.total >= 0 && cr.total != ss.total {
		writeError(w, 400, "badContent", "The total size does not match the size declared earlier.")
		return
	}
	if cr.hasBytes {
		n := cr.last - cr.first + 1
		switch {
		case r.ContentLength >= 0 && r.ContentLength != n:
			writeError(w, 400, "badContent", "Content-Length does not match Content-Range.")
			return
		case cr.first > ss.data.size:
			writeError(w, 400, "badContent", fmt.Sprintf("Invalid request: the upload offset is %d but only %d bytes were received.", cr.first, ss.data.size))
			return
		case (cr.total < 0 || cr.last+1 < cr.total) && n%chunkGranularity != 0:
			writeError(w, 400, "badContent", "Every chunk but the last must be a multiple of 256 KiB.")
			return
		}
		ss.data.truncate(cr.first) // a re-sent chunk overwrites
		if _, err := ss.data.readFrom(r.Body, n); err != nil {
			return // the connection broke; keep what arrived
		}
	} else if r.ContentLength > 0 {
		writeError(w, 400, "badContent", "A status request must have an empty body.")
		return
	}
	if cr.total >= 0 {
		ss.total = cr.total
	}
	if ss.total >= 0 && ss.data.size > ss.total {
		writeError(w, 400, "badContent", "More bytes were received than the declared total.")
		return
	}
	if ss.total < 0 || ss.data.size < ss.total {
		if ss.data.size > 0 {
			w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", ss.data.size-1))
		}
		if strings.EqualFold(r.Header.Get("X-GUploader-No-308"), "yes") {
			w.Header().Set("X-HTTP-Status-Code-Override", "308")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusPermanentRedirect)
		return
	}
	data := ss.data
	ss.data = content{}
	id, ok := s.commit(w, r, ss.fileID, ss.meta, ss.contentType, &data)
	if !ok {
		return
	}
	ss.done = id
	s.writeFinished(w, r, id)
}

// keepPartialChunk stores up to keep bytes of a chunk request, as a broken connection would.
func (s *Server) keepPartialChunk(r *http.Request, keep int64) {
	defer func() { _, _ = io.Copy(io.Discard, r.Body) }()
	s.mu.Lock()
	ss := s.sessions[r.URL.Query().Get("upload_id")]
	s.mu.Unlock()
	cr, err := parseContentRange(r.Header.Get("Content-Range"))
	if ss == nil || err != nil || !cr.hasBytes {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done != "" || cr.first > ss.data.size {
		return
	}
	keep = min(keep, cr.last-cr.first+1)
	keep -= keep % chunkGranularity
	ss.data.truncate(cr.first)
	_, _ = ss.data.readFrom(r.Body, keep)
}

func (s *Server) writeFinished(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, 200, s.apiFileLocked(f), fieldsOr(r, defaultFileFields))
}

// commit creates (fileID == "") or updates a file with finished content and returns its ID.
func (s *Server) commit(w http.ResponseWriter, r *http.Request, fileID string, m *metadata, contentType string, data *content) (string, bool) {
	md5 := data.md5Hex()
	s.mu.Lock()
	defer s.mu.Unlock()
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if fileID == "" {
		f, ok := s.newItemLocked(w, r, m, contentType)
		if !ok {
			return "", false
		}
		f.data = data
		s.storeLocked(f)
		return f.id, true
	}
	f, ok := s.lookupLocked(fileID, r)
	if !ok {
		notFound(w, fileID)
		return "", false
	}
	if f.isFolder() {
		writeError(w, 403, "fileNotDownloadable", "A folder has no content.")
		return "", false
	}
	if m.MimeType == nil && contentType != "application/octet-stream" {
		m.MimeType = &contentType
	}
	if !s.patchLocked(w, r, f, m) {
		return "", false
	}
	f.data, f.md5 = data, md5
	return f.id, true
}

// handleMultipart creates or updates a file from a multipart/related body (metadata + media).
func (s *Server) handleMultipart(w http.ResponseWriter, r *http.Request, id string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		writeError(w, 400, "badContent", "Multipart upload needs Content-Type multipart/related with a boundary.")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		writeError(w, 400, "badContent", "Missing metadata part.")
		return
	}
	m, err := decodeMetadata(part)
	if err != nil {
		writeError(w, 400, "parseError", err.Error())
		return
	}
	part, err = mr.NextPart()
	if err != nil {
		writeError(w, 400, "badContent", "Missing media part.")
		return
	}
	var data content
	if _, err := data.readFrom(part, -1); err != nil {
		writeError(w, 400, "badContent", "Malformed media part.")
		return
	}
	if id, ok := s.commit(w, r, id, m, part.Header.Get("Content-Type"), &data); ok {
		s.writeFinished(w, r, id)
	}
}

// handleMedia creates or updates a file from a bare body (uploadType=media).
func (s *Server) handleMedia(w http.ResponseWriter, r *http.Request, id string) {
	var data content
	if _, err := data.readFrom(r.Body, -1); err != nil {
		return
	}
	if id, ok := s.commit(w, r, id, &metadata{}, r.Header.Get("Content-Type"), &data); ok {
		s.writeFinished(w, r, id)
	}
}
