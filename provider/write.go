package provider

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// UploadPreparer is an optional Driver interface: PrepareUpload adjusts the options of one
// upload's writer (ContentType, BufferSize, MaxConcurrency and Metadata are already set), for
// example through BeforeWrite, and returns the cleanup of that upload, or nil. in is nil for a
// CDN upload.
//
// The cleanup runs only when the upload failed or was cancelled, on a detached context bounded
// by the cleanup timeout, and is called again (with backoff) until it returns nil or the bound
// expires: it must remove what the provider may still hold of the upload that is not visible
// under key (an S3 multipart upload and its parts, Azure's uncommitted blocks, a resumable
// session) and return nil only once the provider confirmed it.
type UploadPreparer interface {
	PrepareUpload(b *blob.Bucket, in *destination.Integration, key string, wo *blob.WriterOptions) (cleanup func(ctx context.Context) error)
}

// Verifier is an optional Driver interface for what the provider reports of a committed object
// beyond its size and the portable Attributes.MD5.
type Verifier interface {
	// StoredCRC32C returns the CRC32C the provider computed of the object described by a, if
	// it reports one.
	StoredCRC32C(a *blob.Attributes) (crc uint32, ok bool)
	// FullMD5 reports whether the provider keeps the MD5 of every object whatever its size, so
	// the upload computes one over all the bytes.
	FullMD5() bool
}

// KeyMapper is an optional Driver interface: StoredKey returns the name the driver's bucket
// stores key under (the Go CDK drivers escape characters their provider cannot hold). Upload
// reports that name, and URLs are built from it, so both name the object that exists.
type KeyMapper interface {
	StoredKey(key string) string
}

// uploadMetaKey is the metadata entry each upload tags its object with, a random value that
// identifies the attempt: an ambiguous failure (the answer to the commit was lost) is resolved
// by reading it back.
const uploadMetaKey = "outputs-upload"

