// Package gcs is the provider.Driver for Google Cloud Storage, over gocloud.dev/blob/gcsblob with
// the integration's own service-account JSON key (type "service_account" only; never
// application default credentials or the environment: no GOOGLE_APPLICATION_CREDENTIALS, no
// gcloud well-known file, no metadata-server probe).
//
// The key's token_uri is where the client posts a signed JWT to get access tokens: it must be
// Google's own (https://oauth2.googleapis.com/token and its historic aliases) unless
// Options.AllowedTokenHosts admits another host, so a crafted key cannot make the library post
// to an arbitrary URL. Token requests go through the shared, SSRF-guarded HTTP client too.
//
// Config.Endpoint optionally overrides the JSON API endpoint (an emulator such as
// fake-gcs-server, or a private endpoint): requests go to <endpoint>/storage/v1/.
package gcs

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Options configures the driver. The zero value is usable.
type Options struct {
	// AllowedTokenHosts are extra token_uri hosts ("host" or "host:port") a key may name, for
	// tests and private deployments. For these hosts http is accepted too; Google's own
	// hosts always require https.
	AllowedTokenHosts []string

	// PlatformTokenSource is the platform's own Google identity (an OAuth token source with the
	// cloud-platform scope), used only to call the IAM Credentials API for integrations with
	// gcsImpersonateServiceAccount (see impersonate.go). Set once by the host; its tokens are
	// never sent to a storage endpoint.
	PlatformTokenSource oauth2.TokenSource
	// PlatformServiceAccount is the email of the platform's principal that customers grant
	// roles/iam.serviceAccountTokenCreator to; shown in views.
	PlatformServiceAccount string
	// IAMCredentialsEndpoint overrides https://iamcredentials.googleapis.com (tests:
	// iamcredentialstest).
	IAMCredentialsEndpoint string
	// ImpersonationLifetime is how long minted tokens last (default and maximum 1h).
	ImpersonationLifetime time.Duration

	// Resume says how an upload resumed from a checkpoint learns what its session holds
	// (default ResumeAuto: ask Google's endpoint, trust the checkpoint on an endpoint override).
	Resume ResumeMode
}

// Driver opens GCS buckets. Create it with NewDriver.
type Driver struct {
	opts  Options
	conns sync.Map // weak.Pointer[blob.Bucket] → *conn: the buckets Open made (resumable.go)
}

var (
	_ provider.Driver          = (*Driver)(nil)
	_ provider.UploadPreparer  = (*Driver)(nil)
	_ provider.Verifier        = (*Driver)(nil)
	_ provider.KeyMapper       = (*Driver)(nil)
	_ provider.MultipartProber = (*Driver)(nil)
	_ provider.HealthReporter  = (*Driver)(nil)
)

// googleTokenHosts are the token endpoints Google's keys name.
var googleTokenHosts = []string{"oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com"}

// NewDriver returns a driver for gcs.
func NewDriver(opts Options) *Driver {
	if opts.ImpersonationLifetime <= 0 || opts.ImpersonationLifetime > time.Hour {
		opts.ImpersonationLifetime = time.Hour
	}
	return &Driver{opts: opts}
}

// Providers returns gcs.
func (d *Driver) Providers() []destination.Provider { return []destination.Provider{destination.GCS} }

// checkTokenURI reports whether a key's token_uri may be used.
func (d *Driver) checkTokenURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return provider.BadConfig("gcsServiceAccountJson", "the key's token_uri is not a URL")
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && slices.Contains(googleTokenHosts, host):
		return nil
	case (u.Scheme == "https" || u.Scheme == "http") && slices.Contains(d.opts.AllowedTokenHosts, host):
		return nil
	}
	return provider.BadConfig("gcsServiceAccountJson", "the key's token_uri must be https://oauth2.googleapis.com/token")
}

// Open builds an authorized client from the integration's service-account key over hc and
// opens the bucket. It makes no request (the first token is fetched on first use).
func (d *Driver) Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if hc == nil {
		return nil, errors.New("gcs: Open needs an HTTP client")
	}
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		// gcsblob would then send every tenant's requests, unauthenticated, to the emulator.
		return nil, errors.New("gcs: STORAGE_EMULATOR_HOST is set in the process; unset it (use Config.Endpoint for an emulator)")
	}
	if cfg.Bucket == "" {
		return nil, provider.BadConfig("bucket", "is required")
	}
	if cfg.GCSImpersonateServiceAccount != "" && cfg.GCSServiceAccountJSON == "" {
		return d.openImpersonated(ctx, cfg, hc)
	}
	if _, err := destination.ParseServiceAccount([]byte(cfg.GCSServiceAccountJSON)); err != nil {
		return nil, provider.BadConfig("gcsServiceAccountJson", err.Error())
	}
	jc, err := google.JWTConfigFromJSON([]byte(cfg.GCSServiceAccountJSON), storage.ScopeReadWrite)
	if err != nil {
		// Not wrapped: parser errors may quote the key.
		return nil, provider.BadConfig("gcsServiceAccountJson", "is not a usable service-account key")
	}
	if err := d.checkTokenURI(jc.TokenURL); err != nil {
		return nil, err
	}
	// The token source outlives ctx (it refreshes tokens later) and must use the guarded client.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	client := &gcp.HTTPClient{Client: http.Client{
		Transport:     &oauth2.Transport{Source: jc.TokenSource(tctx), Base: hc.Transport},
		CheckRedirect: hc.CheckRedirect,
	}}
	return d.openBucket(ctx, client, cfg, &gcsblob.Options{GoogleAccessID: jc.Email, PrivateKey: jc.PrivateKey})
}

