package provider

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// CDNOptions configures NewCDN. The zero value is usable.
type CDNOptions struct {
	// BaseURL, when set, makes URL return BaseURL + "/" + the escaped stored key instead of a
	// signed URL.
	BaseURL string
	// SignedURLTTL is the lifetime of signed download URLs (default 24h).
	SignedURLTTL time.Duration
	// PartSize and Concurrency tune uploads as Options does for destinations (buffer per part,
	// parts in flight); zero leaves the bucket driver's defaults.
	PartSize, Concurrency int
	// Driver, when set, is the Driver of the bucket's provider family (s3.NewDriver(...) for an
	// s3blob bucket): its optional interfaces (UploadPreparer, ReaderAtUploader, Verifier,
	// KeyMapper, ErrorClassifier) then apply to CDN uploads as to a destination's, with a nil integration.
	// Without it, uploads are counted, checksummed, verified by size (and MD5 where the bucket
	// reports one) and never leave a partial object, but a cancelled multipart upload is cleaned
	// up only by the bucket driver's own abort.
	Driver Driver
	// CleanupTimeout bounds the cleanup of a failed upload (default 30s).
	CleanupTimeout time.Duration
	// Logger receives debug and warning records. Default: discard.
	Logger *slog.Logger
}

// CDN is the platform CDN over any Go CDK bucket. It implements destination.CDN through the same
// write path as Client.Upload. Create it with NewCDN.
type CDN struct {
	b    *blob.Bucket
	opts CDNOptions
}

var _ destination.CDN = (*CDN)(nil)

// NewCDN returns the CDN over b, which stays owned by the caller (close it after the CDN's last
// use).
func NewCDN(b *blob.Bucket, opts CDNOptions) (*CDN, error) {
	if b == nil {
		return nil, errors.New("provider: NewCDN needs a bucket")
	}
	if opts.PartSize < 0 || opts.Concurrency < 0 {
		return nil, errors.New("provider: CDNOptions.PartSize and Concurrency may not be negative")
	}
	if opts.SignedURLTTL <= 0 {
		opts.SignedURLTTL = 24 * time.Hour
	}
	if opts.CleanupTimeout <= 0 {
		opts.CleanupTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &CDN{b: b, opts: opts}, nil
}

// Upload streams src to key in the CDN bucket: see Client.Upload for the guarantees (exact
// size, CRC32C, verification, no partial object, cleanup). The result's Key is key as given
// (what URL and Open take); its URL is URL(key).
func (c *CDN) Upload(ctx context.Context, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	ctx = bounded(ctx)
	res, err := writeObject(ctx, writeSpec{b: c.b, drv: c.opts.Driver, key: key, src: src, opts: opts,
		partSize: c.opts.PartSize, concurrency: c.opts.Concurrency, cleanupTimeout: c.opts.CleanupTimeout, log: c.opts.Logger})
	res.Key = key
	if err != nil {
		return res, err
	}
	if u, err := c.URL(ctx, key); err != nil {
		c.opts.Logger.Warn("CDN URL", "key", key, "error", err)
	} else {
		res.URL = u
	}
	return res, nil
}

// AbortCheckpointed removes what the CDN's bucket still holds of the checkpointed upload of key
// (see destination.CheckpointAborter; in is ignored) and clears cp.
func (c *CDN) AbortCheckpointed(ctx context.Context, _ *destination.Integration, key string, cp destination.Checkpoint) error {
	ctx = bounded(ctx)
	if err := abortCheckpointed(ctx, c.b, c.opts.Driver, nil, key, cp); err != nil {
		return classifyWith(err, c.opts.Driver).UploadError(err)
	}
	return nil
}

var _ destination.CheckpointAborter = (*CDN)(nil)

// URL returns the download URL of key: BaseURL + the escaped stored key when BaseURL is set,
// else a GET URL signed for SignedURLTTL.
func (c *CDN) URL(ctx context.Context, key string) (string, error) {
	ctx = bounded(ctx)
	if c.opts.BaseURL != "" {
		return JoinURL(c.opts.BaseURL, storedKey(c.opts.Driver, key)), nil
	}
	u, err := c.b.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: c.opts.SignedURLTTL, Method: http.MethodGet})
	if err != nil {
		return "", classifyWith(err, c.opts.Driver).UploadError(err)
	}
	return u, nil
}

// Open streams the CDN copy of key and returns its size.
func (c *CDN) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, err := c.b.NewReader(ObjectRead(ctx), key, nil)
	if err != nil {
		return nil, 0, classifyWith(err, c.opts.Driver).UploadError(err)
	}
	return r, r.Size(), nil
}

// NewRangeReader streams n bytes of the CDN copy of key from offset off (n < 0: to its end)
// and returns the copy's whole size: a queue's destination job reads the copy part by part
// through it, so that a checkpointed upload can resume.
func (c *CDN) NewRangeReader(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	r, err := c.b.NewRangeReader(ObjectRead(ctx), key, off, n, nil)
	if err != nil {
		return nil, 0, classifyWith(err, c.opts.Driver).UploadError(err)
	}
	return r, r.Size(), nil
}
