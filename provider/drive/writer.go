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
	"time"

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
	sent    int64       // bytes the server holds, all before buf
	session string      // resumable session URI, once started
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
	if w.session == "" {
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
	dir, name := splitKey(w.key)
	parent, err := w.b.folder(w.ctx, dir, true)
	if err != nil {
		return nil, err
	}
	old, err := w.b.findChild(w.ctx, parent, name, false, "id")
	switch {
	case err == nil && w.ifNotExist:
		return nil, ErrExists
	case err == nil:
		w.replace = old
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	if w.fileID, err = w.b.newFileID(w.ctx); err != nil {
		return nil, err
	}
	m := *w.meta
	m.Id, m.Parents = w.fileID, []string{parent}
	return json.Marshal(&m)
}

// uploadURL returns the upload endpoint of a create.
func (w *writer) uploadURL(uploadType string) (method, u string) {
	q := url.Values{"uploadType": {uploadType}, "supportsAllDrives": {"true"}, "fields": {fileFields},
		"alt": {"json"}, "prettyPrint": {"false"}}
	return http.MethodPost, w.b.uploadURL + "?" + q.Encode()
}

func (w *writer) contentType() string {
	if w.meta.MimeType != "" {
		return w.meta.MimeType
	}
	return "application/octet-stream"
}

// uploadOnce sends a blob that fits in one chunk as a multipart request.
func (w *writer) uploadOnce() error {
	meta, err := w.prepare()
	if err != nil {
		return err
	}
	method, u := w.uploadURL("multipart")
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	head := "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + string(meta) +
		"\r\n--" + boundary + "\r\nContent-Type: " + w.contentType() + "\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	// Every attempt sends these bytes: w.buf may be dropped (release) while a transport still
	// holds an earlier attempt's body, and a retry must never send less.
	payload := w.buf
	return w.b.pacer.call(w.ctx, func() error {
		bodies := &bodyTracker{parts: [][]byte{[]byte(head), payload, []byte(tail)}}
		req, err := http.NewRequestWithContext(w.ctx, method, u, nil)
		if err != nil {
			return err
		}
		bodies.attach(req)
		req.Header.Set("Content-Type", "multipart/related; boundary="+boundary)
		f, err := w.do(req)
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
func (w *writer) do(req *http.Request) (*drive.File, error) {
	resp, err := w.b.hc.Do(req)
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
	if w.session == "" {
		if err := w.start(); err != nil {
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
	data := w.buf // release may drop w.buf; these bytes stay the chunk's
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		w.md5.Write(data)
	}()
	err := w.putChunk(data, final)
	<-hashed
	return err
}

// start opens a resumable upload session.
func (w *writer) start() error {
	meta, err := w.prepare()
	if err != nil {
		return err
	}
	method, u := w.uploadURL("resumable")
	return w.b.pacer.call(w.ctx, func() error {
		req, err := http.NewRequestWithContext(w.ctx, method, u, bytes.NewReader(meta))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("X-Upload-Content-Type", w.contentType())
		resp, err := w.b.hc.Do(req)
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
		w.session = loc
		return nil
	})
}

// putChunk sends data, which starts at offset w.sent, to the session. With final set, it is the
// last chunk and the upload completes. After a failure it asks the server how much it holds and
// resends from there, backing off as the retry policy says.
func (w *writer) putChunk(data []byte, final bool) error {
	start, size := w.sent, int64(len(data))
	total := int64(-1)
	if final {
		total = start + size
	}
	var off int64 // bytes of data the server holds
	failures := 0
	for {
		if err := w.b.pacer.wait(w.ctx); err != nil {
			return err
		}
		f, held, err := w.send(data[off:], start+off, total)
		if err == nil {
			if f != nil {
				w.result, w.sent = f, start+size
				return nil
			}
			if held < start+off || held > start+size {
				return fmt.Errorf("%w: server holds %d bytes, %d expected", ErrSessionLost, held, start+off)
			}
			off = held - start
			if off == size && !final {
				w.sent = start + size
				return nil
			}
			continue // part of the chunk was kept: send the rest
		}
		err = classify(err)
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		if failures++; failures >= w.b.pacer.policy.MaxAttempts {
			return err
		}
		wait, ok := w.b.pacer.backoff(failures-1, err)
		if !ok {
			return err
		}
		if err := sleep(w.ctx, wait); err != nil {
			return err
		}
		// Ask where to resume: the failed request may have delivered some or all bytes.
		f, held, serr := w.send(nil, -1, total)
		switch {
		case serr != nil && !retryable(classify(serr)):
			return classify(serr)
		case serr != nil:
			// try the chunk again as it was
		case f != nil:
			w.result, w.sent = f, start+size
			return nil
		case held < start || held > start+size:
			return fmt.Errorf("%w: server holds %d bytes, %d expected", ErrSessionLost, held, start+off)
		default:
			off = held - start
		}
	}
}

// send puts data at offset to the session (offset < 0: a status query). It returns the finished
// file, or how many bytes the server holds.
func (w *writer) send(data []byte, offset, total int64) (*drive.File, int64, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPut, w.session, nil)
	if err != nil {
		return nil, 0, err
	}
	bodies := &bodyTracker{parts: [][]byte{data}}
	bodies.attach(req)
	defer w.release(bodies)
	tot := "*"
	if total >= 0 {
		tot = strconv.FormatInt(total, 10)
	}
	if offset < 0 || len(data) == 0 {
		req.Header.Set("Content-Range", "bytes */"+tot)
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", offset, offset+int64(len(data))-1, tot))
	}
	resp, err := w.b.hc.Do(req)
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

// bodyTracker gives a request bodies over the writer's chunk buffer and tells when the transport
// has closed every one of them. net/http may go on reading a request body after Do returns (a
// server that answers 401 before reading it, a transport that retries with GetBody), so the
// buffer may only be refilled once all the bodies handed out are closed; a closed body reads no
// more.
type bodyTracker struct {
	parts [][]byte
	open  sync.WaitGroup
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
	t.open.Add(1)
	return &trackedBody{r: io.MultiReader(readers...), done: t.open.Done}
}

// trackedBody is a request body that stops reading the buffer once closed: net/http may close
// a body while its write loop is still reading it, so Close waits for a Read in progress and
// later Reads fail.
type trackedBody struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
	done   func()
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
	if !b.closed {
		b.closed = true
		b.done()
	}
	return nil
}

// bodyCloseWait bounds how long release waits for the transport to close a request body (a
// variable for tests).
var bodyCloseWait = 30 * time.Second

// release waits until the transport has closed every body of t. Should that take longer than
// bodyCloseWait, the buffer is abandoned to the transport and the next chunk gets a new one.
func (w *writer) release(t *bodyTracker) {
	closed := make(chan struct{})
	go func() {
		t.open.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(bodyCloseWait):
		w.buf = nil
	}
}
