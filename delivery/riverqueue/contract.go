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
	_ Engine   = (*delivery.Engine)(nil)
	_ KeyNamer = (*delivery.Engine)(nil)
)

// CDNReader streams the CDN copy back (destination.CDN implements it).
type CDNReader interface {
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

var _ CDNReader = destination.CDN(nil)
