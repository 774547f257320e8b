package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// DeliveryOptions configure Deliver. The zero value is usable once CDN is set.
type DeliveryOptions struct {
	// CDN is the platform CDN bucket every render is copied to first (fileblob in the quickstart,
	// the platform's bucket in production). Deliver fails with ErrUnsupported without it.
	CDN *blob.Bucket
	// CDNKeyPrefix is prepended to CDN keys ("renders/"). CDN keys are prefix + render ID + "/" +
	// file name.
	CDNKeyPrefix string
	// CDNBaseURL, when set, makes the top-level url CDNBaseURL + "/" + key instead of a signed URL.
	CDNBaseURL string
	// CDNPartSize and CDNConcurrency tune the CDN upload like provider.Options does the
	// destinations' (buffer per part, parts in flight); zero leaves the CDN driver's defaults.
	// Memory for the CDN copy is about CDNPartSize × (CDNConcurrency+1).
	CDNPartSize, CDNConcurrency int
	// SignedURLTTL is the lifetime of the signed CDN download URL. Default 24h.
	SignedURLTTL time.Duration
	// MaxConcurrentUploads bounds the uploads in flight across all deliveries of the Service, and
	// with it memory: at most this many × the per-upload buffer. Default 8.
	MaxConcurrentUploads int
	// Retry governs retries of transient failures (5xx, throttling, resets, timeouts).
	Retry RetryPolicy
	// KeyTemplate, when set, names the object under the effective prefix. It may use {renderId},
	// {name} (file name without extension), {ext} (extension without the dot) and {date}
	// (YYYY-MM-DD, UTC). Default "{name}.{ext}": the render's file name.
	KeyTemplate string
	// OnEvent, when set, is called on every status transition and progress update of every
	// destination. It must be fast and must not block; it is called from many goroutines.
	OnEvent func(Event)
	// Classify maps an upload error to a client-safe code and message and says whether a retry
	// may help. Defaults to provider.Classify.
	Classify func(error) provider.Classification
}

// RetryPolicy is exponential backoff with full jitter, bounded by attempts and total time.
type RetryPolicy struct {
	MaxAttempts int           // including the first; default 4
	BaseDelay   time.Duration // default 500ms
	MaxDelay    time.Duration // default 10s
	Budget      time.Duration // total time for one destination, all attempts; default 30m
}

// Event reports progress or a status change of one destination of one render.
type Event struct {
	RenderID      string
	IntegrationID string // empty for the CDN copy
	Provider      destination.Provider
	Status        destination.OutputStatus
	BytesSent     int64
	Attempt       int
	// Error is the sanitized reason of a failed (or retried) attempt.
	Error string
}

// Source is a finished render's bytes: each destination reads it independently through a
// section reader, so the file is streamed once per destination and never loaded whole.
type Source struct {
	ReaderAt io.ReaderAt
	Size     int64
}

// FileSource opens a file as a Source; close the returned closer when the delivery is done.
func FileSource(name string) (Source, io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return Source{}, nil, fmt.Errorf("outputs: open render file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return Source{}, nil, fmt.Errorf("outputs: stat render file: %w", err)
	}
	return Source{ReaderAt: f, Size: st.Size()}, f, nil
}

// Render is a finished render to deliver.
type Render struct {
	// ID of the render (job); part of the CDN key and of {renderId}.
	ID string
	// WorkspaceID owns the render; every target's integration is looked up in it.
	WorkspaceID string
	// FileName is the output's file name ("render.mp4"); sanitized before use.
	FileName string
	// ContentType; detected from the file name when empty.
	ContentType string
	Source      Source
	// FinishedAt is used for {date}; defaults to now.
	FinishedAt time.Time
}

// Delivery is a render's status after delivery, shaped like the API's render status.
type Delivery struct {
	ID     string `json:"id"`
	Status string `json:"status"` // "completed", or "failed" when the CDN copy failed
	// URL is the signed download URL of the CDN copy (always the CDN, never a destination).
	URL     string               `json:"url"`
	Outputs []destination.Output `json:"outputs"`
}

// ErrCDN marks a failed CDN copy.
var ErrCDN = errors.New("outputs: the CDN copy failed")

