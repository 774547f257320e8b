package destination

import (
	"context"
	"time"
)

// Destination is one entry of a render's "destinations" array in its videoJSON.
type Destination struct {
	IntegrationID string   `json:"integrationId"`
	Provider      Provider `json:"provider"`
	// PathPrefix optionally sets this render's prefix (nested under the integration's own prefix by
	// default; see resolve.Options).
	PathPrefix string `json:"pathPrefix,omitempty"`
}

// Target is a resolved delivery destination: which integration of the render's workspace, its
// provider, and the effective, normalized key prefix for this render. It is data only — no
// pointer, no secret — so a host can store it with its render row or put it on a queue and
// deliver hours later on another worker: the delivery engine leases the integration from the
// Store when it delivers (and fails that output alone if the integration is gone or inactive by
// then), so the current credentials are always the ones used.
type Target struct {
	IntegrationID string   `json:"integrationId"`
	Provider      Provider `json:"provider"`
	// Prefix is the effective, normalized key prefix ("renders/campaigns/"); "" for none. The
	// engine checks it again when it delivers.
	Prefix string `json:"prefix"`
	// IntegrationVersion is the integration's version seen when the target was resolved; for
	// diagnostics only (a later version is used if the integration changed since).
	IntegrationVersion int64 `json:"integrationVersion,omitempty"`
}

// ResolveRequest is what a render asks for: the entries of its videoJSON "destinations" array.
// Specified distinguishes an omitted "destinations" (false: the workspace default applies) from
// an explicit array (true, possibly empty: exactly these destinations). A non-empty Destinations
// counts as specified whatever Specified says.
type ResolveRequest struct {
	// Destinations are the entries, in the order the render listed them.
	Destinations []Destination
	// Specified reports that the render had a "destinations" array.
	Specified bool
}

// Resolver turns a render's destinations into targets for the caller's workspace, by the rules
// of the API (package resolve implements it). An empty result with a nil error means the
// platform CDN only.
type Resolver interface {
	Resolve(ctx context.Context, caller Caller, req ResolveRequest) ([]Target, error)
}

// OutputStatus is the state of one destination's delivery.
type OutputStatus string

// Delivery states, in order.
const (
	StatusPending   OutputStatus = "pending"
	StatusUploading OutputStatus = "uploading"
	StatusCompleted OutputStatus = "completed"
	StatusFailed    OutputStatus = "failed"
)

// Output reports what one destination received, as in the API's render status "outputs" array.
type Output struct {
	IntegrationID   string       `json:"integrationId,omitempty"`
	Provider        Provider     `json:"provider"`
	OutputKey       string       `json:"outputKey"`
	OutputURL       string       `json:"outputUrl"`
	OutputSizeBytes int64        `json:"outputSizeBytes"`
	Status          OutputStatus `json:"status"`
	// Error is a sanitized, client-safe reason when Status is failed.
	Error string `json:"error,omitempty"`
	// ErrorCode classifies the failure (same codes as TestResult.Code).
	ErrorCode string `json:"errorCode,omitempty"`
	// Checksum is the CRC32C of the bytes delivered, "crc32c:" + the base64 of its 4 big-endian
	// bytes (as GCS reports it); empty when the uploader computed none.
	Checksum string `json:"checksum,omitempty"`
	// Transfer says how the bytes reached the destination: "stream" (through the worker) or
	// "copy" (server-side from the CDN copy: UploadOptions.CopyFrom); empty when not known.
	Transfer string `json:"transfer,omitempty"`
}

// Clock returns the current time; tests substitute it.
type Clock func() time.Time
