// Package gcstest is an in-process fake of the parts of the Cloud Storage JSON API a resumable
// upload uses, faithful where fake-gcs-server (v1.56.1) is not: starting a session, chunks
// stored at their offset (bytes the session already holds are ignored, non-final chunks are
// persisted in multiples of 256 KiB), the status query (an empty PUT with "Content-Range:
// bytes */SIZE": 308 with the Range held, no Range when nothing is), DELETE of a session (499,
// the session is gone: later requests get 404), and objects.get / objects.patch (metadata) /
// objects.delete to read back what was written. It does not authenticate. Faults make a chunk persist less than it carried
// or lose its answer, as a broken connection does.
package gcstest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// granularity is what non-final chunks are persisted in multiples of.
const granularity = 256 << 10

// Fault changes how a chunk (a PUT with a body to a session) is served.
type Fault struct {
	// Skip lets this many chunks through before the fault applies (once).
	Skip int
	// KeepBytes stores at most this many bytes of the chunk (the session's total rounded down
	// to 256 KiB) and answers 308 with what is held, as GCS may.
	KeepBytes int64
	// LoseAnswer stores the chunk, then breaks the connection instead of answering.
	LoseAnswer bool

	seen int
}

// Server is the fake. Create it with NewServer; Close it when done.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	sessions map[string]*session
	objects  map[string]*object // bucket + "/" + name
	faults   []*Fault
	queries  int
	received int64 // chunk body bytes received
	gen      int64
}

type session struct {
	bucket, name string
	meta         map[string]any
	data         []byte
}

type object struct {
	bucket, name string
	meta         map[string]any
	data         []byte
	gen          int64
}

