package drive

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"gocloud.dev/blob/driver"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

var errInvalidKey = errors.New("drive: the empty key is not valid")

// NewTypedWriter implements driver.Bucket. Nothing is visible in Drive until Close succeeds: a
// blob up to ChunkSize is sent in one multipart request at Close; a larger one goes through a
// resumable session, one chunk at a time, and the file appears when the last chunk is accepted.
// Cancelling ctx abandons the session (Drive drops it) and leaves any existing file unchanged.
//
// Every write creates a new file under an ID reserved with files.generateIds, so a create
// retried after a lost answer never makes a duplicate. An overwrite is all or nothing: the new
// file is created beside the old one (readers keep getting the old one, the oldest of the name)
// and checked against the MD5 of the bytes sent; only then is the old one removed. On any
// failure the new file is deleted and the old one is left as it was.
func (b *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	if key == "" {
		return nil, errInvalidKey
	}
	props, err := encodeAttrs(storedAttrs{Metadata: opts.Metadata, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage})
	if err != nil {
		return nil, err
	}
	_, name := splitKey(key)
	w := &writer{ctx: ctx, b: b, key: key, ifNotExist: opts.IfNotExist, md5: md5.New(),
		meta: &drive.File{Name: escapeName(name), MimeType: contentType, AppProperties: props}}
	if opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(fileAs(w.meta)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// smallBuffer is the first buffer a writer takes; it grows to ChunkSize only for larger blobs.
const smallBuffer = 64 << 10

// writer buffers one chunk at a time.
type writer struct {
	ctx        context.Context
	b          *bucket
	key        string
	meta       *drive.File
	ifNotExist bool

	buf     []byte
	up      *session    // the resumable session, once started; the server holds all bytes before buf
	fileID  string      // the reserved ID of the file being created
	replace *drive.File // the existing file the write replaces, removed once the new one is checked
	md5     hash.Hash
	result  *drive.File
	err     error
}

// Write implements io.Writer.
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	chunk := w.b.opts.ChunkSize
	n := 0
	for len(p) > 0 {
		if len(w.buf) == chunk {
			if err := w.flush(); err != nil {
				w.err = err
				return n, err
			}
		}
		take := min(chunk-len(w.buf), len(p))
		if need := len(w.buf) + take; need > cap(w.buf) {
			w.grow(need)
		}
		w.buf = append(w.buf, p[:take]...)
		n += take
		p = p[take:]
	}
	return n, nil
}

// Upload implements driver.Uploader: it reads r straight into the chunk buffer, saving the
// portable layer's copy. The portable layer calls Close afterwards.
func (w *writer) Upload(r io.Reader) error {
	if w.err != nil {
		return w.err
	}
	chunk := w.b.opts.ChunkSize
	for {
		if len(w.buf) == chunk {
			if err := w.flush(); err != nil {
				w.err = err
				return err
			}
		}
		if len(w.buf) == cap(w.buf) {
			w.grow(len(w.buf) + 1)
		}
		n, err := io.ReadFull(r, w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			w.err = err
			return err
		}
	}
}

// grow replaces the buffer by one that holds need bytes: small for small blobs, else the one
// chunk buffer the upload will use throughout.
func (w *writer) grow(need int) {
	size := w.b.opts.ChunkSize
	if need <= smallBuffer {
		size = min(size, smallBuffer)
	}
	nb := make([]byte, len(w.buf), size)
	copy(nb, w.buf)
	w.buf = nb
}

// Close finishes the upload.
func (w *writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	var err error
	if w.up == nil {
		w.md5.Write(w.buf)
		err = w.uploadOnce()
	} else {
		err = w.sendChunk(true)
	}
	w.buf = nil
	if err != nil {
		return err
	}
	if sum := hex.EncodeToString(w.md5.Sum(nil)); w.result.Md5Checksum != "" && w.result.Md5Checksum != sum {
		w.b.discard(w.ctx, w.result.Id) // the new file only: an old one is untouched
		return ErrChecksum
	}
	if w.replace != nil {
		if err := w.b.remove(w.ctx, w.replace.Id); err != nil {
			// Keep the old file rather than two: the write did not happen.
			w.b.discard(w.ctx, w.result.Id)
			return err
		}
	}
	return nil
}

// prepare finds (creating) the folder and the file the upload replaces, and builds the metadata.
func (w *writer) prepare() ([]byte, error) {
	meta, c, err := w.b.prepareCreate(w.ctx, w.key, w.meta, w.ifNotExist)
	if err != nil {
		return nil, err
	}
	w.fileID, w.replace = c.fileID, c.replace
	return meta, nil
}

// created is what prepareCreate found and reserved for a new file.
type created struct {
	fileID  string      // the reserved ID of the new file
	parent  string      // its folder
	replace *drive.File // the oldest file of the key, which the new one replaces; nil if none
}

// prepareCreate finds (creating) the folder of key and the file of key the upload replaces
// (ErrExists with ifNotExist), reserves the new file's ID and returns the metadata JSON of the
// create: meta with that ID and parent.
func (b *bucket) prepareCreate(ctx context.Context, key string, meta *drive.File, ifNotExist bool) ([]byte, created, error) {
	var c created
	dir, name := splitKey(key)
	parent, err := b.folder(ctx, dir, true)
	if err != nil {
		return nil, c, err
	}
	old, err := b.findChild(ctx, parent, name, false, "id")
	switch {
	case err == nil && ifNotExist:
		return nil, c, ErrExists
	case err == nil:
		c.replace = old
	case !errors.Is(err, ErrNotFound):
		return nil, c, err
	}
	if c.fileID, err = b.newFileID(ctx); err != nil {
		return nil, c, err
	}
	c.parent = parent
	m := *meta
	m.Id, m.Parents = c.fileID, []string{parent}
	body, err := json.Marshal(&m)
	return body, c, err
}

// createURL returns the upload endpoint of a create.
func (b *bucket) createURL(uploadType string) (method, u string) {
	q := url.Values{"uploadType": {uploadType}, "supportsAllDrives": {"true"}, "fields": {fileFields},
		"alt": {"json"}, "prettyPrint": {"false"}}
	return http.MethodPost, b.uploadURL + "?" + q.Encode()
}

func (w *writer) contentType() string { return mediaType(w.meta) }

// mediaType is the type of the content of a file created with meta.
func mediaType(meta *drive.File) string {
	if meta.MimeType != "" {
		return meta.MimeType
	}
	return "application/octet-stream"
}

// uploadOnce sends a blob that fits in one chunk as a multipart request.
func (w *writer) uploadOnce() error {
	meta, err := w.prepare()
	if err != nil {
		return err
	}
	method, u := w.b.createURL("multipart")
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	head := "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + string(meta) +
		"\r\n--" + boundary + "\r\nContent-Type: " + w.contentType() + "\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	// Every attempt sends these bytes: a retry must never send less.
	payload := w.buf
	return w.b.pacer.call(w.ctx, func() error {
		bodies := &bodyTracker{parts: [][]byte{[]byte(head), payload, []byte(tail)}}
		req, err := http.NewRequestWithContext(w.ctx, method, u, nil)
		if err != nil {
			return err
		}
		bodies.attach(req)
		req.Header.Set("Content-Type", "multipart/related; boundary="+boundary)
		f, err := w.b.do(req)
		w.release(bodies)
		if err != nil {
			var ok bool
			if f, ok = w.b.createdEarlier(w.ctx, w.fileID, err); !ok {
				return err
			}
		}
		w.result = f
		return nil
	})
}

// do sends req and decodes a File from a 2xx answer.
func (b *bucket) do(req *http.Request) (*drive.File, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := googleapi.CheckResponse(resp); err != nil {
		return nil, err
	}
	var f drive.File
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return nil, fmt.Errorf("drive: decoding upload response: %w", err)
	}
	return &f, nil
}

