package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Options configure an Engine. Store is required; the zero value of everything else is usable.
type Options struct {
	// Store is where each target's integration is leased from when it is delivered.
	Store destination.Store
	// Uploader writes to customer storage (provider.Client). Without it every target fails
	// with code "unsupported".
	Uploader destination.Uploader
	// CDN is the platform CDN every render is copied to (provider.NewCDN). Deliver and
	// DeliverCDN fail with destination.ErrUnsupported without it.
	CDN destination.CDN
	// CDNKeyPrefix is prepended to CDN keys ("renders/"); it must be a normalized prefix (see
	// destination.NormalizePrefix). CDN keys are CDNKeyPrefix + render ID + "/" + file name.
	CDNKeyPrefix string
	// KeyTemplate, when set, names each target's object under its prefix. It may use
	// {renderId}, {name} (file name without extension), {ext} (extension without the dot) and
	// {date} (YYYY-MM-DD, UTC). Default "{name}.{ext}": the render's file name.
	KeyTemplate string
	// Retry governs the attempts of every output (see RetryPolicy; zero fields take
	// DefaultRetryPolicy's values).
	Retry RetryPolicy
	// MaxConcurrentUploads bounds the attempts in flight across all deliveries of the Engine,
	// and with them memory (at most this many × the per-upload buffer). Default 8.
	MaxConcurrentUploads int
	// MaxUploadsPerWorkspace bounds the attempts in flight of one workspace, under
	// MaxConcurrentUploads, so one tenant's deliveries (or its slow endpoint) cannot take every
	// slot. Default MaxConcurrentUploads/2 (at least 1).
	MaxUploadsPerWorkspace int
	// StallTimeout cancels an attempt that reads nothing from its source for this long (it is
	// then retried as transient "stalled"). Default 2 minutes; it must exceed the longest pause
	// of a healthy upload: one part's upload on the slowest link you serve, and the provider's
	// commit after the last byte. Negative disables stall detection.
	StallTimeout time.Duration
	// Classify, when set, classifies an upload error that is not a *destination.UploadError
	// (from an Uploader or CDN of the host's own). Without it such errors are permanent
	// "unknown".
	Classify func(error) *destination.UploadError
	// OnEvent, when set, receives every event of every output (see Event). It must be fast, must
	// not block and must not panic; it is called from many goroutines.
	OnEvent func(Event)
	// Logger receives structured logs, never a secret. Defaults to slog.Default().
	Logger *slog.Logger
	// Clock returns the current time (for a Plan without FinishedAt). Defaults to time.Now.
	Clock func() time.Time
}

// Engine delivers renders. It is safe for concurrent use; share one per process, so that its
// upload limits hold across every delivery.
type Engine struct {
	opts  Options
	retry RetryPolicy
	slots *slots
	stall time.Duration
	log   *slog.Logger
	now   func() time.Time
}

// ErrBadOptions reports an Engine built with invalid options.
var ErrBadOptions = errors.New("delivery: invalid options")

// ErrCDN marks a failed CDN copy.
var ErrCDN = errors.New("delivery: the CDN copy failed")

// CDNProvider is the Provider of the CDN copy's Output (DeliverCDN). It names no integration.
const CDNProvider destination.Provider = "cdn"

// Codes of outputs the engine fails itself (the others come from the uploaders' UploadErrors).
const (
	CodeIntegrationUnavailable = "integration_unavailable" // gone, inactive, or not the target's any more
	CodeUnsupported            = "unsupported"             // no Uploader configured
	CodeInvalid                = "invalid"                 // the plan or source is invalid (DeliverTarget)
	CodeUnknown                = "unknown"                 // an unclassified error
	CodeInternal               = "internal"                // an uploader panicked
	CodeTimeout                = "timeout"                 // the retry budget ran out
)

