package gcs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
	"weak"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"google.golang.org/api/googleapi"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// File sources (provider.ReaderAtUploader) go over the JSON API's resumable upload protocol in
// raw HTTP, through the bucket's own authorized client: neither Google Go client can resume a
// session (storage.Writer keeps its session URI in an internal package) nor send a chunk from
// a file without copying it into its chunk buffer. One part is one chunk, sent in order, its
// body a section of the file (zero copy); each 308 answer confirms the session's offset, which
// a checkpoint (destination.UploadOptions.Checkpoint) keeps with the session URI, so a later
// attempt resumes the session instead of sending the file again. Sessions last a week.

// ResumeMode says how a resumed upload learns how many bytes its session holds.
type ResumeMode int

const (
	// ResumeAuto asks the session (ResumeQuery) on Google's own endpoint and trusts the
	// checkpoint (ResumeCheckpoint) when Config.Endpoint overrides it: fake-gcs-server
	// (v1.56.1) finalizes a truncated object when it is asked.
	ResumeAuto ResumeMode = iota
	// ResumeQuery sends the protocol's status query (an empty PUT with "Content-Range: bytes
	// */SIZE", answered 308 with the Range the session holds) and resumes from its answer.
	ResumeQuery
	// ResumeCheckpoint resumes from the offset the checkpoint recorded without asking; the answer
	// to the next chunk tells if the session holds more (the upload skips ahead) or less (the
	// part is sent again from there, or, if earlier parts are missing, the next attempt starts
	// afresh).
	ResumeCheckpoint
)

// conn is what the resumable path needs of an opened bucket: the storage client's own HTTP
// client (the tenant's authorization over the SSRF-guarded transport with the integration's
// TLS roots) and the upload endpoint. Driver.Open records it per bucket.
type conn struct {
	d      *Driver // classifies errors
	hc     *http.Client
	upload *url.URL // …/upload/storage/v1/
	query  bool     // a resumed upload asks the session for its offset
	// sessions are those the bucket's client started and has not seen end.
	sessions *sessions
}

// remember records the connection of b, for as long as b is reachable.
func (d *Driver) remember(b *blob.Bucket, hc *http.Client, cfg destination.Config, ss *sessions) {
	base := "https://storage.googleapis.com/storage/v1/"
	if cfg.Endpoint != "" {
		base = strings.TrimRight(cfg.Endpoint, "/") + "/storage/v1/"
	}
	bu, err := url.Parse(base)
	if err != nil {
		return // the storage client refused it already
	}
	// The storage client resolves its upload path from the host's root, as here.
	c := &conn{d: d, hc: hc, upload: bu.ResolveReference(&url.URL{Path: "/upload/storage/v1/"}), sessions: ss}
	switch d.opts.Resume {
	case ResumeQuery:
		c.query = true
	case ResumeAuto:
		c.query = cfg.Endpoint == ""
	}
	wp := weak.Make(b)
	d.conns.Store(wp, c)
	runtime.AddCleanup(b, func(wp weak.Pointer[blob.Bucket]) { d.conns.Delete(wp) }, wp)
}

// connOf returns the connection of a bucket this driver opened, or nil.
func (d *Driver) connOf(b *blob.Bucket) *conn {
	if v, ok := d.conns.Load(weak.Make(b)); ok {
		return v.(*conn)
	}
	return nil
}

var (
	_ provider.ReaderAtUploader = (*Driver)(nil)
	_ provider.SessionAborter   = (*Driver)(nil)
)

