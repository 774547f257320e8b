package riverqueue

import (
	"context"
	"io"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// The delivery engine (package delivery, issue 9) is being built alongside this package. Until
// it lands, the contract's shapes are declared here; each becomes an alias of the engine's type
// (type Plan = delivery.Plan, ...) when it does, so callers' code does not change.

// Plan is a storable delivery plan: the host keeps it with its render row, and Enqueue copies it
// into the jobs' arguments. It holds no secret: targets name integrations, which the engine
// leases (with their current credentials) when a job runs.
type Plan struct {
	WorkspaceID string    `json:"workspaceId"`
	RenderID    string    `json:"renderId"`
	FileName    string    `json:"fileName"`
	ContentType string    `json:"contentType,omitempty"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	Targets     []Target  `json:"targets"`
}

// Target is a storable destination of a plan (destination.Target of the contract).
type Target struct {
	IntegrationID      string               `json:"integrationId"`
	Provider           destination.Provider `json:"provider"`
	Prefix             string               `json:"prefix"`
	IntegrationVersion int64                `json:"integrationVersion,omitempty"`
}

// Source is what an upload reads: a file (ReaderAt and Size) or a fresh reader per attempt
// (Open, such as the CDN copy).
type Source struct {
	ReaderAt io.ReaderAt
	Size     int64
	Open     func(ctx context.Context) (io.ReadCloser, error)
}

// Engine is what the queue drives: the delivery engine's entry points for one CDN copy and one
// target (delivery.Engine implements it). The queue adds durability around them; every retry
// inside one attempt, classification and upload path belong to the engine.
type Engine interface {
	// DeliverCDN copies the render to the platform CDN and returns its URL and output (key,
	// size, checksum), or an error when the copy failed for good.
	DeliverCDN(ctx context.Context, p Plan, src Source) (url string, out destination.Output, err error)
	// DeliverTarget delivers the render to p.Targets[i] and reports the outcome (completed, or
	// failed with a sanitized code and message).
	DeliverTarget(ctx context.Context, p Plan, i int, src Source) destination.Output
}

// CDNReader streams the CDN copy back (destination.CDN implements it).
type CDNReader interface {
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}