// New returns an Engine.
func New(opts Options) (*Engine, error) {
	if isNil(opts.Store) {
		return nil, fmt.Errorf("%w: Store is required", ErrBadOptions)
	}
	if isNil(opts.Uploader) {
		opts.Uploader = nil
	}
	if isNil(opts.CDN) {
		opts.CDN = nil
	}
	if p, err := destination.NormalizePrefix(opts.CDNKeyPrefix); err != nil || p != opts.CDNKeyPrefix {
		return nil, fmt.Errorf("%w: CDNKeyPrefix %q is not a normalized prefix", ErrBadOptions, opts.CDNKeyPrefix)
	}
	e := &Engine{opts: opts, retry: opts.Retry.withDefaults(), log: opts.Logger, now: opts.Clock, stall: opts.StallTimeout}
	global := opts.MaxConcurrentUploads
	if global <= 0 {
		global = 8
	}
	perWS := opts.MaxUploadsPerWorkspace
	if perWS <= 0 {
		perWS = max(1, global/2)
	}
	e.slots = newSlots(global, min(perWS, global))
	if e.stall == 0 {
		e.stall = 2 * time.Minute
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// EventKind says what an Event reports.
type EventKind string

// The kinds of events, in the order an output goes through them.
const (
	EventPending   EventKind = "pending"   // the output is known, nothing started
	EventAttempt   EventKind = "attempt"   // attempt Attempt started (it holds its upload slots)
	EventProgress  EventKind = "progress"  // BytesSent bytes of the attempt were sent
	EventRetry     EventKind = "retry"     // attempt Attempt failed with Code/Error (transient); the next starts after Wait
	EventCompleted EventKind = "completed" // delivered: BytesSent bytes, Checksum
	EventFailed    EventKind = "failed"    // failed for good after Attempt attempts, with Code/Error
)

// Event reports progress or a status change of one output of one render.
type Event struct {
	Kind          EventKind
	WorkspaceID   string
	RenderID      string
	IntegrationID string               // empty for the CDN copy
	Provider      destination.Provider // CDNProvider for the CDN copy
	Status        destination.OutputStatus
	Attempt       int
	BytesSent     int64
	// Wait is the backoff before the next attempt (EventRetry).
	Wait time.Duration
	// Code and Error classify a failed attempt or output; Error is client-safe.
	Code, Error string
	// Checksum of the delivered bytes (EventCompleted), when the uploader computed one.
	Checksum string
}

// Delivery is a render's status after delivery, shaped like the API's render status.
type Delivery struct {
	ID string `json:"id"`
	// Status is "completed", or "failed" when the CDN copy failed or the delivery was cancelled.
	Status string `json:"status"`
	// URL is the download URL of the CDN copy (always the CDN, never a destination).
	URL     string               `json:"url"`
	Outputs []destination.Output `json:"outputs"`
}

// Deliver copies a render to the CDN and to every target of p at once, and returns its status
// with one output per target, in order. Outputs are independent: a failing or slow destination
// never fails or delays another. Deliver returns an error for an invalid plan or source (a
// *destination.ValidationError naming the field, nothing delivered), without a CDN
// (destination.ErrUnsupported), when ctx ends (its error, with the outputs so far), or when the
// CDN copy failed (ErrCDN, with the outputs filled in).
func (e *Engine) Deliver(ctx context.Context, p Plan, src Source) (*Delivery, error) {
	if e.opts.CDN == nil {
		return nil, fmt.Errorf("delivery: no CDN configured: %w", destination.ErrUnsupported)
	}
	c, err := e.checkPlan(p, src, true, 0)
	if err != nil {
		return nil, err
	}
	src.Checkpoint = nil // one checkpoint names one upload
	d := &Delivery{ID: p.RenderID, Outputs: make([]destination.Output, len(p.Targets))}
	for i := range p.Targets {
		d.Outputs[i] = e.pendingOutput(c, i)
	}
	var wg sync.WaitGroup
	var cdnOut destination.Output
	wg.Go(func() { d.URL, cdnOut = e.deliverCDN(ctx, c, src) })
	for i := range p.Targets {
		wg.Go(func() { d.Outputs[i] = e.deliverTarget(ctx, c, i, src) })
	}
	wg.Wait()
	d.Status = "completed"
	if err := ctx.Err(); err != nil {
		d.Status = "failed"
		return d, fmt.Errorf("delivery: deliver: %w", err)
	}
	if cdnOut.Status != destination.StatusCompleted {
		d.Status = "failed"
		return d, fmt.Errorf("%w: %s", ErrCDN, cdnOut.ErrorCode)
	}
	return d, nil
}

// DeliverCDN makes only the CDN copy of p's render (a queue job of its own): it returns the
// copy's download URL and its output (Provider CDNProvider). The error is as for Deliver.
func (e *Engine) DeliverCDN(ctx context.Context, p Plan, src Source) (url string, out destination.Output, err error) {
	if e.opts.CDN == nil {
		return "", destination.Output{}, fmt.Errorf("delivery: no CDN configured: %w", destination.ErrUnsupported)
	}
	c, err := e.checkPlan(cdnPlan(p), src, true, 0)
	if err != nil {
		return "", destination.Output{}, err
	}
	url, out = e.deliverCDN(ctx, c, src)
	switch {
	case ctx.Err() != nil:
		return url, out, fmt.Errorf("delivery: deliver CDN copy: %w", ctx.Err())
	case out.Status != destination.StatusCompleted:
		return url, out, fmt.Errorf("%w: %s", ErrCDN, out.ErrorCode)
	}
	return url, out, nil
}

// DeliverTarget delivers p's render to its target i only (a queue job per destination) and
// returns that output. An invalid plan, source or index gives a failed output with code
// "invalid" and the problem in Error.
func (e *Engine) DeliverTarget(ctx context.Context, p Plan, i int, src Source) destination.Output {
	c, err := e.checkPlan(p, src, false, i)
	if err != nil {
		out := destination.Output{Status: destination.StatusFailed, ErrorCode: CodeInvalid, Error: err.Error()}
		if i >= 0 && i < len(p.Targets) {
			out.IntegrationID, out.Provider = p.Targets[i].IntegrationID, p.Targets[i].Provider
		}
		return out
	}
	return e.deliverTarget(ctx, c, i, src)
}

// TargetKey returns the object key DeliverTarget writes for p.Targets[i] (its prefix and the
// plan's file name under the key template), without delivering anything: a queue records it
// when the upload starts, so what a dead worker left can be swept. A plan without FinishedAt
// takes the time of the call, as DeliverTarget does. An invalid plan or index gives the
// *destination.ValidationError DeliverTarget would report.
func (e *Engine) TargetKey(p Plan, i int) (string, error) {
	c, err := e.checkPlan(p, noSource, false, i)
	if err != nil {
		return "", err
	}
	return c.Targets[i].Prefix + c.leaf, nil
}

// noSource stands for the source where only the plan is checked (no upload is made).
var noSource = Source{Open: func(context.Context) (io.ReadCloser, error) { return nil, io.EOF }}

// AbortTarget removes what the provider still holds of the checkpointed upload of p's target i
// (the session cp kept: an S3 multipart upload, Azure's staged blocks, a GCS or Drive resumable
// session), then clears cp. A delivery that fails for good does it itself; a queue calls it for
// an output it ends failed with no attempt left to do it (every attempt interrupted, or the
// last one out of time). The integration is leased as DeliverTarget leases it, so a deleted or
// inactive one gives its *destination.UploadError (nothing can be sent without its
// credentials). It returns nil when cp holds no session, or when the Uploader cannot abort (it
// is no destination.CheckpointAborter); an invalid plan or index gives the
// *destination.ValidationError DeliverTarget would report.
func (e *Engine) AbortTarget(ctx context.Context, p Plan, i int, cp destination.Checkpoint) error {
	a, ok := e.opts.Uploader.(destination.CheckpointAborter)
	if !ok || isNil(cp) {
		return nil
	}
	c, err := e.checkPlan(p, noSource, false, i)
	if err != nil {
		return err
	}
	in, ue := e.lease(ctx, c.WorkspaceID, c.Targets[i])
	if ue != nil {
		return ue
	}
	return a.AbortCheckpointed(ctx, in, c.Targets[i].Prefix+c.leaf, cp)
}

// AbortCDN is AbortTarget for the CDN copy of p's render (its targets are ignored).
func (e *Engine) AbortCDN(ctx context.Context, p Plan, cp destination.Checkpoint) error {
	a, ok := e.opts.CDN.(destination.CheckpointAborter)
	if !ok || isNil(cp) {
		return nil
	}
	c, err := e.checkPlan(cdnPlan(p), noSource, true, 0)
	if err != nil {
		return err
	}
	return a.AbortCheckpointed(ctx, nil, e.cdnKey(c), cp)
}

// cdnPlan is p without its targets: what the CDN copy depends on.
func cdnPlan(p Plan) Plan {
	return Plan{WorkspaceID: p.WorkspaceID, RenderID: p.RenderID, FileName: p.FileName, ContentType: p.ContentType, FinishedAt: p.FinishedAt}
}

// cdnKey is the key of c's CDN copy.
func (e *Engine) cdnKey(c *checked) string { return e.opts.CDNKeyPrefix + c.RenderID + "/" + c.name }

func (e *Engine) pendingOutput(c *checked, i int) destination.Output {
	t := c.Targets[i]
	return destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider, OutputKey: t.Prefix + c.leaf,
		Status: destination.StatusPending}
}

// deliverCDN makes the CDN copy through the attempt loop.
func (e *Engine) deliverCDN(ctx context.Context, c *checked, src Source) (string, destination.Output) {
	key := e.cdnKey(c)
	o := destination.Output{Provider: CDNProvider, OutputKey: key, Status: destination.StatusPending}
	j := &job{e: e, c: c, src: src, out: &o, ev: Event{WorkspaceID: c.WorkspaceID, RenderID: c.RenderID, Provider: CDNProvider},
		upload: func(ctx context.Context, g *guard, opts destination.UploadOptions) (destination.UploadResult, error) {
			return e.opts.CDN.Upload(ctx, key, g.source(), opts)
		}}
	if a, ok := e.opts.CDN.(destination.CheckpointAborter); ok {
		j.aborter = a
	}
	j.run(ctx)
	if o.Status != destination.StatusCompleted {
		return "", o
	}
	u, err := e.opts.CDN.URL(ctx, o.OutputKey)
	if err != nil {
		e.log.WarnContext(ctx, "CDN URL unavailable", "render", c.RenderID, "code", e.classify(err).Code)
		return "", o
	}
	o.OutputURL = u
	return u, o
}

// deliverTarget delivers to target i through the attempt loop, leasing its integration first.
func (e *Engine) deliverTarget(ctx context.Context, c *checked, i int, src Source) destination.Output {
	t := c.Targets[i]
	o := e.pendingOutput(c, i)
	j := &job{e: e, c: c, src: src, out: &o,
		ev: Event{WorkspaceID: c.WorkspaceID, RenderID: c.RenderID, IntegrationID: t.IntegrationID, Provider: t.Provider}}
	j.lease = func(ctx context.Context) (*destination.Integration, *destination.UploadError) {
		return e.lease(ctx, c.WorkspaceID, t)
	}
	j.upload = func(ctx context.Context, g *guard, opts destination.UploadOptions) (destination.UploadResult, error) {
		if e.opts.Uploader == nil {
			return destination.UploadResult{}, &destination.UploadError{Code: CodeUnsupported, Message: "no uploader is configured for customer storage"}
		}
		return e.opts.Uploader.Upload(ctx, j.in, o.OutputKey, g.source(), opts)
	}
	if a, ok := e.opts.Uploader.(destination.CheckpointAborter); ok {
		j.aborter = a
	}
	j.run(ctx)
	return o
}

// lease reads target t's integration as it is now.
func (e *Engine) lease(ctx context.Context, workspace string, t destination.Target) (*destination.Integration, *destination.UploadError) {
	in, err := e.opts.Store.Get(ctx, workspace, t.IntegrationID)
	switch {
	case errors.Is(err, destination.ErrNotFound):
		return nil, &destination.UploadError{Code: CodeIntegrationUnavailable, Message: "the integration no longer exists", Err: err}
	case err != nil:
		return nil, &destination.UploadError{Code: destination.CodeUnavailable, Message: "the integration could not be read", Transient: true, Err: err}
	case in == nil || in.WorkspaceID != workspace || in.ID != t.IntegrationID:
		return nil, &destination.UploadError{Code: CodeIntegrationUnavailable, Message: "the integration no longer exists"}
	case !in.IsActive:
		return nil, &destination.UploadError{Code: CodeIntegrationUnavailable, Message: "the integration is inactive"}
	case in.Provider != t.Provider:
		return nil, &destination.UploadError{Code: CodeIntegrationUnavailable, Message: "the integration is no longer a " + string(t.Provider) + " integration"}
	}
	return in, nil
}

func (e *Engine) emit(ev Event) {
	if f := e.opts.OnEvent; f != nil {
		f(ev)
	}
}

// classify maps any error to an UploadError.
func (e *Engine) classify(err error) *destination.UploadError {
	var ue *destination.UploadError
	if errors.As(err, &ue) {
		return ue
	}
	if f := e.opts.Classify; f != nil {
		if ue := f(err); ue != nil {
			return ue
		}
	}
	return &destination.UploadError{Code: CodeUnknown, Message: "the upload failed", Err: err}
}