// flush sends the full buffer as an intermediate chunk, opening the session first.
func (w *writer) flush() error {
	if w.up == nil {
		meta, err := w.prepare()
		if err != nil {
			return err
		}
		if w.up, err = w.b.startSession(w.ctx, meta, w.contentType(), -1); err != nil {
			return err
		}
	}
	if err := w.sendChunk(false); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// sendChunk sends the buffer as a chunk while hashing it: the MD5 runs alongside the network
// transfer instead of before it.
func (w *writer) sendChunk(final bool) error {
	data := w.buf // these bytes stay the chunk's
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		w.md5.Write(data)
	}()
	err := w.up.putChunk(w.ctx, bufChunk{w: w, data: data}, w.up.sent, final)
	<-hashed
	if err == nil && final {
		w.result = w.up.result
	}
	return err
}

// bufChunk is a chunk of the writer's buffer.
type bufChunk struct {
	w    *writer
	data []byte
}

func (c bufChunk) size() int64 { return int64(len(c.data)) }

func (c bufChunk) attach(req *http.Request, off int64) (func(), error) {
	bodies := &bodyTracker{parts: [][]byte{c.data[off:]}}
	bodies.attach(req)
	return func() { c.w.release(bodies) }, nil
}

// chunk is the bytes of one resumable chunk.
type chunk interface {
	size() int64
	// attach sets req's body (Body, GetBody, ContentLength) to the chunk's bytes from off on
	// (off < size); done is called once the request was answered.
	attach(req *http.Request, off int64) (done func(), err error)
}