// openBucket opens cfg's bucket over client, which already carries the tenant's
// authorization. option.WithoutAuthentication keeps storage.NewClient from running Google's
// default-credential detection (which reads GOOGLE_APPLICATION_CREDENTIALS and the gcloud
// well-known file, and probes the metadata server outside the SSRF guard): the client's
// transport is used as it is.
func (d *Driver) openBucket(ctx context.Context, client *gcp.HTTPClient, cfg destination.Config, opts *gcsblob.Options) (*blob.Bucket, error) {
	opts.ClientOptions = []option.ClientOption{option.WithoutAuthentication()}
	if cfg.Endpoint != "" {
		opts.ClientOptions = append(opts.ClientOptions, option.WithEndpoint(strings.TrimRight(cfg.Endpoint, "/")+"/storage/v1/"))
	}
	ss := newSessions()
	client.Transport = earlyCompletion{base: client.Transport, sessions: ss}
	b, err := gcsblob.OpenBucket(ctx, client, cfg.Bucket, opts)
	if err != nil {
		return nil, err
	}
	// One layer retries: the delivery engine (whole uploads) and the provider's cleanups. The
	// storage client's own retries (reads, attributes, deletes: until the context ends) would
	// hold a connection test of an unreachable endpoint for its whole timeout and hide waits
	// from the engine's budget.
	var sc *storage.Client
	if b.As(&sc) {
		sc.SetRetry(storage.WithPolicy(storage.RetryNever))
	}
	d.remember(b, &client.Client, cfg, ss)
	return b, nil
}

// noUploadRetries turn the retries of a storage.Writer off. RetryNever does not: with it the
// writer passes no retry settings to the resumable upload underneath (google.golang.org/api
// gensupport), which then retries every chunk on its own defaults (5xx, connection resets)
// for up to ChunkRetryDeadline, 32 s, for instance against an endpoint that answers 403 before
// reading a chunk and drops the connection. RetryAlways with an error function that refuses
// every error hands the upload a retry setting that never retries.
var noUploadRetries = []storage.RetryOption{storage.WithPolicy(storage.RetryAlways), storage.WithErrorFunc(func(error) bool { return false })}

// chunkAlign is the granularity of resumable upload chunks.
const chunkAlign = 256 << 10

// PrepareUpload rounds the chunk size up to a multiple of 256 KiB, as resumable uploads need,
// and turns the storage client's retries off for the upload (the delivery engine retries whole
// uploads). Its cleanup cancels the resumable sessions of the key the writer started and did
// not finish (storage.Writer leaves them open for a week; file sources go through
// UploadParts, whose cleanup cancels its own session).
func (d *Driver) PrepareUpload(b *blob.Bucket, _ *destination.Integration, key string, wo *blob.WriterOptions) func(context.Context) error {
	if wo.BufferSize > 0 {
		wo.BufferSize = (wo.BufferSize + chunkAlign - 1) / chunkAlign * chunkAlign
	}
	prev := wo.BeforeWrite
	wo.BeforeWrite = func(as func(any) bool) error {
		var oh **storage.ObjectHandle
		if as(&oh) {
			*oh = (*oh).Retryer(noUploadRetries...)
		}
		if prev != nil {
			return prev(as)
		}
		return nil
	}
	return d.cancelStreamSessions(b, key)
}

// StoredCRC32C returns the CRC32C GCS computed of the object.
func (d *Driver) StoredCRC32C(a *blob.Attributes) (uint32, bool) {
	var oa storage.ObjectAttrs
	if a.As(&oa) {
		return oa.CRC32C, true
	}
	return 0, false
}

// FullMD5 reports false: GCS's CRC32C covers every object.
func (d *Driver) FullMD5() bool { return false }

// StoredKey returns the name gcsblob stores key under: CR, LF and the "/" of "../" are
// hex-escaped.
func (d *Driver) StoredKey(key string) string {
	return provider.HexEscapeKey(key, func(r []rune, i int) bool { return r[i] == 10 || r[i] == 13 || provider.DotDotSlash(r, i) })
}

// ProbeMultipart writes key through a resumable upload of two small chunks, then deletes it.
func (d *Driver) ProbeMultipart(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) error {
	var sc *storage.Client
	if !b.As(&sc) {
		return nil
	}
	obj := sc.Bucket(in.Config.Bucket).Object(key)
	w := obj.NewWriter(ctx)
	w.ChunkSize = chunkAlign
	w.ContentType = "application/octet-stream"
	if _, err := w.Write(bytes.Repeat([]byte{'.'}, chunkAlign+1)); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return provider.ProbeDeleted(key, obj.Delete(ctx))
}

// ObjectURL returns https://storage.googleapis.com/<bucket>/<key>
// (or the same path on the endpoint override). Whether it is readable depends on the bucket's
// access settings.
func (d *Driver) ObjectURL(_ context.Context, _ *blob.Bucket, in *destination.Integration, key string) (string, error) {
	c := in.Config
	base := "https://storage.googleapis.com"
	if c.Endpoint != "" {
		base = strings.TrimRight(c.Endpoint, "/")
	}
	return provider.JoinURL(base+"/"+url.PathEscape(c.Bucket), d.StoredKey(key)), nil
}
