package riverqueue

import (
	"context"
	"io"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
)

// Plan is a storable delivery plan (delivery.Plan): the host keeps it with its render row, and
// Enqueue copies it into the jobs' arguments. It holds no secret: targets name integrations,
// which the engine leases (with their current credentials) when a job runs.
type Plan = delivery.Plan

// Target is a storable destination of a plan (destination.Target).
type Target = destination.Target

// Source is what an upload reads (delivery.Source): the render file for the CDN job.
type Source = delivery.Source

// Engine is what the queue drives: the delivery engine's entry points for one CDN copy and one
// target. *delivery.Engine implements it; the queue adds durability around them, while every
// retry inside one attempt, classification and the upload path belong to the engine.
type Engine interface {
	// DeliverCDN copies the render to the platform CDN and returns its URL and output (key,
	// size, checksum), or an error when the copy failed for good.
	DeliverCDN(ctx context.Context, p Plan, src Source) (url string, out destination.Output, err error)
	// DeliverTarget delivers the render to p.Targets[i] and reports the outcome (completed, or
	// failed with a sanitized code and message).
	DeliverTarget(ctx context.Context, p Plan, i int, src Source) destination.Output
}

var (
	_ Engine         = (*delivery.Engine)(nil)
	_ KeyNamer       = (*delivery.Engine)(nil)
	_ SessionAborter = (*delivery.Engine)(nil)
)

// SessionAborter is an optional Engine interface. A job that ends its output failed with no
// attempt left to clean up (every attempt was cut short: CodeInterrupted; the last one ran out
// of time: CodeTimeout) has it remove the provider session the job's checkpoint kept, which
// would otherwise hold a resumable upload until the provider expires it: an S3 multipart upload
// or Azure's staged blocks (the janitor's Sweeper would find those later), a GCS or Drive
// session (a week, and nothing else can find it). A failure is logged, not retried.
// *delivery.Engine implements it.
type SessionAborter interface {
	// AbortCDN removes what the checkpointed CDN copy of p's render left, and clears cp.
	AbortCDN(ctx context.Context, p Plan, cp destination.Checkpoint) error
	// AbortTarget removes what the checkpointed upload of p.Targets[i] left, and clears cp.
	AbortTarget(ctx context.Context, p Plan, i int, cp destination.Checkpoint) error
}

// CDNReader streams the CDN copy back (destination.CDN implements it).
type CDNReader interface {
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

var _ CDNReader = destination.CDN(nil)
