package provider

import (
	"container/list"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Driver opens buckets for a provider family. provider/s3 (s3, r2, b2, wasabi), provider/gcs,
// provider/azure and provider/drive implement it. What else a driver offers is in optional
// interfaces the Client detects by type assertion: WriterConfigurer and MultipartProber.
type Driver interface {
	// Providers lists the providers the driver serves.
	Providers() []destination.Provider
	// Open builds a client from the integration's own credentials (cfg holds the unsealed
	// secrets) over hc, the shared, SSRF-guarded HTTP client, and opens the bucket. It must not
	// keep cfg's secrets beyond what the client needs, nor read process-wide credentials.
	Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error)
	// ObjectURL returns the URL an output reports for key (publicUrl + escaped key, the canonical
	// public URL, an R2 presigned GET when enabled, or "" when none can work). The Client
	// answers integrations with a publicUrl itself (JoinURL) and asks the driver only for
	// those without one.
	ObjectURL(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) (string, error)
}

// ConsistencyReporter is an optional Driver interface: EventuallyConsistent reports that an
// object just committed may not be found at once (Drive finds files by a search, which lags).
// Without it, an upload whose commit the provider confirmed and whose object it then says is not
// there fails (checksum_mismatch, transient), as S3, GCS and Azure read their own writes.
type ConsistencyReporter interface {
	EventuallyConsistent() bool
}

// WriterConfigurer is an optional Driver interface: ConfigureWriter adjusts the options of an
// upload's writer (Client.Upload has already set ContentType, BufferSize to Options.PartSize and
// MaxConcurrency to Options.Concurrency), for example to set provider-specific transfer options
// through BeforeWrite.
type WriterConfigurer interface {
	ConfigureWriter(b *blob.Bucket, in *destination.Integration, opts *blob.WriterOptions)
}

// MultipartProber is an optional Driver interface: ProbeMultipart writes key through the
// provider's multipart (or staged-block, or resumable) upload path with a single small part,
// then deletes it. Client.Test calls it after the simple probe, because a store can accept a
// small single-request write and still reject the multipart upload every real video needs.
type MultipartProber interface {
	ProbeMultipart(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) error
}

// ErrClosed is returned by a Client's methods after Close.
var ErrClosed = errors.New("provider: client is closed")

// ErrNoDriver is returned for an integration whose provider has no registered Driver.
var ErrNoDriver = errors.New("provider: no driver for this provider")

// Options configures a Client. The zero value is usable: every zero field takes the default
// its comment gives.
type Options struct {
	// AllowedNetworks are address ranges the SSRF guard lets through although they are private,
	// loopback or reserved: for tests (127.0.0.0/8) and private deployments (an on-premises S3
	// at 10.1.2.3). Empty by default: only public addresses are dialed.
	AllowedNetworks []netip.Prefix
	// WrapTransport, when set, wraps the shared, guarded transport (for request recording in
	// tests, or instrumentation). The guard stays underneath.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// DialTimeout bounds connecting (default 10s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake (default DialTimeout).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a response's headers once the request is
	// written (default 60s), so a tarpit endpoint cannot hold a connection and an upload slot
	// indefinitely. Negative: no limit.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle this long (default 90s).
	IdleConnTimeout time.Duration
	// ExpectContinueTimeout is how long a request with "Expect: 100-continue" waits for the
	// server's go-ahead before sending its body (default 1s).
	ExpectContinueTimeout time.Duration
	// RootCAs, when set, are the certificate authorities https endpoints are verified against
	// instead of the system's (default): for a private deployment's own CA, or a test CA.
	RootCAs *x509.CertPool
	// MaxIdleConns and MaxIdleConnsPerHost size the shared connection pool (default 256 and 32).
	MaxIdleConns, MaxIdleConnsPerHost int

	// PartSize is the part (S3), block (Azure) or chunk (GCS) size of an upload in bytes
	// (default 8 MiB, at least 5 MiB). Memory per upload is about PartSize × (Concurrency+2),
	// except for a file source (a ReaderAtSource, what the delivery engine hands uploads) on S3
	// and Azure, whose parts are sent straight from the file (ReaderAtUploader).
	// An S3 multipart upload has at most 10,000 parts, so S3 objects are limited to
	// PartSize × 10,000 (78 GiB at 8 MiB).
	PartSize int
	// Concurrency is how many parts of one upload are in flight at once (default 4).
	Concurrency int

	// CleanupTimeout bounds the cleanup of a failed or cancelled upload (aborting its multipart
	// upload, removing uncommitted blocks), which runs on a context detached from the upload's
	// and is retried with backoff until the provider confirms (default 30s).
	CleanupTimeout time.Duration

	// SkipMultipartProbe turns off Test's one-part multipart probe (on by default).
	SkipMultipartProbe bool
	// ProbeTimeout bounds one Test (default 30s).
	ProbeTimeout time.Duration
	// CacheSize is how many open buckets are kept (default 256).
	CacheSize int
	// OpenTimeout bounds opening one bucket (unsealing, building the client, any request the
	// driver makes), which concurrent callers share whatever their own contexts (default 1m).
	OpenTimeout time.Duration
	// Logger receives debug and warning records (never secrets). Default: discard.
	Logger *slog.Logger
	// Now returns the current time (default time.Now); tests substitute it.
	Now func() time.Time
}

