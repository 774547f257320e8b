package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// errStalled is the cause of an attempt cancelled by the stall watchdog.
var errStalled = errors.New("delivery: no progress")

// job is one output going through the attempt loop: the CDN copy or a target.
type job struct {
	e   *Engine
	c   *checked
	src Source
	out *destination.Output
	ev  Event // the output's identity in events
	// lease, for a target, reads its integration before each attempt (into in).
	lease func(ctx context.Context) (*destination.Integration, *destination.UploadError)
	in    *destination.Integration
	// upload runs one attempt.
	upload func(ctx context.Context, g *guard, opts destination.UploadOptions) (destination.UploadResult, error)
	// aborter removes a checkpointed session when the output fails for good, if the uploader
	// can.
	aborter destination.CheckpointAborter
}

// abortTimeout bounds the removal of a failed output's checkpointed session.
const abortTimeout = 30 * time.Second

// run makes attempts until one succeeds, one fails permanently, the attempts or the budget run
// out, or ctx ends; it fills in the output.
func (j *job) run(ctx context.Context) {
	e, p := j.e, j.e.retry
	j.emit(Event{Kind: EventPending, Status: destination.StatusPending})
	var used time.Duration // budget spent: attempts and waits, not slot queueing
	for attempt := 1; ; attempt++ {
		res, ue, took := j.attempt(ctx, attempt, p.Budget-used)
		used += took
		if ue == nil {
			j.complete(res, attempt)
			return
		}
		if !ue.Transient || attempt >= p.MaxAttempts || ctx.Err() != nil {
			j.fail(ctx, ue, attempt)
			return
		}
		wait := p.wait(attempt, ue.RetryAfter)
		if used+wait >= p.Budget {
			j.fail(ctx, &destination.UploadError{Code: CodeTimeout, Message: "the retry budget ran out: " + ue.Message, Err: ue}, attempt)
			return
		}
		j.emit(Event{Kind: EventRetry, Status: destination.StatusUploading, Attempt: attempt, Wait: wait, Code: ue.Code, Error: ue.Message})
		e.log.WarnContext(ctx, "delivery attempt failed; retrying", "render", j.c.RenderID, "integration", j.ev.IntegrationID,
			"provider", j.ev.Provider, "attempt", attempt, "code", ue.Code, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			used += wait
		case <-ctx.Done():
			t.Stop()
			j.fail(ctx, ue, attempt)
			return
		}
	}
}

// attempt runs attempt number n within the remaining budget. took is the time it spent after
// it got its upload slots (set on return).
func (j *job) attempt(ctx context.Context, n int, remaining time.Duration) (res destination.UploadResult, ue *destination.UploadError, took time.Duration) {
	e := j.e
	if j.lease != nil {
		in, ue := j.lease(ctx)
		if ue != nil {
			return res, j.canceled(ctx, ue), 0
		}
		j.in = in
	}
	release, err := e.slots.acquire(ctx, j.c.WorkspaceID)
	if err != nil {
		return res, j.canceled(ctx, nil), 0
	}
	defer release()
	start := time.Now()
	defer func() { took = time.Since(start) }()

	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	actx, cancelBudget := context.WithTimeoutCause(actx, remaining, context.DeadlineExceeded)
	defer cancelBudget()
	g := newGuard(actx, j.src.Size)
	if e.stall > 0 { // armed first: an Open that hangs is a stall too
		stop := watch(g, e.stall, func() { cancel(errStalled) })
		defer stop()
	}
	var copyFrom *destination.CopySource
	if j.lease != nil && j.src.CDNKey != "" && e.opts.CDN != nil {
		copyFrom = &destination.CopySource{CDN: e.opts.CDN, Key: j.src.CDNKey, Size: j.src.Size, Checksum: j.src.Checksum}
	}
	if copyFrom != nil && j.src.ReaderAt == nil {
		g.openLazily(j.src) // a stream opened only if the upload reads it
	} else if err := g.open(j.src); err != nil {
		if context.Cause(actx) == errStalled && ctx.Err() == nil {
			return res, &destination.UploadError{Code: destination.CodeStalled, Transient: true,
				Message: fmt.Sprintf("opening the source made no progress for %s", e.stall), Err: err}, 0
		}
		return res, j.canceled(ctx, e.classify(err)), 0
	}
	defer g.close()

	j.out.Status = destination.StatusUploading
	j.emit(Event{Kind: EventAttempt, Status: destination.StatusUploading, Attempt: n})
	res, err = j.call(actx, g, destination.UploadOptions{ContentType: j.c.contentType, Size: j.src.Size, CopyFrom: copyFrom,
		Checkpoint: j.checkpoint(),
		Progress: func(sent int64) {
			g.lastRead.Store(time.Now().UnixNano())
			j.emit(Event{Kind: EventProgress, Status: destination.StatusUploading, Attempt: n, BytesSent: sent})
		}})
	switch {
	case ctx.Err() != nil:
		return res, j.canceled(ctx, nil), 0
	case context.Cause(actx) == errStalled:
		return res, &destination.UploadError{Code: destination.CodeStalled, Transient: true,
			Message: fmt.Sprintf("no progress for %s", e.stall), Err: err}, 0
	case actx.Err() != nil && errors.Is(context.Cause(actx), context.DeadlineExceeded):
		return res, &destination.UploadError{Code: CodeTimeout, Message: "the retry budget ran out", Err: err}, 0
	case g.failure() != nil:
		return res, g.failure(), 0 // the source's fault, whatever the uploader made of it
	case err != nil:
		return res, e.classify(err), 0
	case j.src.Checksum != "" && res.Checksum != "" && res.Checksum != j.src.Checksum:
		return res, &destination.UploadError{Code: destination.CodeChecksumMismatch,
			Message: "the delivered bytes are not the CDN copy's (checksum)"}, 0
	case res.Transfer == destination.TransferCopy && copyFrom != nil:
		if res.Size != j.src.Size {
			return res, &destination.UploadError{Code: destination.CodeSourceSizeMismatch,
				Message: fmt.Sprintf("the copy reported %d bytes, not %d", res.Size, j.src.Size)}, 0
		}
		return res, nil, 0 // written server-side: no byte was read here
	case g.taken() != j.src.Size || (res.Size != 0 && res.Size != j.src.Size):
		return res, &destination.UploadError{Code: destination.CodeSourceSizeMismatch,
			Message: fmt.Sprintf("the upload took %d bytes of the source and reported %d, not %d", g.taken(), res.Size, j.src.Size)}, 0
	}
	res.Size = g.taken()
	return res, nil, 0
}

