package riverqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ilovevideoeditor/outputs/destination"
)

// CDNArgs are the arguments of a render's CDN job, unique on (workspace, render).
type CDNArgs struct {
	WorkspaceID string `json:"workspaceId" river:"unique"`
	RenderID    string `json:"renderId" river:"unique"`
	Plan        Plan   `json:"plan"`
}

// Kind is the River job kind, "outputs.cdn".
func (CDNArgs) Kind() string { return "outputs.cdn" }

// TargetArgs are the arguments of one destination job, unique on (workspace, render,
// integration). Plan is the whole plan and Index the target's position in it, as the engine's
// DeliverTarget takes them.
//
// Args are immutable: the upload's checkpoint (the provider session, to resume mid-file after a
// crash) lives in the job's metadata under MetadataKeyCheckpoint.
type TargetArgs struct {
	WorkspaceID   string `json:"workspaceId" river:"unique"`
	RenderID      string `json:"renderId" river:"unique"`
	IntegrationID string `json:"integrationId" river:"unique"`
	Index         int    `json:"index"`
	Plan          Plan   `json:"plan"`
}

// Kind is the River job kind, "outputs.deliver".
func (TargetArgs) Kind() string { return "outputs.deliver" }

// Error codes the queue itself records.
const (
	// CodeSourceUnavailable: the render file could not be opened for the CDN copy.
	CodeSourceUnavailable = "source_unavailable"
	// CodeCDNFailed: the CDN copy failed, so a destination had nothing to read from.
	CodeCDNFailed = "cdn_failed"
	// CodeTimeout: the job ran out of time on its last attempt.
	CodeTimeout = "timeout"
	// CodeInterrupted: every attempt of the job was cut short (its worker killed or stopped,
	// the database lost) before the delivery could finish or fail.
	CodeInterrupted = "interrupted"
)

// msgInterrupted is the message of CodeInterrupted.
const msgInterrupted = "the delivery was interrupted on every attempt"

// exhausted reports whether job's attempt is the one past Config.MaxAttempts (see
// Queue.riverAttempts), which only records the failure.
func exhausted(job *rivertype.JobRow) bool {
	return job.MaxAttempts > 1 && job.Attempt >= job.MaxAttempts
}

type cdnWorker[TTx any] struct {
	river.WorkerDefaults[CDNArgs]
	q *Queue[TTx]
}

func (w *cdnWorker[TTx]) Work(ctx context.Context, job *river.Job[CDNArgs]) error {
	q, p := w.q, job.Args.Plan
	d := q.cfg.Deliveries
	if err := d.AddDelivery(ctx, record(p, q.now())); err != nil {
		return err // a database problem: River retries
	}
	rec, err := d.GetDelivery(ctx, p.WorkspaceID, p.RenderID)
	if err != nil {
		return err
	}
	if rec.Status == destination.StatusCompleted {
		return nil // done by an earlier run whose completion was lost
	}
	if q.cfg.OpenRender == nil { // a misrouted job: this process has no render files
		return river.JobSnooze(q.cfg.CDNWait)
	}
	release, ok := q.acquire(p.WorkspaceID)
	if !ok {
		return busy()
	}
	defer release()
	set := func(ctx context.Context, t destination.Transition) error {
		t.At = q.now()
		return d.TransitionRender(ctx, p.WorkspaceID, p.RenderID, t)
	}
	abort := func(ctx context.Context, a SessionAborter, cp destination.Checkpoint) error {
		return a.AbortCDN(ctx, p, cp)
	}
	if exhausted(job.JobRow) {
		q.abortSession(ctx, job.JobRow, nil, abort)
		err := q.failed(ctx, set, CodeInterrupted, msgInterrupted, nil)
		q.announce(ctx, p, "")
		return err
	}
	if err := set(ctx, destination.Transition{Status: destination.StatusUploading}); err != nil {
		return q.notStarted(ctx, job.JobRow, set, abort, err)
	}
	src, closer, err := q.cfg.OpenRender(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return q.interrupted(ctx, job.JobRow, set, nil, abort)
		}
		q.log.WarnContext(ctx, "riverqueue: render file unavailable", "workspace", p.WorkspaceID, "render", p.RenderID, "error", err)
		return q.failed(ctx, set, CodeSourceUnavailable, "the render file could not be read", err)
	}
	if src.ReaderAt != nil && src.Checkpoint == nil {
		src.Checkpoint = q.checkpoint(ctx, job.JobRow) // the upload resumes after a crash
	}
	url, out, err := q.cfg.Engine.DeliverCDN(ctx, p, src)
	if closer != nil {
		_ = closer.Close()
	}
	if ctx.Err() != nil {
		return q.interrupted(ctx, job.JobRow, set, src.Checkpoint, abort)
	}
	if err != nil {
		code, msg := out.ErrorCode, out.Error
		if code == "" {
			code, msg = "unknown", "the CDN copy failed"
		}
		err = q.failed(ctx, set, code, msg, err)
		q.announce(ctx, p, "") // delivery.completed when the render has no destination
		return err
	}
	if err := set(context.WithoutCancel(ctx), destination.Transition{Status: destination.StatusCompleted,
		Key: out.OutputKey, URL: url, SizeBytes: out.OutputSizeBytes, Checksum: out.Checksum, Transfer: out.Transfer}); err != nil {
		return err
	}
	q.announce(ctx, p, "") // delivery.completed when the render has no destination
	return nil
}