// session is a resumable upload session.
type session struct {
	b      *bucket
	uri    string
	total  int64       // the declared size, or -1
	sent   int64       // bytes the server holds
	result *drive.File // the file, once the upload completed
}

// startSession opens a resumable upload session of a create with the metadata JSON meta, for
// content of type contentType and size bytes (-1: unknown until the last chunk).
func (b *bucket) startSession(ctx context.Context, meta []byte, contentType string, size int64) (*session, error) {
	method, u := b.createURL("resumable")
	s := &session{b: b, total: size}
	err := b.pacer.call(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(meta))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("X-Upload-Content-Type", contentType)
		if size >= 0 {
			req.Header.Set("X-Upload-Content-Length", strconv.FormatInt(size, 10))
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := googleapi.CheckResponse(resp); err != nil {
			return err
		}
		loc := resp.Header.Get("Location")
		if loc == "" {
			return errors.New("drive: resumable upload started without a session URI")
		}
		s.uri = loc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// query asks the server how many bytes it holds (s.sent), or for the file if the upload is
// complete (s.result), retrying as the retry policy says. A session Drive forgot is
// ErrSessionLost.
func (s *session) query(ctx context.Context) error {
	return s.b.pacer.call(ctx, func() error {
		f, held, err := s.send(ctx, nil, 0, -1, s.total)
		if err == nil {
			s.result, s.sent = f, held
		}
		return err
	})
}

// putChunk sends c, which starts at offset start of the upload, to the session, from the first
// byte the server lacks (s.sent, at least start). With final set, it is the last chunk and the
// upload completes (s.result). After a failure it asks the server how much it holds and resends
// from there, backing off as the retry policy says.
func (s *session) putChunk(ctx context.Context, c chunk, start int64, final bool) error {
	size := c.size()
	total := s.total
	if final {
		total = start + size
	}
	if s.sent < start || s.sent > start+size {
		return fmt.Errorf("%w: server holds %d bytes, chunk at %d", ErrSessionLost, s.sent, start)
	}
	// from returns where in c to send from when the server holds held bytes: there, or for a
	// chunk that is not the last, the 256 KiB boundary below (only the last request of an
	// upload may have another length; Drive keeps whole 256 KiB units, a broken request may
	// leave more).
	from := func(held int64) int64 {
		off := held - start
		if !final && off < size {
			off -= off % minChunk
		}
		return off
	}
	off := from(s.sent) // bytes of c the server holds
	failures := 0
	for {
		if err := s.b.pacer.wait(ctx); err != nil {
			return err
		}
		f, held, err := s.send(ctx, c, off, start+off, total)
		if err == nil {
			if f != nil {
				s.result, s.sent = f, start+size
				return nil
			}
			if held < start+off || held > start+size {
				return fmt.Errorf("%w: server holds %d bytes, %d expected", ErrSessionLost, held, start+off)
			}
			off, s.sent = from(held), held
			if off == size && !final {
				return nil
			}
			continue // part of the chunk was kept: send the rest
		}
		err = classify(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		if failures++; failures >= s.b.pacer.policy.MaxAttempts {
			return err
		}
		wait, ok := s.b.pacer.backoff(failures-1, err)
		if !ok {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		// Ask where to resume: the failed request may have delivered some or all bytes.
		f, held, serr := s.send(ctx, nil, 0, -1, total)
		switch {
		case serr != nil && !retryable(classify(serr)):
			return classify(serr)
		case serr != nil:
			// try the chunk again as it was
		case f != nil:
			s.result, s.sent = f, start+size
			return nil
		case held < start || held > start+size:
			return fmt.Errorf("%w: server holds %d bytes, %d expected", ErrSessionLost, held, start+off)
		default:
			off, s.sent = from(held), held
		}
	}
}

// send puts the bytes of c from off on at offset of the upload (c nil, or off = its size: an
// empty request; offset < 0: a status query). It returns the finished file, or how many bytes
// the server holds.
func (s *session) send(ctx context.Context, c chunk, off, offset, total int64) (*drive.File, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.uri, nil)
	if err != nil {
		return nil, 0, err
	}
	tot := "*"
	if total >= 0 {
		tot = strconv.FormatInt(total, 10)
	}
	if offset < 0 || c == nil || off >= c.size() {
		req.Header.Set("Content-Range", "bytes */"+tot)
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		done, err := c.attach(req, off)
		if err != nil {
			return nil, 0, err
		}
		defer done()
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", offset, offset+c.size()-off-1, tot))
	}
	resp, err := s.b.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusPermanentRedirect || resp.Header.Get("X-Http-Status-Code-Override") == "308" {
		_, _ = io.Copy(io.Discard, resp.Body)
		held := int64(0)
		if r := resp.Header.Get("Range"); r != "" {
			_, last, ok := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
			n, perr := strconv.ParseInt(last, 10, 64)
			if !ok || perr != nil {
				return nil, 0, fmt.Errorf("drive: malformed Range %q in upload status", r)
			}
			held = n + 1
		}
		return nil, held, nil
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		_ = googleapi.CheckResponse(resp)
		return nil, 0, ErrSessionLost
	}
	if err := googleapi.CheckResponse(resp); err != nil {
		return nil, 0, err
	}
	var f drive.File
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return nil, 0, fmt.Errorf("drive: decoding upload response: %w", err)
	}
	return &f, 0, nil
}

// bodyTracker gives a request bodies over the writer's chunk buffer (or a part of the file) and
// closes them all once the request was answered (closeAll). net/http may go on reading a request
// body after Do returns (a server that answers 401 before reading it, a transport that retries
// with GetBody), and does not always close it: the buffer may only be refilled once no body
// handed out can read it, which closing them ensures (a closed body reads no more).
type bodyTracker struct {
	parts [][]byte

	mu   sync.Mutex
	open []*trackedBody
}

// attach sets req's Body, GetBody and ContentLength to tracked readers over the parts.
func (t *bodyTracker) attach(req *http.Request) {
	var n int64
	for _, p := range t.parts {
		n += int64(len(p))
	}
	req.ContentLength = n
	if n == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	req.Body = t.body()
	req.GetBody = func() (io.ReadCloser, error) { return t.body(), nil }
}

func (t *bodyTracker) body() io.ReadCloser {
	readers := make([]io.Reader, len(t.parts))
	for i, p := range t.parts {
		readers[i] = bytes.NewReader(p)
	}
	return t.track(io.MultiReader(readers...))
}

// track returns a body reading r, closed by closeAll.
func (t *bodyTracker) track(r io.Reader) *trackedBody {
	b := &trackedBody{r: r}
	t.mu.Lock()
	t.open = append(t.open, b)
	t.mu.Unlock()
	return b
}

// closeAll closes every body handed out, waiting for a Read in progress.
func (t *bodyTracker) closeAll() {
	t.mu.Lock()
	open := t.open
	t.open = nil
	t.mu.Unlock()
	for _, b := range open {
		_ = b.Close()
	}
}

// trackedBody is a request body that stops reading the buffer once closed: net/http may close
// a body while its write loop is still reading it, so Close waits for a Read in progress and
// later Reads fail.
type trackedBody struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

var errBodyClosed = errors.New("drive: request body closed")

func (b *trackedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	return b.r.Read(p)
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// release ends the bodies of t once their request was answered: the buffer behind them is the
// writer's again.
func (w *writer) release(t *bodyTracker) { t.closeAll() }