// The Verified values of an UploadResult.
const (
	verifiedCRC32C = "crc32c"
	verifiedMD5    = "md5"
	verifiedSize   = "size"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FormatCRC32C returns the UploadResult.Checksum form of a CRC32C: "crc32c:" + the base64 of
// its four big-endian bytes.
func FormatCRC32C(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return "crc32c:" + base64.StdEncoding.EncodeToString(b[:])
}

// writeSpec is one upload through the shared write path of Client.Upload and CDN.Upload.
type writeSpec struct {
	b              *blob.Bucket
	drv            any                      // the driver (its optional interfaces), or nil
	in             *destination.Integration // nil for the CDN
	key            string
	src            io.Reader
	opts           destination.UploadOptions
	partSize       int
	concurrency    int
	cleanupTimeout time.Duration
	log            *slog.Logger
}

// checkUpload validates what every upload needs.
func checkUpload(key string, src io.Reader, opts destination.UploadOptions) error {
	switch {
	case key == "" || strings.HasSuffix(key, "/"):
		return Classified(destination.CodeInvalidKey, false, "the key must name an object").UploadError(fmt.Errorf("provider: upload key %q", key))
	case strings.Contains(key, "__0x"):
		// The Go CDK escapes such text in keys; the stored name would not be the one reported.
		return Classified(destination.CodeInvalidKey, false, `the key may not contain "__0x"`).UploadError(fmt.Errorf("provider: upload key %q", key))
	case isNil(src):
		return Classified(destination.CodeSourceFailed, false, "no source").UploadError(errors.New("provider: upload source is nil"))
	case opts.Size < -1:
		return Classified(destination.CodeSourceSizeMismatch, false, "UploadOptions.Size is negative").UploadError(fmt.Errorf("provider: UploadOptions.Size %d", opts.Size))
	}
	return nil
}

// isNil reports whether v is nil or a nil pointer, map, slice, func or channel in an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// writeObject streams s.src into s.key: it counts the bytes, computes their CRC32C (and an MD5
// where the provider can confirm one), fails without committing when the source gives fewer or
// more bytes than s.opts.Size or fails, verifies what the provider committed, resolves an
// ambiguous failure by reading the stored object back, and cleans up what a failed upload left
// (see UploadPreparer). Every error is a *destination.UploadError.
func writeObject(ctx context.Context, s writeSpec) (destination.UploadResult, error) {
	res := destination.UploadResult{Key: storedKey(s.drv, s.key)}
	if err := checkUpload(s.key, s.src, s.opts); err != nil {
		return res, err
	}
	nonce := newNonce()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wo, cleanup := s.writerOptions(nonce)
	m := &meter{r: s.src, want: s.opts.Size, progress: s.opts.Progress, cancel: cancel, crc: 0}
	if v, ok := s.drv.(Verifier); ok && v.FullMD5() {
		m.md5, m.md5Limit = md5.New(), -1
	} else {
		// One part is one request: its MD5 is what a single-part S3 ETag (and most stores'
		// Content-MD5) reports, and costs little to compute.
		m.md5, m.md5Limit = md5.New(), int64(s.partSize)
		if m.md5Limit <= 0 {
			m.md5Limit = defaultPartSize
		}
	}
	start := time.Now()
	parts, err := s.upload(wctx, m, wo, &cleanup) // a file source may go part by part (parts.go)
	if v := wo.Metadata[uploadMetaKey]; v != "" {
		nonce = v // a resumed upload keeps the tag of the attempt that began it
	}
	res.Size, res.Checksum, res.Transfer = m.n, FormatCRC32C(m.crc), destination.TransferStream
	if err == nil {
		res.Verified, err = verify(ctx, s, m.sent(), nonce, true)
		if err == nil {
			s.clearCheckpoint(ctx, parts)
			return res, nil
		}
		// The provider committed other bytes than those sent: remove them (they are ours), and
		// the checkpoint of their session, so the next attempt uploads afresh instead of
		// resuming a finished session (and reporting the deleted object delivered).
		s.retry(ctx, "delete a damaged object", func(ctx context.Context) error {
			if err := s.b.Delete(ctx, s.key); err != nil && !isNotFound(err) {
				return err
			}
			return nil
		})
		s.clearCheckpoint(ctx, parts)
		return res, err
	}
	switch {
	case m.err != nil:
		err = m.err
	case ctx.Err() != nil:
		err = Classified(destination.CodeCanceled, false, "").UploadError(fmt.Errorf("provider: upload %s: %w", s.key, context.Cause(ctx)))
	case m.eof && ambiguous(classifyWith(err, s.drv)):
		// Every byte was handed over and the failure is not a refusal: the commit may have
		// happened although its answer was lost. The stored object decides.
		if v, verr := verify(ctx, s, m.sent(), nonce, false); verr == nil && v != "" {
			s.log.Info("upload reported failed but the object is whole", "key", s.key, "error", classifyWith(err, s.drv).Message)
			res.Verified = v
			s.clearCheckpoint(ctx, parts)
			return res, nil
		}
	}
	switch {
	case parts.sessionKept() && (ctx.Err() != nil || (m.err == nil && classifyWith(err, s.drv).Transient)):
		// A checkpointed session is kept for the next attempt, which resumes it. A source
		// that fails because the caller cancelled (the delivery engine's reads end with its
		// attempt's context: a cancel, a stall) did not fail on its own.
		s.log.Debug("upload interrupted; its session is kept for the next attempt", "key", s.key)
	case cleanup != nil:
		s.retry(ctx, "clean up a failed upload", cleanup)
		s.clearCheckpoint(ctx, parts)
	default:
		s.clearCheckpoint(ctx, parts)
	}
	s.log.Debug("upload failed", "key", s.key, "after", time.Since(start), "error", err)
	if ue := destination.AsUploadError(err); ue != nil {
		return res, err
	}
	return res, classifyWith(err, s.drv).UploadError(fmt.Errorf("provider: upload %s: %w", s.key, err))
}

// writerOptions returns the options of the upload's writer (content type, part size,
// concurrency, the attempt's nonce as metadata, then what the driver's UploadPreparer or
// WriterConfigurer set) and the preparer's cleanup, or nil.
func (s writeSpec) writerOptions(nonce string) (*blob.WriterOptions, func(context.Context) error) {
	ct := s.opts.ContentType
	if ct == "" {
		ct = ContentType(s.key)
	}
	wo := &blob.WriterOptions{ContentType: ct, BufferSize: s.partSize, MaxConcurrency: s.concurrency,
		Metadata: map[string]string{uploadMetaKey: nonce}}
	var cleanup func(context.Context) error
	switch p := s.drv.(type) {
	case UploadPreparer:
		cleanup = p.PrepareUpload(s.b, s.in, s.key, wo)
	case WriterConfigurer:
		if s.in != nil {
			p.ConfigureWriter(s.b, s.in, wo)
		}
	}
	return wo, cleanup
}

// sent is what an upload delivered, as verify compares it with the stored object.
type sent struct {
	n      int64
	crc    uint32 // the CRC32C of the bytes, when hasCRC
	hasCRC bool
	md5    []byte // the MD5 of the bytes, or nil
}

// sent returns what the meter saw: every byte's CRC32C, and their MD5 when it hashed them all.
func (m *meter) sent() sent {
	w := sent{n: m.n, crc: m.crc, hasCRC: true}
	if m.md5 != nil && (m.md5Limit < 0 || m.n <= m.md5Limit) {
		w.md5 = m.md5.Sum(nil)
	}
	return w
}

// ambiguous reports whether a failure classified c may hide a commit that happened: a refusal
// (credentials, permissions, a missing bucket, an incompatible request) cannot.
func ambiguous(c Classification) bool { return c.Transient || c.Code == CodeUnknown }

// verify reads the stored object back and compares it with what was sent (w). committed
// reports that the provider confirmed the commit: then a mismatch is an error, and a failure to
// read the attributes is not (the result is unverified). Otherwise (an ambiguous failure) any
// doubt gives "" and an error.
func verify(ctx context.Context, s writeSpec, w sent, nonce string, committed bool) (string, error) {
	var a *blob.Attributes
	missing := false
	ok := s.retryN(ctx, 3, func(ctx context.Context) error {
		var err error
		a, err = s.b.Attributes(ctx, s.key)
		missing = err != nil && isNotFound(err)
		if missing && !committed {
			return nil // nothing was committed; no need to ask again
		}
		return err
	})
	if !ok || a == nil {
		if cr, lags := s.drv.(ConsistencyReporter); committed && missing && !(lags && cr.EventuallyConsistent()) {
			// The provider confirmed the commit and reads its writes, yet has no such object:
			// whatever answered is not storing what it confirms. Never a completed copy.
			return "", Classified(destination.CodeChecksumMismatch, true, "the object it confirmed is not there").
				UploadError(fmt.Errorf("provider: upload %s: confirmed, then not found", s.key))
		}
		if committed {
			s.log.Warn("could not read back an uploaded object to verify it", "key", s.key)
			return "", nil
		}
		return "", errors.New("not stored")
	}
	if tag, has := a.Metadata[uploadMetaKey]; has && tag != nonce {
		// Another upload replaced the object since: nothing can be said of ours.
		if committed {
			return "", nil
		}
		return "", errors.New("another upload's object")
	}
	mismatch := func(what string) (string, error) {
		return "", Classified(destination.CodeChecksumMismatch, true, what).
			UploadError(fmt.Errorf("provider: upload %s: stored %s differs from the bytes sent", s.key, what))
	}
	if a.Size != w.n {
		return mismatch("size")
	}
	if v, ok := s.drv.(Verifier); ok && w.hasCRC {
		if crc, ok := v.StoredCRC32C(a); ok {
			if crc != w.crc {
				return mismatch("crc32c")
			}
			return verifiedCRC32C, nil
		}
	}
	if len(a.MD5) > 0 && w.md5 != nil {
		if !bytes.Equal(a.MD5, w.md5) {
			return mismatch("md5")
		}
		return verifiedMD5, nil
	}
	if !committed && a.Metadata[uploadMetaKey] != nonce {
		// Only the size matches and nothing says the object is this upload's.
		return "", errors.New("unidentified object")
	}
	return verifiedSize, nil
}

// retry runs fn on a context detached from ctx's cancellation and bounded by the cleanup
// timeout, again with backoff until it returns nil or the bound expires.
func (s writeSpec) retry(ctx context.Context, what string, fn func(context.Context) error) {
	if !s.retryN(ctx, 0, fn) {
		s.log.Warn("gave up", "what", what, "key", s.key, "after", s.cleanupTimeout)
	}
}

// retryN is retry with at most n tries (0: unbounded but for the timeout); it reports success.
// A failure the driver classifies as permanent (credentials refused, no permission, the
// endpoint not allowed) ends it at once: trying again for the whole bound cannot help, and it
// would hold a failed connection test or delivery for that long.
func (s writeSpec) retryN(ctx context.Context, n int, fn func(context.Context) error) bool {
	return RetryDetached(ctx, s.cleanupTimeout, n, func(ctx context.Context) error {
		return StopIfPermanent(s.drv, fn(ctx))
	}) == nil
}

// Permanent marks err as a failure that trying again cannot fix: RetryDetached returns it at
// once. errors.Is and errors.As see through the mark.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// StopIfPermanent returns err marked Permanent when drv (a Driver, or nil) or the generic rules
// classify it as a known, non-transient failure, or as an endpoint that cannot be reached at
// all (refused, no route, no such host: then it very likely holds nothing to clean up, and a
// connection test of a mistyped endpoint would otherwise wait out the whole bound); err
// unchanged otherwise (unknown failures, resets and 5xx are tried again). Drivers' cleanups
// wrap the results of their steps with it.
func StopIfPermanent(drv any, err error) error {
	if err == nil {
		return nil
	}
	if c := classifyWith(err, drv); (!c.Transient && c.Code != CodeUnknown) || c.Code == CodeEndpointUnreachable {
		return Permanent(err)
	}
	return err
}

// RetryDetached runs fn on a context that ignores ctx's cancellation (keeping its values) and
// expires after timeout, again with jittered exponential backoff (50ms doubling to 2s) until it
// returns nil, it ran tries times (0: no limit), the timeout expired or fn's error is marked
// Permanent; it returns fn's last error. Drivers' cleanups (UploadPreparer) use it for steps that must finish after a
// cancellation.
func RetryDetached(ctx context.Context, timeout time.Duration, tries int, fn func(context.Context) error) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	wait := 50 * time.Millisecond
	for i := 1; ; i++ {
		err := fn(dctx)
		var pe permanentError
		if err == nil || (tries > 0 && i >= tries) || errors.As(err, &pe) {
			return err
		}
		t := time.NewTimer(wait/2 + mrand.N(wait/2+1))
		select {
		case <-dctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func isNotFound(err error) bool {
	return Classify(err).Code == CodeBucketNotFound
}

func storedKey(drv any, key string) string {
	if km, ok := drv.(KeyMapper); ok {
		return km.StoredKey(key)
	}
	return key
}

func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// meter is the source as the driver reads it: it counts the bytes, hashes them, enforces the
// declared size, turns a panic of the source into an error and, on any failure, cancels the
// upload's context before the driver sees the error, so every driver discards the object
// instead of committing what it got.
type meter struct {
	r        io.Reader
	want     int64 // -1: unknown
	n        int64
	crc      uint32
	md5      hash.Hash
	md5Limit int64 // hash only while n ≤ md5Limit; -1: always
	progress func(int64)
	cancel   func()
	err      error // the source's failure, as an *UploadError
	eof      bool
}

func (m *meter) Read(p []byte) (n int, err error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.eof {
		return 0, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, m.fail(destination.CodeSourceFailed, "the source panicked", fmt.Errorf("provider: source panicked: %v", r))
		}
	}()
	n, err = m.r.Read(p)
	if n < 0 || n > len(p) {
		return 0, m.fail(destination.CodeSourceFailed, "the source misbehaved", fmt.Errorf("provider: source Read returned %d", n))
	}
	if n > 0 {
		if m.want >= 0 && m.n+int64(n) > m.want {
			return 0, m.fail(destination.CodeSourceSizeMismatch, fmt.Sprintf("it gave more than the declared %d bytes", m.want), nil)
		}
		m.crc = crc32.Update(m.crc, castagnoli, p[:n])
		if m.md5 != nil {
			if m.md5Limit < 0 || m.n+int64(n) <= m.md5Limit {
				m.md5.Write(p[:n])
			} else {
				m.md5 = nil
			}
		}
		m.n += int64(n)
		if m.progress != nil {
			m.progress(m.n)
		}
	}
	switch {
	case err == io.EOF:
		if m.want >= 0 && m.n != m.want {
			return n, m.fail(destination.CodeSourceSizeMismatch, fmt.Sprintf("it gave %d of the declared %d bytes", m.n, m.want), nil)
		}
		m.eof = true
	case err != nil:
		return n, m.fail(destination.CodeSourceFailed, "", err)
	}
	return n, err
}

func (m *meter) fail(code, detail string, cause error) error {
	if cause == nil {
		cause = fmt.Errorf("provider: source gave %d bytes, declared %d", m.n, m.want)
	}
	m.err = Classified(code, false, detail).UploadError(cause)
	m.cancel()
	return m.err
}