// UploadParts writes a file source over a resumable session, one part per chunk (parts are
// multiples of 256 KiB), resuming the session a checkpoint kept (see ResumeMode). The object
// gets what the gcsblob writer would send (escaped name, content type and the other headers,
// metadata with the upload's tag). Its cleanup cancels the session (DELETE). A bucket this
// driver did not open, a part size that is not a multiple of 256 KiB, or writer attributes the
// raw request does not carry (ACLs, retention) go through the bucket's writer instead, which
// copies each chunk into its buffer and does not resume.
func (d *Driver) UploadParts(ctx context.Context, b *blob.Bucket, _ *destination.Integration, key string, src *provider.Parts, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var (
		oh *storage.ObjectHandle
		w  *storage.Writer
	)
	if !provider.WriterAs(ctx, b, key, wo, func(as func(any) bool) bool {
		var ohp **storage.ObjectHandle // first: gcsblob hands it out only before the writer
		if as(&ohp) {
			oh = *ohp
		}
		return as(&w)
	}) || w == nil || oh == nil {
		return nil, errors.New("gcs: the bucket's writer could not be prepared")
	}
	c := d.connOf(b)
	start, err := startRequest(oh.BucketName(), w, wo, src.Size())
	if c == nil || err != nil || src.PartSize()%chunkAlign != 0 {
		return nil, viaWriter(ctx, b, key, src, wo)
	}
	u := &upload{c: c, src: src, start: start}
	return u.abort, u.run(ctx)
}

// viaWriter streams the parts, in order, through the bucket's writer.
func viaWriter(ctx context.Context, b *blob.Bucket, key string, src *provider.Parts, wo *blob.WriterOptions) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(wctx, key, wo)
	if err != nil {
		return err
	}
	err = src.Each(wctx, 1, func(_ context.Context, _ int, body io.ReadSeeker, _ int64) error {
		_, err := io.Copy(w, body)
		return err
	})
	if err != nil {
		cancel() // a cancelled writer discards
		_ = w.Close()
		return err
	}
	return w.Close()
}

