// Package blobcdn is a stopgap destination.CDN over a *blob.Bucket for the examples and tests
// until provider.NewCDN (the shared upload path, on the provider branch) lands; then it is
// deleted.
package blobcdn

import (
	"context"
	"io"
	"net/url"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// CDN is a destination.CDN over a bucket.
type CDN struct {
	B                     *blob.Bucket
	BaseURL               string
	PartSize, Concurrency int
}

// Upload implements destination.CDN.
func (c *CDN) Upload(ctx context.Context, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.B.NewWriter(ctx, key, &blob.WriterOptions{ContentType: opts.ContentType, BufferSize: c.PartSize, MaxConcurrency: c.Concurrency})
	if err != nil {
		return destination.UploadResult{}, err
	}
	n, err := io.Copy(w, src)
	if err != nil {
		cancel() // abort: nothing is committed
		w.Close()
		return destination.UploadResult{}, err
	}
	if err := w.Close(); err != nil {
		return destination.UploadResult{}, err
	}
	return destination.UploadResult{Key: key, Size: n}, nil
}

// URL implements destination.CDN.
func (c *CDN) URL(ctx context.Context, key string) (string, error) {
	if c.BaseURL != "" {
		segs := strings.Split(key, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		return strings.TrimRight(c.BaseURL, "/") + "/" + strings.Join(segs, "/"), nil
	}
	return c.B.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: 24 * time.Hour})
}

// Open implements destination.CDN.
func (c *CDN) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, err := c.B.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, err
	}
	return r, r.Size(), nil
}