// Deliver copies a finished render to the CDN and to every target at once, and returns its
// status with one output per target. Each target is independent: a failing or slow destination
// never fails or delays another; transient failures are retried with backoff within the retry
// budget, permanent ones (credentials, permissions, missing bucket, reconnect required) fail
// fast. Deliver returns an error only for bad input, a missing CDN, a cancelled context, or a
// failed CDN copy (then with the outputs filled in too).
func (s *Service) Deliver(ctx context.Context, r Render, targets []destination.Target) (*Delivery, error) {
	d := s.opts.Delivery
	if d.CDN == nil {
		return nil, fmt.Errorf("outputs: deliver: no CDN bucket configured: %w", destination.ErrUnsupported)
	}
	var probs destination.Problems
	if r.ID == "" || len(r.ID) > 128 || strings.ContainsAny(r.ID, "/\\") || strings.IndexFunc(r.ID, unicode.IsControl) >= 0 {
		probs.Add("render.id", destination.CodeInvalid, "must be 1-128 characters without slashes or control characters")
	}
	if r.Source.ReaderAt == nil || r.Source.Size < 0 {
		probs.Add("render.source", destination.CodeRequired, "is required (ReaderAt and Size)")
	}
	name := SanitizeFileName(r.FileName, r.ID)
	for i, t := range targets {
		if t.IntegrationID == "" {
			probs.Add(fmt.Sprintf("targets[%d].integrationId", i), destination.CodeRequired, "is required")
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	ct := r.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
	}
	when := r.FinishedAt
	if when.IsZero() {
		when = s.now()
	}
	leaf := expandKeyTemplate(d.KeyTemplate, r.ID, name, when)

	out := &Delivery{ID: r.ID, Outputs: make([]destination.Output, len(targets))}
	var wg sync.WaitGroup
	var cdnErr error
	wg.Go(func() {
		key := d.CDNKeyPrefix + r.ID + "/" + name
		out.URL, cdnErr = s.deliverCDN(ctx, r, key, ct)
	})
	for i, t := range targets {
		out.Outputs[i] = destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider,
			OutputKey: t.Prefix + leaf, Status: destination.StatusPending}
		s.emit(Event{RenderID: r.ID, IntegrationID: t.IntegrationID, Provider: t.Provider, Status: destination.StatusPending})
	}
	for i, t := range targets {
		wg.Go(func() { s.deliverTarget(ctx, r, t, ct, &out.Outputs[i]) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("outputs: deliver: %w", err)
	}
	if cdnErr != nil {
		out.Status = "failed"
		return out, cdnErr
	}
	out.Status = "completed"
	return out, nil
}

func (s *Service) emit(e Event) {
	if f := s.opts.Delivery.OnEvent; f != nil {
		f(e)
	}
}

// acquire takes an upload slot, or fails when ctx ends first.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) deliverCDN(ctx context.Context, r Render, key, contentType string) (string, error) {
	d := s.opts.Delivery
	s.emit(Event{RenderID: r.ID, Status: destination.StatusUploading, Attempt: 1})
	err := s.withRetry(ctx, func(ctx context.Context, attempt int) error {
		release, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		src := io.NewSectionReader(r.Source.ReaderAt, 0, r.Source.Size)
		return d.CDN.Upload(ctx, key, src, &blob.WriterOptions{ContentType: contentType,
			BufferSize: d.CDNPartSize, MaxConcurrency: d.CDNConcurrency})
	}, func(err error) bool { return s.classify(err).Transient })
	if err != nil {
		s.emit(Event{RenderID: r.ID, Status: destination.StatusFailed, Error: "CDN copy failed"})
		s.log.ErrorContext(ctx, "CDN copy failed", "render", r.ID, "code", gcerrors.Code(err).String())
		return "", fmt.Errorf("%w: %s", ErrCDN, gcerrors.Code(err))
	}
	s.emit(Event{RenderID: r.ID, Status: destination.StatusCompleted, BytesSent: r.Source.Size})
	if d.CDNBaseURL != "" {
		return strings.TrimRight(d.CDNBaseURL, "/") + "/" + escapeKey(key), nil
	}
	ttl := d.SignedURLTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	u, err := d.CDN.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: ttl})
	if err != nil {
		s.log.WarnContext(ctx, "CDN signed URL unavailable", "render", r.ID, "code", gcerrors.Code(err).String())
		return "", nil
	}
	return u, nil
}

