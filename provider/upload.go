package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Upload streams src to key (which already includes the integration's prefix) in the
// integration's storage and returns the stored object's name, size, CRC32C, what the provider
// confirmed of it, and its URL.
//
// Memory is bounded by Options.PartSize × Options.Concurrency, whatever the size of src. When
// opts.Size ≥ 0 exactly that many bytes must come from src. When ctx is cancelled, src fails or
// gives another size, or the store refuses the upload, nothing is committed under key and what
// the provider holds of the upload (multipart uploads, uncommitted blocks) is removed on a
// detached context bounded by Options.CleanupTimeout. opts.Progress is called with the running
// total of bytes read. Every error is (or wraps) a *destination.UploadError, classified by the
// integration's driver.
//
// When opts.CopyFrom names a copy in a *CDN and the integration's driver is a
// ServerSideCopier, Upload first has the provider write the object from that copy server-side
// (S3 UploadPartCopy/CopyObject on the same service, Azure Put Block From URL, GCS rewrite),
// without reading src; when that is not possible, refused or fails, it streams src as usual,
// leaving nothing of the copy behind. A copied object is verified like a streamed one (size,
// and the checksum the provider reports against opts.CopyFrom.Checksum); the result's Transfer
// says which way the bytes went.
func (c *Client) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (res destination.UploadResult, err error) {
	ctx = bounded(ctx)
	if err := checkUpload(key, src, opts); err != nil {
		return destination.UploadResult{Key: key}, err
	}
	defer recovered(&err)
	e, err := c.acquire(ctx, in)
	if err != nil {
		return destination.UploadResult{Key: key}, c.uploadError(nil, err)
	}
	defer c.release(e)
	s := writeSpec{b: e.b, drv: e.drv, in: in, key: key, src: src, opts: opts,
		partSize: c.opts.PartSize, concurrency: c.opts.Concurrency, cleanupTimeout: c.opts.CleanupTimeout, log: c.opts.Logger}
	var (
		copied  bool
		recheck func()
	)
	if opts.CopyFrom != nil {
		res, copied, recheck, err = s.copyFromCDN(ctx, opts.CopyFrom)
	}
	if !copied {
		res, err = writeObject(ctx, s)
		if recheck != nil {
			recheck()
		}
	}
	if err != nil {
		return res, err
	}
	u, err := c.objectURL(ctx, e, in, key)
	if err != nil {
		// The object is there; only its URL is missing. Report it, do not fail the delivery.
		c.opts.Logger.Warn("object URL", "integration", in.ID, "error", classifyWith(err, e.drv).Message)
	} else {
		res.URL = u
	}
	return res, nil
}

// uploadError classifies err (through drv's ErrorClassifier when drv is not nil) as a
// *destination.UploadError, unless it already is one.
func (c *Client) uploadError(drv any, err error) error {
	if destination.AsUploadError(err) != nil {
		return err
	}
	return classifyWith(err, drv).UploadError(err)
}

// ObjectURL returns the URL an output reports for key: the integration's publicUrl joined with
// the escaped key when set, else the driver's URL (the provider's canonical public URL, a
// presigned URL, or "" when none can work).
func (c *Client) ObjectURL(ctx context.Context, in *destination.Integration, key string) (string, error) {
	ctx = bounded(ctx)
	if in != nil && in.Config.PublicURL != "" {
		return JoinURL(in.Config.PublicURL, storedKey(c.drivers[in.Provider], key)), nil
	}
	e, err := c.acquire(ctx, in)
	if err != nil {
		return "", err
	}
	defer c.release(e)
	return c.objectURL(ctx, e, in, key)
}

func (c *Client) objectURL(ctx context.Context, e *entry, in *destination.Integration, key string) (string, error) {
	if in.Config.PublicURL != "" {
		return JoinURL(in.Config.PublicURL, storedKey(e.drv, key)), nil
	}
	return e.drv.ObjectURL(ctx, e.b, in, key)
}

// Test probes the integration: it writes a small, uniquely named object under the
// integration's prefix and deletes it, then (unless Options.SkipMultipartProbe) writes and
// deletes one through the provider's multipart path. It never lists or creates buckets. A probe
// that could not be deleted is a warning, not a failure. The result's Message never contains a
// secret.
func (c *Client) Test(ctx context.Context, in *destination.Integration) (res destination.TestResult) {
	ctx = bounded(ctx)
	start := c.opts.Now()
	defer func() {
		if v := recover(); v != nil {
			cl := Classify(panicError(v))
			res = destination.TestResult{Code: cl.Code, Message: cl.Message, TestedAt: start.UTC(), DurationMillis: c.opts.Now().Sub(start).Milliseconds()}
		}
	}()
	res = c.test(ctx, in)
	applyHealth(&res, c.Health(in))
	res.TestedAt = start.UTC()
	res.DurationMillis = c.opts.Now().Sub(start).Milliseconds()
	return res
}

func (c *Client) test(ctx context.Context, in *destination.Integration) destination.TestResult {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
	defer cancel()
	if in == nil {
		return destination.TestResult{Code: CodeUnknown, Message: "no integration to test"}
	}
	var drv any
	fail := func(err error, what string) destination.TestResult {
		cl := classifyWith(err, drv)
		msg := cl.Message
		if what != "" {
			msg = what + ": " + msg
		}
		c.opts.Logger.Debug("probe failed", "integration", in.ID, "code", cl.Code, "message", msg)
		return destination.TestResult{Code: cl.Code, Message: msg}
	}
	e, err := c.acquire(ctx, in)
	if err != nil {
		return fail(err, "")
	}
	defer c.release(e)
	drv = e.drv

	var res destination.TestResult
	key := probeKey(in.Config.PathPrefix)
	if err := e.b.WriteAll(ctx, key, []byte("outputs connection test; safe to delete\n"), &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return fail(err, "writing a test file")
	}
	if err := e.b.Delete(ctx, key); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the test file %s could not be deleted (%s); allow deletes or remove it by hand", key, classifyWith(err, drv).Message))
	}
	if mp, ok := e.drv.(MultipartProber); ok && !c.opts.SkipMultipartProbe {
		if err := mp.ProbeMultipart(ctx, e.b, in, probeKey(in.Config.PathPrefix)); err != nil {
			var warn *ProbeCleanupError
			if !errors.As(err, &warn) {
				return fail(err, "multipart upload (used for large files)")
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("the multipart test file %s could not be deleted (%s)", warn.Key, classifyWith(warn.Err, drv).Message))
		}
	}
	res.OK, res.Code, res.Message = true, CodeOK, "the test file was written"
	if len(res.Warnings) == 0 {
		res.Message += " and deleted"
	}
	return res
}