// NewServer starts the fake on loopback.
func NewServer() *Server {
	s := &Server{sessions: map[string]*session{}, objects: map[string]*object{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint to give Config.Endpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// InjectFault adds a fault; faults apply in the order they were added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Sessions returns how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Queries returns how many status queries were answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Received returns how many chunk body bytes the server received.
func (s *Server) Received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Content returns the bytes of an object.
func (s *Server) Content(bucket, name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+name]
	if !ok {
		return nil, false
	}
	return o.data, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/upload/storage/v1/b/"):
		rest := strings.TrimPrefix(p, "/upload/storage/v1/b/")
		bucket, ok := strings.CutSuffix(rest, "/o")
		if !ok || r.URL.Query().Get("uploadType") != "resumable" {
			gerror(w, http.StatusBadRequest, "invalid", "only resumable uploads are served")
			return
		}
		id := r.URL.Query().Get("upload_id")
		switch {
		case r.Method == http.MethodPost && id == "":
			s.start(w, r, bucket)
		case r.Method == http.MethodPut && id != "":
			s.chunk(w, r, id)
		case r.Method == http.MethodDelete && id != "":
			s.mu.Lock()
			_, ok := s.sessions[id]
			delete(s.sessions, id)
			s.mu.Unlock()
			if !ok {
				gerror(w, http.StatusNotFound, "notFound", "No such upload")
				return
			}
			w.WriteHeader(499)
		default:
			gerror(w, http.StatusBadRequest, "invalid", "unsupported request")
		}
	case strings.HasPrefix(p, "/storage/v1/b/"):
		rest := strings.TrimPrefix(r.URL.EscapedPath(), "/storage/v1/b/")
		bucket, name, ok := strings.Cut(rest, "/o/")
		bucket, _ = url.PathUnescape(bucket)
		name, _ = url.PathUnescape(name)
		if !ok {
			gerror(w, http.StatusNotFound, "notFound", "Not Found")
			return
		}
		s.mu.Lock()
		o, found := s.objects[bucket+"/"+name]
		if found && r.Method == http.MethodDelete {
			delete(s.objects, bucket+"/"+name)
		}
		s.mu.Unlock()
		switch {
		case !found:
			gerror(w, http.StatusNotFound, "notFound", "No such object: "+bucket+"/"+name)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet:
			writeObject(w, http.StatusOK, o)
		case r.Method == http.MethodPatch:
			s.patch(w, r, o)
		default:
			gerror(w, http.StatusBadRequest, "invalid", "unsupported request")
		}
	default:
		gerror(w, http.StatusNotFound, "notFound", "Not Found")
	}
}

// patch merges the request's metadata into o's (objects.patch), under ifGenerationMatch.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, o *object) {
	var in struct {
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		gerror(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := r.URL.Query().Get("ifGenerationMatch"); g != "" && g != strconv.FormatInt(o.gen, 10) {
		gerror(w, http.StatusPreconditionFailed, "conditionNotMet", "Precondition Failed")
		return
	}
	meta := map[string]any{}
	for k, v := range o.meta {
		meta[k] = v
	}
	md, _ := meta["metadata"].(map[string]any)
	merged := map[string]any{}
	for k, v := range md {
		merged[k] = v
	}
	for k, v := range in.Metadata {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	meta["metadata"] = merged
	o.meta = meta
	writeObject(w, http.StatusOK, o)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, bucket string) {
	meta := map[string]any{}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&meta); err != nil && err != io.EOF {
		gerror(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name, _ = meta["name"].(string)
	}
	if name == "" {
		gerror(w, http.StatusBadRequest, "required", "Required")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.sessions[id] = &session{bucket: bucket, name: name, meta: meta}
	s.mu.Unlock()
	q := url.Values{"uploadType": {"resumable"}, "name": {name}, "upload_id": {id}}
	w.Header().Set("Location", "http://"+r.Host+"/upload/storage/v1/b/"+url.PathEscape(bucket)+"/o?"+q.Encode())
	w.WriteHeader(http.StatusOK)
}

// contentRange parses "bytes a-b/T", "bytes a-b/*" and "bytes */T" (a = -1 for "*").
func contentRange(v string) (a, b, total int64, ok bool) {
	rng, tot, found := strings.Cut(strings.TrimPrefix(v, "bytes "), "/")
	if !found || !strings.HasPrefix(v, "bytes ") {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 {
			return 0, 0, 0, false
		}
		total = t
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	as, bs, found := strings.Cut(rng, "-")
	a, err1 := strconv.ParseInt(as, 10, 64)
	b, err2 := strconv.ParseInt(bs, 10, 64)
	if !found || err1 != nil || err2 != nil || a < 0 || b < a {
		return 0, 0, 0, false
	}
	return a, b, total, true
}

func (s *Server) chunk(w http.ResponseWriter, r *http.Request, id string) {
	a, b, total, ok := contentRange(r.Header.Get("Content-Range"))
	if !ok {
		gerror(w, http.StatusBadRequest, "invalid", "Invalid Content-Range")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the connection broke: nothing of it is stored
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, found := s.sessions[id]
	if !found {
		if o, done := s.objects[s.doneKey(id)]; done {
			writeObject(w, http.StatusOK, o)
			return
		}
		gerror(w, http.StatusNotFound, "notFound", "No such upload")
		return
	}
	held := int64(len(ss.data))
	if a < 0 { // a status query
		s.queries++
		if total >= 0 && held == total {
			s.finishLocked(w, id, ss)
			return
		}
		s.incomplete(w, r, held)
		return
	}
	s.received += int64(len(body))
	if int64(len(body)) != b-a+1 {
		gerror(w, http.StatusBadRequest, "invalid", "the body does not match Content-Range")
		return
	}
	var fault *Fault
	for _, f := range s.faults {
		if f.seen++; f.seen == f.Skip+1 && fault == nil {
			fault = f
		}
	}
	if a <= held && b+1 > held { // bytes it holds are ignored
		add := body[held-a:]
		final := total >= 0 && b+1 == total
		if fault != nil && fault.KeepBytes > 0 {
			add = add[:min(int64(len(add)), fault.KeepBytes)]
			final = false
		}
		if !final {
			keep := (held+int64(len(add)))/granularity*granularity - held
			add = add[:max(0, keep)]
		}
		ss.data = append(ss.data, add...)
	}
	if fault != nil && fault.LoseAnswer {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if total >= 0 && int64(len(ss.data)) == total {
					s.finishLocked(discard{}, id, ss)
				}
				conn.Close()
				return
			}
		}
	}
	if total >= 0 && int64(len(ss.data)) == total {
		s.finishLocked(w, id, ss)
		return
	}
	s.incomplete(w, r, int64(len(ss.data)))
}

func (s *Server) doneKey(id string) string { return "\x00done/" + id }

// incomplete answers 308 (or 200 with X-Http-Status-Code-Override when the client asked) with
// the Range held.
func (s *Server) incomplete(w http.ResponseWriter, r *http.Request, held int64) {
	if held > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", held-1))
	}
	if r.Header.Get("X-GUploader-No-308") == "yes" {
		w.Header().Set("X-Http-Status-Code-Override", "308")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusPermanentRedirect)
}

func (s *Server) finishLocked(w http.ResponseWriter, id string, ss *session) {
	s.gen++
	o := &object{bucket: ss.bucket, name: ss.name, meta: ss.meta, data: ss.data, gen: s.gen}
	s.objects[ss.bucket+"/"+ss.name] = o
	s.objects[s.doneKey(id)] = o
	delete(s.sessions, id)
	writeObject(w, http.StatusOK, o)
}

func writeObject(w http.ResponseWriter, status int, o *object) {
	out := map[string]any{}
	for k, v := range o.meta {
		out[k] = v
	}
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.Checksum(o.data, crc32.MakeTable(crc32.Castagnoli)))
	m := md5.Sum(o.data)
	out["kind"], out["bucket"], out["name"] = "storage#object", o.bucket, o.name
	out["size"], out["generation"], out["metageneration"] = strconv.Itoa(len(o.data)), strconv.FormatInt(o.gen, 10), "1"
	out["crc32c"], out["md5Hash"] = base64.StdEncoding.EncodeToString(c[:]), base64.StdEncoding.EncodeToString(m[:])
	out["id"] = o.bucket + "/" + o.name + "/" + strconv.FormatInt(o.gen, 10)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func gerror(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"errors": []map[string]string{{"domain": "global", "reason": reason, "message": msg}}}})
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