// NextRetry runs a job River retries (a worker that died and was rescued, a database error)
// soon: the engine already spent its own retries within the attempt, and a rescued upload
// resumes from its checkpoint, so River's default backoff (attempt⁴ seconds: 10 min at the 5th)
// would only hold the delivery.
func (w *cdnWorker[TTx]) NextRetry(job *river.Job[CDNArgs]) time.Time { return nextRetry(job.Attempt) }

// NextRetry: see cdnWorker.NextRetry.
func (w *targetWorker[TTx]) NextRetry(job *river.Job[TargetArgs]) time.Time {
	return nextRetry(job.Attempt)
}

// nextRetry is attempt² seconds from now, at most a minute.
func nextRetry(attempt int) time.Time {
	return time.Now().Add(time.Duration(min(attempt*attempt, 60)) * time.Second)
}

type targetWorker[TTx any] struct {
	river.WorkerDefaults[TargetArgs]
	q *Queue[TTx]
}

func (w *targetWorker[TTx]) Work(ctx context.Context, job *river.Job[TargetArgs]) error {
	q, a := w.q, job.Args
	p := a.Plan
	if a.Index < 0 || a.Index >= len(p.Targets) || p.Targets[a.Index].IntegrationID != a.IntegrationID {
		return river.JobCancel(fmt.Errorf("riverqueue: job %d: target index %d does not name integration %s", job.ID, a.Index, a.IntegrationID))
	}
	d := q.cfg.Deliveries
	rec, err := d.GetDelivery(ctx, p.WorkspaceID, p.RenderID)
	if errors.Is(err, destination.ErrNotFound) {
		return river.JobSnooze(q.cfg.CDNWait) // the CDN job records the delivery when it starts
	} else if err != nil {
		return err
	}
	o := rec.Output(a.IntegrationID)
	if o == nil { // an integration added to the render later (Redeliver)
		one := p
		one.Targets = p.Targets[a.Index : a.Index+1]
		if err := d.AddDelivery(ctx, record(one, q.now())); err != nil {
			return err
		}
	} else if o.Status == destination.StatusCompleted {
		return nil // delivered by an earlier run whose completion was lost: never twice
	}
	target := q.targetKey(p, a.Index) // recorded from the start of the upload (the janitor sweeps it)
	set := func(ctx context.Context, t destination.Transition) error {
		t.At = q.now()
		if t.Key == "" && (t.Status == destination.StatusUploading || t.Status == destination.StatusFailed) {
			t.Key = target
		}
		return d.TransitionOutput(ctx, p.WorkspaceID, p.RenderID, a.IntegrationID, t)
	}
	abort := func(ctx context.Context, sa SessionAborter, cp destination.Checkpoint) error {
		return sa.AbortTarget(ctx, p, a.Index, cp)
	}
	if exhausted(job.JobRow) {
		q.abortSession(ctx, job.JobRow, nil, abort)
		err := q.failed(ctx, set, CodeInterrupted, msgInterrupted, nil)
		q.announce(ctx, p, a.IntegrationID)
		return err
	}
	switch rec.Status {
	case destination.StatusCompleted:
	case destination.StatusFailed:
		// A failure newer than this job ends it; an older one is being redelivered: wait for it.
		if rec.FinishedAt.After(job.CreatedAt) || time.Since(job.CreatedAt) > q.cfg.JobTimeout {
			err := q.failed(ctx, set, CodeCDNFailed, "the CDN copy failed, so there was nothing to deliver", nil)
			q.announce(ctx, p, a.IntegrationID)
			return err
		}
		return river.JobSnooze(q.cfg.CDNWait)
	default:
		return river.JobSnooze(q.cfg.CDNWait)
	}
	release, ok := q.acquire(p.WorkspaceID)
	if !ok {
		return busy()
	}
	defer release()
	if err := set(ctx, destination.Transition{Status: destination.StatusUploading}); err != nil {
		return q.notStarted(ctx, job.JobRow, set, abort, err)
	}
	key, size := rec.Key, rec.SizeBytes
	src := Source{Size: size, CDNKey: key, Checksum: rec.Checksum, Open: func(ctx context.Context) (io.ReadCloser, error) {
		rc, n, err := q.cfg.CDN.Open(ctx, key)
		if err == nil && n != size {
			rc.Close()
			return nil, fmt.Errorf("riverqueue: the CDN copy is %d bytes, the record says %d", n, size)
		}
		return rc, err
	}}
	if rr, ok := q.cfg.CDN.(CDNRangeReader); ok {
		// Part by part from the CDN copy, checkpointed: the upload resumes after a crash.
		ra := newRangeReaderAt(ctx, rr, key, size)
		defer ra.Close()
		src.ReaderAt, src.Open, src.Checkpoint = ra, nil, q.checkpoint(ctx, job.JobRow)
	}
	out := q.cfg.Engine.DeliverTarget(ctx, p, a.Index, src)
	if ctx.Err() != nil {
		return q.interrupted(ctx, job.JobRow, set, src.Checkpoint, abort)
	}
	if out.Status != destination.StatusCompleted {
		code, msg := out.ErrorCode, out.Error
		if code == "" {
			code, msg = "unknown", "the delivery failed"
		}
		if out.OutputKey != "" {
			target = out.OutputKey // the key the engine wrote
		}
		err := q.failed(ctx, set, code, msg, nil)
		q.announce(ctx, p, a.IntegrationID)
		return err
	}
	if err := set(context.WithoutCancel(ctx), destination.Transition{Status: destination.StatusCompleted,
		Key: out.OutputKey, URL: out.OutputURL, SizeBytes: out.OutputSizeBytes, Checksum: out.Checksum, Transfer: out.Transfer}); err != nil {
		return err
	}
	q.announce(ctx, p, a.IntegrationID)
	return nil
}