// ProbeCleanupError is returned by a MultipartProber whose probe object was written but could
// not be deleted: Test reports it as a warning, not a failure.
type ProbeCleanupError struct {
	Key string
	Err error
}

// Error describes the failed delete.
func (e *ProbeCleanupError) Error() string { return "deleting probe " + e.Key + ": " + e.Err.Error() }

// Unwrap returns the delete's error.
func (e *ProbeCleanupError) Unwrap() error { return e.Err }

// ProbeDeleted returns nil when the delete of a probe object succeeded (err is nil), else a
// *ProbeCleanupError: a MultipartProber's last step.
func ProbeDeleted(key string, err error) error {
	if err == nil {
		return nil
	}
	return &ProbeCleanupError{Key: key, Err: err}
}

// probeKey returns a fresh probe object key under prefix.
func probeKey(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + ".outputs-test-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// videoTypes fills in what Go's built-in MIME table lacks for render outputs.
var videoTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".webm": "video/webm",
	".mkv": "video/x-matroska", ".gif": "image/gif", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
	".wav": "audio/wav", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".webp": "image/webp", ".json": "application/json", ".srt": "application/x-subrip", ".vtt": "text/vtt",
}

// ContentType returns the content type for key from its extension, or
// "application/octet-stream".
func ContentType(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if t, ok := videoTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
