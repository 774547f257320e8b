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
// integration's storage and returns the number of bytes written and the object's URL.
//
// Memory is bounded by Options.PartSize × Options.Concurrency, whatever the size of src. When
// ctx is cancelled, src fails or the store refuses the upload, the writer is aborted: no object
// appears and multipart uploads are aborted (on a fresh context, so a cancelled ctx does not
// leave parts behind). opts.Progress is called with the running total of bytes handed to the
// store. A failed upload's error is classified by Classify.
func (c *Client) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return destination.UploadResult{}, fmt.Errorf("provider: upload key %q must name an object", key)
	}
	if src == nil {
		return destination.UploadResult{}, errors.New("provider: upload source is nil")
	}
	e, err := c.acquire(ctx, in)
	if err != nil {
		return destination.UploadResult{}, err
	}
	defer c.release(e)
	n, err := c.write(ctx, e, in, key, src, opts.ContentType, opts.Progress)
	if err != nil {
		return destination.UploadResult{Key: key}, fmt.Errorf("provider: upload to %s integration %s: %w", in.Provider, in.ID, err)
	}
	res := destination.UploadResult{Key: key, Size: n}
	u, err := c.objectURL(ctx, e, in, key)
	if err != nil {
		// The object is there; only its URL is missing. Report it, do not fail the delivery.
		c.opts.Logger.Warn("object URL", "integration", in.ID, "error", Classify(err).Message)
	} else {
		res.URL = u
	}
	return res, nil
}

// ObjectURL returns the URL an output reports for key: the integration's publicUrl joined with
// the escaped key when set, else the driver's URL (the provider's canonical public URL, a
// presigned URL, or "" when none can work).
func (c *Client) ObjectURL(ctx context.Context, in *destination.Integration, key string) (string, error) {
	if in != nil && in.Config.PublicURL != "" {
		return JoinURL(in.Config.PublicURL, key), nil
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
		return JoinURL(in.Config.PublicURL, key), nil
	}
	return e.drv.ObjectURL(ctx, e.b, in, key)
}

// write streams src into key with Bucket.Upload, which hands src straight to drivers that read
// it themselves (s3blob, azureblob: no pipe, no extra copy) and closes the writer on every
// path. A failing src cancels the upload's context before the error reaches the driver, so
// every driver discards the object instead of committing what it got.
func (c *Client) write(ctx context.Context, e *entry, in *destination.Integration, key string, src io.Reader, contentType string, progress func(int64)) (int64, error) {
	if contentType == "" {
		contentType = ContentType(key)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wo := &blob.WriterOptions{ContentType: contentType, BufferSize: c.opts.PartSize, MaxConcurrency: c.opts.Concurrency}
	if wc, ok := e.drv.(WriterConfigurer); ok {
		wc.ConfigureWriter(e.b, in, wo)
	}
	cr := &countingReader{r: src, progress: progress, cancel: cancel}
	err := e.b.Upload(wctx, key, cr, wo)
	if err != nil && cr.err != nil {
		// Report the source's failure, not the cancellation it caused.
		err = fmt.Errorf("reading the source: %w", cr.err)
	}
	return cr.n, err
}

// Test probes the integration: it writes a small, uniquely named object under the
// integration's prefix and deletes it, then (unless Options.SkipMultipartProbe) writes and
// deletes one through the provider's multipart path. It never lists or creates buckets. A probe
// that could not be deleted is a warning, not a failure. The result's Message never contains a
// secret.
func (c *Client) Test(ctx context.Context, in *destination.Integration) destination.TestResult {
	start := c.opts.Now()
	res := c.test(ctx, in)
	applyHealth(&res, c.Health(in))
	res.TestedAt = start.UTC()
	res.DurationMillis = c.opts.Now().Sub(start).Milliseconds()
	return res
}

func (c *Client) test(ctx context.Context, in *destination.Integration) destination.TestResult {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
	defer cancel()
	fail := func(err error, what string) destination.TestResult {
		cl := Classify(err)
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

	var res destination.TestResult
	key := probeKey(in.Config.PathPrefix)
	if err := e.b.WriteAll(ctx, key, []byte("outputs connection test; safe to delete\n"), &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return fail(err, "writing a test file")
	}
	if err := e.b.Delete(ctx, key); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the test file %s could not be deleted (%s); allow deletes or remove it by hand", key, Classify(err).Message))
	}
	if mp, ok := e.drv.(MultipartProber); ok && !c.opts.SkipMultipartProbe {
		if err := mp.ProbeMultipart(ctx, e.b, in, probeKey(in.Config.PathPrefix)); err != nil {
			var warn *ProbeCleanupError
			if !errors.As(err, &warn) {
				return fail(err, "multipart upload (used for large files)")
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("the multipart test file %s could not be deleted (%s)", warn.Key, Classify(warn.Err).Message))
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