// call runs the upload, turning a panic into a permanent failure.
func (j *job) call(ctx context.Context, g *guard, opts destination.UploadOptions) (res destination.UploadResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &destination.UploadError{Code: CodeInternal, Message: "the upload failed unexpectedly", Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	return j.upload(ctx, g, opts)
}

// canceled returns the canceled failure when ctx has ended, else ue.
func (j *job) canceled(ctx context.Context, ue *destination.UploadError) *destination.UploadError {
	if ctx.Err() != nil {
		return &destination.UploadError{Code: destination.CodeCanceled, Message: "the delivery was cancelled", Err: ctx.Err()}
	}
	return ue
}

func (j *job) complete(res destination.UploadResult, attempt int) {
	o := j.out
	o.Status, o.OutputSizeBytes, o.OutputURL, o.Checksum = destination.StatusCompleted, res.Size, res.URL, res.Checksum
	o.Transfer = res.Transfer
	o.ErrorCode, o.Error = "", ""
	if res.Key != "" {
		o.OutputKey = res.Key
	}
	j.emit(Event{Kind: EventCompleted, Status: destination.StatusCompleted, Attempt: attempt, BytesSent: res.Size, Checksum: res.Checksum})
	j.e.log.Info("delivered", "render", j.c.RenderID, "integration", j.ev.IntegrationID, "provider", j.ev.Provider,
		"bytes", res.Size, "attempts", attempt, "transfer", res.Transfer)
}

// checkpoint returns the source's checkpoint when its uploads can use one (a ReaderAt).
func (j *job) checkpoint() destination.Checkpoint {
	if j.src.ReaderAt == nil || isNil(j.src.Checkpoint) {
		return nil
	}
	return j.src.Checkpoint
}

func (j *job) fail(ctx context.Context, ue *destination.UploadError, attempt int) {
	ue = j.canceled(ctx, ue)
	if cp := j.checkpoint(); cp != nil && j.aborter != nil && ue.Code != destination.CodeCanceled {
		// Given up for good: remove the session an attempt kept to resume.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		key := j.out.OutputKey
		if err := j.aborter.AbortCheckpointed(actx, j.in, key, cp); err != nil {
			j.e.log.Warn("removing a failed upload's session", "render", j.c.RenderID, "integration", j.ev.IntegrationID,
				"code", j.e.classify(err).Code)
		}
		cancel()
	}
	o := j.out
	o.Status, o.ErrorCode, o.Error = destination.StatusFailed, ue.Code, ue.Message
	j.emit(Event{Kind: EventFailed, Status: destination.StatusFailed, Attempt: attempt, Code: ue.Code, Error: ue.Message})
	j.e.log.Error("delivery failed", "render", j.c.RenderID, "integration", j.ev.IntegrationID, "provider", j.ev.Provider,
		"attempts", attempt, "code", ue.Code)
}

func (j *job) emit(ev Event) {
	id := j.ev
	id.Kind, id.Status, id.Attempt, id.BytesSent, id.Wait, id.Code, id.Error, id.Checksum =
		ev.Kind, ev.Status, ev.Attempt, ev.BytesSent, ev.Wait, ev.Code, ev.Error, ev.Checksum
	j.e.emit(id)
}

// watch calls stalled once when g has read nothing for timeout; stop ends the watch. It runs
// on a timer, not a goroutine of its own.
func watch(g *guard, timeout time.Duration, stalled func()) (stop func()) {
	w := &watcher{g: g, timeout: timeout, stalled: stalled}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(timeout, w.check)
	return w.stop
}

type watcher struct {
	g       *guard
	timeout time.Duration
	stalled func()

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (w *watcher) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	idle := time.Since(time.Unix(0, w.g.lastRead.Load()))
	if idle >= w.timeout {
		w.stopped = true
		w.stalled()
		return
	}
	w.t.Reset(w.timeout - idle)
}

func (w *watcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}