func (s *Service) deliverTarget(ctx context.Context, r Render, t destination.Target, contentType string, o *destination.Output) {
	ev := Event{RenderID: r.ID, IntegrationID: t.IntegrationID, Provider: t.Provider}
	in, err := s.store.Get(ctx, r.WorkspaceID, t.IntegrationID)
	if err != nil || in == nil || in.WorkspaceID != r.WorkspaceID || !in.IsActive || in.Provider != t.Provider {
		o.Status, o.ErrorCode, o.Error = destination.StatusFailed, "integration_unavailable", "the integration no longer exists or is inactive"
		ev.Status, ev.Error = o.Status, o.Error
		s.emit(ev)
		return
	}
	if s.uploader == nil {
		o.Status, o.ErrorCode, o.Error = destination.StatusFailed, "unsupported", "no uploader is configured for customer storage"
		ev.Status, ev.Error = o.Status, o.Error
		s.emit(ev)
		return
	}
	var res destination.UploadResult
	err = s.withRetry(ctx, func(ctx context.Context, attempt int) error {
		release, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		ev.Status, ev.Attempt, ev.BytesSent, ev.Error = destination.StatusUploading, attempt, 0, ""
		o.Status = destination.StatusUploading
		s.emit(ev)
		src := io.NewSectionReader(r.Source.ReaderAt, 0, r.Source.Size)
		res, err = s.uploader.Upload(ctx, in, o.OutputKey, src, destination.UploadOptions{
			ContentType: contentType, Size: r.Source.Size,
			Progress: func(n int64) {
				e := ev
				e.BytesSent = n
				s.emit(e)
			},
		})
		return err
	}, func(err error) bool {
		c := s.classify(err)
		if c.Transient {
			e := ev
			e.Error = c.Message
			s.emit(e)
			s.log.WarnContext(ctx, "delivery attempt failed; retrying", "render", r.ID, "integration", in.ID,
				"provider", in.Provider, "code", c.Code)
		}
		return c.Transient
	})
	if err != nil {
		c := s.classify(err)
		if ctx.Err() != nil {
			c = provider.Classification{Code: "canceled", Message: "the delivery was cancelled"}
		}
		o.Status, o.ErrorCode, o.Error = destination.StatusFailed, c.Code, c.Message
		ev.Status, ev.Error = o.Status, c.Message
		s.emit(ev)
		s.log.ErrorContext(ctx, "delivery failed", "render", r.ID, "integration", in.ID, "provider", in.Provider, "code", c.Code)
		return
	}
	o.Status, o.OutputSizeBytes, o.OutputURL = destination.StatusCompleted, res.Size, res.URL
	if res.Key != "" {
		o.OutputKey = res.Key
	}
	ev.Status, ev.BytesSent, ev.Error = o.Status, res.Size, ""
	s.emit(ev)
	s.log.InfoContext(ctx, "delivered", "render", r.ID, "integration", in.ID, "provider", in.Provider, "bytes", res.Size)
}

func (s *Service) classify(err error) provider.Classification {
	if f := s.opts.Delivery.Classify; f != nil {
		return f(err)
	}
	return provider.Classify(err)
}

// withRetry runs op until it succeeds, fails permanently (retryable returns false), runs out of
// attempts or budget, or ctx ends.
func (s *Service) withRetry(ctx context.Context, op func(ctx context.Context, attempt int) error, retryable func(error) bool) error {
	p := s.opts.Delivery.Retry
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Second
	}
	if p.Budget <= 0 {
		p.Budget = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	var err error
	for attempt := 1; ; attempt++ {
		if err = op(ctx, attempt); err == nil {
			return nil
		}
		if attempt >= p.MaxAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		backoff := p.BaseDelay << (attempt - 1)
		if backoff > p.MaxDelay || backoff <= 0 {
			backoff = p.MaxDelay
		}
		delay := time.Duration(rand.Int64N(int64(backoff)) + 1) // full jitter
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
	}
}

// SanitizeFileName returns name reduced to a safe object file name: its last path element, with
// control characters, slashes and backslashes removed and surrounding dots and spaces trimmed;
// renderID + ".mp4" when nothing is left.
func SanitizeFileName(name, renderID string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\uFFFD' {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > 255 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:255-len(ext)], "") + ext
	}
	if name == "" {
		name = strings.Trim(renderID, " .") + ".mp4"
	}
	return name
}

// expandKeyTemplate names the object under the prefix.
func expandKeyTemplate(tmpl, renderID, name string, when time.Time) string {
	if tmpl == "" {
		return name
	}
	ext := strings.TrimPrefix(path.Ext(name), ".")
	base := strings.TrimSuffix(name, path.Ext(name))
	r := strings.NewReplacer("{renderId}", renderID, "{name}", base, "{ext}", ext, "{date}", when.UTC().Format("2006-01-02"))
	key := r.Replace(tmpl)
	// The template is the host's, but the values are not: keep the result relative and clean.
	var parts []string
	for _, seg := range strings.Split(key, "/") {
		if seg != "" && seg != "." && seg != ".." {
			parts = append(parts, seg)
		}
	}
	if len(parts) == 0 {
		return name
	}
	return strings.Join(parts, "/")
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