// checkpoint returns the checkpoint of job's upload, kept sealed in its metadata.
func (q *Queue[TTx]) checkpoint(ctx context.Context, job *rivertype.JobRow) *jobCheckpoint {
	c, err := newJobCheckpoint(q.driver.GetExecutor(), q.cfg.Schema, q.cfg.Sealer, job)
	if err != nil {
		q.log.WarnContext(ctx, "riverqueue: the upload starts afresh", "job", job.ID, "error", err)
	}
	return c
}

// abortFunc removes the session a checkpoint kept, through the engine's SessionAborter.
type abortFunc func(ctx context.Context, a SessionAborter, cp destination.Checkpoint) error

// sessionAbortTimeout bounds the removal of a session when a job ends failed.
const sessionAbortTimeout = 30 * time.Second

// abortSession removes, through abort, the provider session that checkpoint cp (nil: the one
// job's metadata holds) kept, when the engine is a SessionAborter: the job is about to end
// failed with no attempt left to resume or remove it. It runs on a context of its own (the
// attempt's may have ended); a failure is logged (the janitor's Sweeper or the provider's
// expiry removes what is left).
func (q *Queue[TTx]) abortSession(ctx context.Context, job *rivertype.JobRow, cp destination.Checkpoint, abort abortFunc) {
	sa, ok := q.cfg.Engine.(SessionAborter)
	if !ok {
		return
	}
	if cp == nil {
		jc := q.checkpoint(ctx, job)
		if jc == nil {
			return
		}
		cp = jc
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sessionAbortTimeout)
	defer cancel()
	if err := abort(actx, sa, cp); err != nil {
		msg := err.Error()
		if ue := destination.AsUploadError(err); ue != nil {
			msg = ue.Code + ": " + ue.Message // sanitized: never the provider's raw answer
		}
		q.log.WarnContext(ctx, "riverqueue: removing the session of a failed job", "job", job.ID, "kind", job.Kind, "error", msg)
	}
}