const (
	defaultPartSize = 8 << 20
	minPartSize     = 5 << 20
)

func (o *Options) setDefaults() error {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = o.DialTimeout
	}
	switch {
	case o.ResponseHeaderTimeout == 0:
		o.ResponseHeaderTimeout = 60 * time.Second
	case o.ResponseHeaderTimeout < 0:
		o.ResponseHeaderTimeout = 0
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.ExpectContinueTimeout <= 0 {
		o.ExpectContinueTimeout = time.Second
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 256
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 32
	}
	switch {
	case o.PartSize == 0:
		o.PartSize = defaultPartSize
	case o.PartSize < minPartSize:
		return fmt.Errorf("provider: Options.PartSize %d is below the 5 MiB minimum", o.PartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = 30 * time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 30 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 256
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, p := range o.AllowedNetworks {
		if !p.IsValid() {
			return errors.New("provider: Options.AllowedNetworks holds an invalid prefix")
		}
	}
	return nil
}

// Client opens buckets for integrations, uploads to them and tests them. It implements
// destination.Uploader and is safe for concurrent use.
type Client struct {
	u       destination.Unsealer
	opts    Options
	hc      *http.Client
	drivers map[destination.Provider]Driver

	mu     sync.Mutex
	closed bool
	lru    *list.List // of *entry, most recently used first
	cache  map[cacheKey]*entry
}

var _ destination.Uploader = (*Client)(nil)

// cacheKey names one open bucket: an integration of a workspace at one version.
type cacheKey struct {
	workspace string
	id        string
	version   int64
}

// entry is one cached bucket. ready is closed once opening finished (b or err set). refs counts
// the operations using b; an evicted (dead) entry's bucket is closed when refs drops to zero.
type entry struct {
	key   cacheKey
	drv   Driver
	ready chan struct{}
	b     *blob.Bucket
	err   error
	refs  int
	dead  bool
	elem  *list.Element
}

// New returns a Client that unseals credentials through u and opens buckets with drivers (one
// per provider; a provider served by two drivers is an error).
func New(u destination.Unsealer, opts Options, drivers ...Driver) (*Client, error) {
	if u == nil {
		return nil, errors.New("provider: New needs an Unsealer")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c := &Client{u: u, opts: opts, drivers: map[destination.Provider]Driver{}, lru: list.New(), cache: map[cacheKey]*entry{}}
	for _, d := range drivers {
		if d == nil {
			return nil, errors.New("provider: New got a nil Driver")
		}
		for _, p := range d.Providers() {
			if _, dup := c.drivers[p]; dup {
				return nil, fmt.Errorf("provider: two drivers for provider %s", p)
			}
			c.drivers[p] = d
		}
	}
	c.hc = newHTTPClient(&c.opts)
	return c, nil
}

// HTTPClient returns the shared, SSRF-guarded HTTP client the drivers receive (for a driver's
// own auxiliary requests, such as an OAuth token exchange).
func (c *Client) HTTPClient() *http.Client { return c.hc }

// TokenSaverSetter is an optional Driver interface: a driver whose provider rotates OAuth refresh
// tokens (provider/drive) persists them through the TokenSaver it is given.
type TokenSaverSetter interface {
	SetTokenSaver(destination.TokenSaver)
}

// SetTokenSaver hands ts to every driver that persists rotated refresh tokens
// (TokenSaverSetter). outputs.New calls it with the Service, so hosts never wire it by hand.
func (c *Client) SetTokenSaver(ts destination.TokenSaver) {
	for _, d := range c.drivers {
		if s, ok := d.(TokenSaverSetter); ok {
			s.SetTokenSaver(ts)
		}
	}
}

// Lease returns the integration's open bucket, opening it (and unsealing the credentials) on a
// cache miss, and the release the caller must call once done with it. The bucket stays owned by
// the Client: do not close it. It stays open until released, even if evicted meanwhile (another
// version of the integration was opened, the cache is full, or the Client was closed); release
// is safe to call more than once.
func (c *Client) Lease(ctx context.Context, in *destination.Integration) (*blob.Bucket, func(), error) {
	e, err := c.acquire(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return e.b, func() { once.Do(func() { c.release(e) }) }, nil
}

// acquire returns the integration's ready cache entry with a reference the caller must release.
func (c *Client) acquire(ctx context.Context, in *destination.Integration) (*entry, error) {
	if in == nil {
		return nil, errors.New("provider: nil integration")
	}
	drv, ok := c.drivers[in.Provider]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrNoDriver, in.Provider)
	}
	key := cacheKey{in.WorkspaceID, in.ID, in.Version}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	e, hit := c.cache[key]
	if hit {
		e.refs++
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
		return c.wait(ctx, e)
	}
	e = &entry{key: key, drv: drv, ready: make(chan struct{}), refs: 1}
	e.elem = c.lru.PushFront(e)
	c.cache[key] = e
	var toClose []*blob.Bucket
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		old := el.Value.(*entry)
		if old != e && (old.key.id == key.id && old.key.workspace == key.workspace || c.lru.Len() > c.opts.CacheSize) {
			toClose = append(toClose, c.evictLocked(old)...)
		}
		el = prev
	}
	c.mu.Unlock()
	closeAll(c.opts.Logger, toClose)

	// The open is shared by every caller that waits for this entry, so it runs detached from
	// this caller's cancellation (keeping its values), under a bound of its own; each waiter,
	// this caller included, gives up on its own context only.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.OpenTimeout)
	go func() {
		defer cancel()
		b, err := func() (b *blob.Bucket, err error) {
			defer recovered(&err) // a driver's Open panicking must not kill the process
			return c.open(octx, drv, in)
		}()
		c.mu.Lock()
		e.b, e.err = b, err
		if err != nil && !e.dead {
			// Failures are not cached: the next use tries again.
			c.lru.Remove(e.elem)
			delete(c.cache, key)
		}
		var orphan *blob.Bucket // evicted (or the Client closed) while opening, and unused
		if e.dead && e.refs == 0 && e.b != nil {
			orphan, e.b = e.b, nil
		}
		close(e.ready)
		c.mu.Unlock()
		if orphan != nil {
			closeAll(c.opts.Logger, []*blob.Bucket{orphan})
		}
	}()
	return c.wait(ctx, e)
}

// wait returns e once it is ready, or gives up when ctx ends; either way without a reference
// unless it returns e.
func (c *Client) wait(ctx context.Context, e *entry) (*entry, error) {
	select {
	case <-e.ready:
	case <-ctx.Done():
		c.release(e)
		return nil, ctx.Err()
	}
	if e.err != nil {
		c.release(e)
		return nil, e.err
	}
	return e, nil
}

func (c *Client) open(ctx context.Context, drv Driver, in *destination.Integration) (*blob.Bucket, error) {
	cfg, err := c.u.Unseal(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("provider: credentials of integration %s: %w", in.ID, err)
	}
	b, err := drv.Open(ctx, in, cfg, c.hc)
	if err != nil {
		return nil, fmt.Errorf("provider: open %s integration %s: %w", in.Provider, in.ID, err)
	}
	c.opts.Logger.Debug("opened bucket", "integration", in.ID, "version", in.Version, "provider", string(in.Provider))
	return b, nil
}

// evictLocked removes e from the cache and returns its bucket when it can be closed now.
func (c *Client) evictLocked(e *entry) []*blob.Bucket {
	if e.dead {
		return nil
	}
	e.dead = true
	c.lru.Remove(e.elem)
	delete(c.cache, e.key)
	if e.refs == 0 && e.b != nil {
		b := e.b
		e.b = nil
		return []*blob.Bucket{b}
	}
	return nil
}

func (c *Client) release(e *entry) {
	c.mu.Lock()
	e.refs--
	var b *blob.Bucket
	if e.dead && e.refs == 0 && e.b != nil {
		b, e.b = e.b, nil
	}
	c.mu.Unlock()
	if b != nil {
		closeAll(c.opts.Logger, []*blob.Bucket{b})
	}
}

func closeAll(log *slog.Logger, bs []*blob.Bucket) {
	for _, b := range bs {
		if err := b.Close(); err != nil {
			log.Warn("closing bucket", "error", Classify(err).Message)
		}
	}
}

// Close closes every cached bucket (those in use close when their operation ends) and makes
// further calls fail with ErrClosed. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	var toClose []*blob.Bucket
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		toClose = append(toClose, c.evictLocked(el.Value.(*entry))...)
		el = next
	}
	c.mu.Unlock()
	var errs []error
	for _, b := range toClose {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