// rawObject is the JSON metadata of a resumable upload's start (the fields storage.Writer
// sends that the write path can set).
type rawObject struct {
	Name               string            `json:"name"`
	ContentType        string            `json:"contentType,omitempty"`
	ContentEncoding    string            `json:"contentEncoding,omitempty"`
	ContentLanguage    string            `json:"contentLanguage,omitempty"`
	ContentDisposition string            `json:"contentDisposition,omitempty"`
	CacheControl       string            `json:"cacheControl,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	MD5Hash            string            `json:"md5Hash,omitempty"`
	CRC32C             string            `json:"crc32c,omitempty"`
	StorageClass       string            `json:"storageClass,omitempty"`
	CustomTime         string            `json:"customTime,omitempty"`
	TemporaryHold      bool              `json:"temporaryHold,omitempty"`
	EventBasedHold     bool              `json:"eventBasedHold,omitempty"`
}

// startReq is the request that opens a session.
type startReq struct {
	bucket   string
	name     string
	metadata map[string]string
	query    url.Values
	meta     []byte
	ct       string
	size     int64
}

// startRequest builds the session's start from the writer gcsblob prepared; an error means the
// writer carries what the raw request cannot.
func startRequest(bucket string, w *storage.Writer, wo *blob.WriterOptions, size int64) (*startReq, error) {
	a := &w.ObjectAttrs
	if len(a.ACL) > 0 || a.Retention != nil || a.Name == "" || bucket == "" {
		return nil, errors.New("gcs: writer attributes the resumable path does not send")
	}
	o := rawObject{Name: a.Name, ContentType: a.ContentType, ContentEncoding: a.ContentEncoding, ContentLanguage: a.ContentLanguage,
		ContentDisposition: a.ContentDisposition, CacheControl: a.CacheControl, Metadata: a.Metadata, StorageClass: a.StorageClass,
		TemporaryHold: a.TemporaryHold, EventBasedHold: a.EventBasedHold}
	if len(a.MD5) > 0 {
		o.MD5Hash = base64.StdEncoding.EncodeToString(a.MD5)
	}
	if w.SendCRC32C {
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], a.CRC32C)
		o.CRC32C = base64.StdEncoding.EncodeToString(c[:])
	}
	if !a.CustomTime.IsZero() {
		o.CustomTime = a.CustomTime.Format(time.RFC3339Nano)
	}
	meta, err := json.Marshal(&o)
	if err != nil {
		return nil, err
	}
	q := url.Values{"uploadType": {"resumable"}, "name": {a.Name}}
	if a.PredefinedACL != "" {
		q.Set("predefinedAcl", a.PredefinedACL)
	}
	if a.KMSKeyName != "" {
		q.Set("kmsKeyName", a.KMSKeyName)
	}
	if wo.IfNotExist {
		q.Set("ifGenerationMatch", "0")
	}
	return &startReq{bucket: bucket, name: a.Name, metadata: a.Metadata, query: q, meta: meta, ct: a.ContentType, size: size}, nil
}

// sessionState is what the checkpoint keeps of a session.
type sessionState struct {
	URI string `json:"uri"`
	// Meta is the object metadata the session was started with: an attempt that resumes it
	// with other metadata (the upload's tag is new each attempt) sets its own once the object
	// is complete.
	Meta map[string]string `json:"meta,omitempty"`
}

// upload is one attempt of a resumable upload of src.
type upload struct {
	c     *conn
	src   *provider.Parts
	start *startReq

	uri       string // the session, once started or resumed
	committed int64  // bytes the session is known to hold
	stale     bool   // the session's object metadata is an earlier attempt's
	object    []byte // the completed object's JSON resource
}

// errLost marks a session that holds less than parts already counted (or was forgotten).
var errLost = errors.New("gcs: the upload session lost bytes an earlier request stored")

func (u *upload) run(ctx context.Context) error {
	if err := u.resume(ctx); err != nil {
		return err
	}
	if u.uri == "" {
		if err := u.open(ctx); err != nil {
			return err
		}
	}
	err := u.src.Each(ctx, 1, u.part)
	if err == nil && u.committed < u.src.Size() {
		err = fmt.Errorf("gcs: the session holds %d of %d bytes after the last chunk", u.committed, u.src.Size())
	}
	if err == nil && u.stale {
		err = u.patchMeta(ctx)
	}
	return err
}

// patchMeta gives the object this attempt's metadata, if it is still the generation the
// session made.
func (u *upload) patchMeta(ctx context.Context) error {
	var o struct {
		Generation string `json:"generation"`
	}
	if json.Unmarshal(u.object, &o) != nil || o.Generation == "" {
		return errors.New("gcs: the completed upload's answer names no generation")
	}
	target := u.c.upload.ResolveReference(&url.URL{Path: "/storage/v1/"}).JoinPath("b", u.start.bucket, "o", u.start.name)
	target.RawQuery = url.Values{"ifGenerationMatch": {o.Generation}}.Encode()
	body, _ := json.Marshal(map[string]any{"metadata": u.start.metadata})
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, target.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	resp, err := u.do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	return googleError(resp)
}

// resume takes over the session a checkpoint kept, if it is usable, skipping the parts it
// holds; it leaves u.uri empty when a new session must be started.
func (u *upload) resume(ctx context.Context) error {
	raw, stored := u.src.Resumed()
	var st sessionState
	if len(raw) == 0 || json.Unmarshal(raw, &st) != nil || !u.c.sameHost(st.URI) {
		return nil
	}
	held := map[int]bool{}
	for _, p := range stored {
		held[p.Index] = true
	}
	k := 0 // the checkpoint's parts from the start
	for held[k] {
		k++
	}
	ps := u.src.PartSize()
	known := min(int64(k)*ps, u.src.Size())
	if u.c.query {
		n, err := u.status(ctx, st.URI)
		switch {
		case errors.Is(err, errGone):
			return nil // forgotten, cancelled or expired: start afresh
		case err != nil:
			// Keep the session and checkpoint as they are for the next attempt (a permanent
			// failure cancels the session).
			u.uri, u.committed = st.URI, known
			u.skip(k)
			if berr := u.src.Begin(ctx, raw); berr != nil {
				return berr
			}
			return err
		}
		known = n
		k = min(k, int(n/ps))
	}
	u.uri, u.committed = st.URI, known
	u.stale = !maps.Equal(st.Meta, u.start.metadata)
	u.skip(k)
	return u.src.Begin(ctx, raw)
}

func (u *upload) skip(k int) {
	for i := range k {
		u.src.Skip(i)
	}
}

// open starts a session and saves it.
func (u *upload) open(ctx context.Context) error {
	s := u.start
	target := u.c.upload.JoinPath("b", s.bucket, "o")
	target.RawQuery = s.query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(s.meta))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("X-Upload-Content-Type", s.ct)
	req.Header.Set("X-Upload-Content-Length", strconv.FormatInt(s.size, 10))
	resp, err := u.do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := googleError(resp); err != nil {
		return err
	}
	loc := resp.Header.Get("Location")
	if !u.c.sameHost(loc) {
		// Never send the tenant's token elsewhere.
		return provider.Classified(provider.CodeProviderIncompatible, false, "the storage endpoint answered with an upload session on another host").
			UploadError(errors.New("gcs: the resumable session is not on the upload endpoint"))
	}
	u.uri, u.committed = loc, 0
	u.stale = false
	sess, _ := json.Marshal(sessionState{URI: loc, Meta: u.start.metadata})
	return u.src.Begin(ctx, sess)
}

// part sends part i from the session's offset (reading locally, for its CRC32C, what the session
// already holds) until the session confirms all of it.
func (u *upload) part(ctx context.Context, i int, body io.ReadSeeker, n int64) error {
	off := int64(i) * u.src.PartSize()
	end, size := off+n, u.src.Size()
	read := int64(0) // how far body was read
	for tries := 0; ; tries++ {
		if u.committed < off {
			return u.lost(ctx)
		}
		from := min(u.committed, end) - off
		if from >= read {
			if _, err := io.CopyN(io.Discard, body, from-read); err != nil {
				return err
			}
		} else if _, err := body.Seek(from, io.SeekStart); err != nil {
			return err
		}
		if u.committed >= end {
			return u.src.Stored(ctx, i, "")
		}
		if tries >= 3 {
			return provider.Classified(destination.CodeUnavailable, true, "the upload session stopped taking bytes").
				UploadError(fmt.Errorf("gcs: the session holds %d bytes after %d tries of the chunk at %d", u.committed, tries, off))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.uri, io.NopCloser(body))
		if err != nil {
			return err
		}
		req.ContentLength = end - u.committed
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", u.committed, end-1, size))
		req.Header.Set("X-GUploader-No-308", "yes")
		read = n // the transport reads it whole, or fails
		resp, err := u.do(req)
		if err != nil {
			return err
		}
		held, done, err := offsetOf(resp)
		if done {
			u.object, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		}
		drain(resp)
		switch {
		case errors.Is(err, errGone):
			return u.lost(ctx)
		case err != nil:
			return err
		case done:
			u.committed = size
		default:
			u.committed = held
		}
	}
}

// lost handles a session that holds less than parts this attempt no longer has the bodies of
// (they were skipped, or sent): it opens a new session in the checkpoint, with no part, and
// fails transiently, so the next attempt sends the file again.
func (u *upload) lost(ctx context.Context) error {
	_ = u.abort(ctx)
	if err := u.open(ctx); err != nil {
		return err
	}
	return provider.Classified(destination.CodeUnavailable, true, "the upload session lost bytes; the next attempt sends the file again").
		UploadError(errLost)
}

// errGone marks a session the service no longer knows (cancelled, expired, finished long ago).
var errGone = errors.New("gcs: the upload session is gone")

// status asks the session how many bytes it holds (size when the object is complete).
func (u *upload) status(ctx context.Context, uri string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, uri, http.NoBody)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Range", fmt.Sprintf("bytes */%d", u.src.Size()))
	req.Header.Set("X-GUploader-No-308", "yes")
	resp, err := u.do(req)
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	n, done, err := offsetOf(resp)
	if done {
		n = u.src.Size()
		u.object, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	return n, err
}

// offsetOf reads the answer to a chunk or a status query: the bytes held (308 with a Range, or
// none: 0), or done (200/201: the object is complete).
func offsetOf(resp *http.Response) (held int64, done bool, err error) {
	st := resp.StatusCode
	if st == http.StatusOK && resp.Header.Get("X-Http-Status-Code-Override") == "308" {
		st = http.StatusPermanentRedirect
	}
	switch st {
	case http.StatusPermanentRedirect:
		r := resp.Header.Get("Range")
		if r == "" {
			return 0, false, nil
		}
		last, ok := strings.CutPrefix(r, "bytes=0-")
		n, perr := strconv.ParseInt(last, 10, 64)
		if !ok || perr != nil || n < 0 {
			return 0, false, fmt.Errorf("gcs: unreadable Range %q in a resumable upload's answer", r)
		}
		return n + 1, false, nil
	case http.StatusOK, http.StatusCreated:
		return 0, true, nil
	}
	return 0, false, checkStatus(resp)
}

// checkStatus returns nil for a 2xx answer, errGone for a session the service forgot, else a
// *googleapi.Error (the driver classifies it).
func checkStatus(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone, 499:
		return errGone
	}
	return googleError(resp)
}

// googleError returns nil for a 2xx answer, else a *googleapi.Error.
func googleError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return googleapi.CheckResponseWithBody(resp, body)
}

// abort cancels the session (the cleanup of a failed upload): real GCS answers 499, and the
// session is gone. fake-gcs-server (v1.56.1) answers 499 but keeps it; either way nothing is
// visible, since an unfinished resumable upload creates no object.
func (u *upload) abort(ctx context.Context) error {
	if u.uri == "" {
		return nil
	}
	return provider.StopIfPermanent(u.c.d, u.c.cancel(ctx, u.uri))
}

// cancel deletes the session at uri.
func (c *conn) cancel(ctx context.Context, uri string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, uri, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := (&upload{c: c}).do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := checkStatus(resp); err != nil && !errors.Is(err, errGone) {
		return err
	}
	return nil
}

// AbortSession cancels the resumable session a checkpoint kept (see provider.SessionAborter).
func (d *Driver) AbortSession(ctx context.Context, b *blob.Bucket, _ *destination.Integration, _ string, session []byte) error {
	c := d.connOf(b)
	var st sessionState
	if c == nil || json.Unmarshal(session, &st) != nil || !c.sameHost(st.URI) {
		return nil // not a session of this endpoint: nothing of it can be reached
	}
	return c.cancel(ctx, st.URI)
}

// sameHost reports whether uri is an upload session on the upload endpoint's scheme and host.
func (c *conn) sameHost(uri string) bool {
	s, err := url.Parse(uri)
	return err == nil && uri != "" && s.Scheme == c.upload.Scheme && strings.EqualFold(s.Host, c.upload.Host) &&
		s.Query().Get("upload_id") != ""
}

// do sends req through the bucket's client; a transport error does not quote the session URI
// (it authorizes the upload).
func (u *upload) do(req *http.Request) (*http.Response, error) {
	resp, err := u.c.hc.Do(req)
	if err == nil {
		return resp, nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		r := *req.URL
		r.RawQuery = ""
		err = &url.Error{Op: ue.Op, URL: r.String(), Err: ue.Err}
	}
	if req.Context().Err() == nil && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)) {
		// The connection broke under the request (a reset while the body was written, an
		// answer cut off): the session says later what it holds.
		err = &provider.ClassifiedError{Err: err, Class: provider.Classified(destination.CodeUnavailable, true, "the connection was broken")}
	}
	return nil, err
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