// failed records a failure and ends the job for good (cancelled: it does not hold the unique
// key, so Redeliver can queue the output again). The engine already spent its retries.
func (q *Queue[TTx]) failed(ctx context.Context, set func(context.Context, destination.Transition) error, code, msg string, cause error) error {
	if err := set(context.WithoutCancel(ctx), destination.Transition{Status: destination.StatusFailed,
		ErrorCode: code, Error: msg}); err != nil {
		return err // not recorded: let River run the job again
	}
	if cause == nil {
		cause = errors.New(code)
	}
	return river.JobCancel(fmt.Errorf("%s: %w", code, cause))
}

// interrupted handles a job whose context ended: a shutdown or a rescue hands it back (its
// record goes back to pending and River runs it again); a timeout on the last attempt fails it.
// Failing it, it removes the session of the attempt's checkpoint cp (nil: the job's) through
// abort (see abortSession).
func (q *Queue[TTx]) interrupted(ctx context.Context, job *rivertype.JobRow, set func(context.Context, destination.Transition) error,
	cp destination.Checkpoint, abort abortFunc) error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && job.Attempt >= job.MaxAttempts-1 {
		q.abortSession(ctx, job, cp, abort)
		return q.failed(ctx, set, CodeTimeout, "the delivery did not finish in time", cause)
	}
	if err := set(context.WithoutCancel(ctx), destination.Transition{Status: destination.StatusPending}); err != nil {
		q.log.Warn("riverqueue: recording an interrupted job", "error", err)
	}
	return cause
}

// notStarted handles a job whose attempt could not record its start (err): when the attempt's
// context ended meanwhile (a last attempt that ran out of JobTimeout while the store was slow),
// as interrupted does; otherwise River runs it again.
func (q *Queue[TTx]) notStarted(ctx context.Context, job *rivertype.JobRow, set func(context.Context, destination.Transition) error,
	abort abortFunc, err error) error {
	if ctx.Err() != nil {
		return q.interrupted(ctx, job, set, nil, abort)
	}
	return err
}

// KeyNamer is an optional Engine interface: TargetKey returns the key DeliverTarget writes for
// p.Targets[i]. With it, a destination job records the key as its upload starts, so an output
// whose worker died mid-upload names what the janitor sweeps. *delivery.Engine implements it.
type KeyNamer interface {
	TargetKey(p Plan, i int) (string, error)
}

// targetKey is the key the engine writes for target i, or "" when the engine cannot tell.
func (q *Queue[TTx]) targetKey(p Plan, i int) string {
	kn, ok := q.cfg.Engine.(KeyNamer)
	if !ok {
		return ""
	}
	k, err := kn.TargetKey(p, i)
	if err != nil {
		return ""
	}
	return k
}
