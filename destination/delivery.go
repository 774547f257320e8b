package destination

import (
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

// Target is a resolved delivery destination: an active integration of the caller's workspace and
// the effective, normalized key prefix for this render.
type Target struct {
	Integration *Integration
	Prefix      string
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
}

// Clock returns the current time; tests substitute it.
type Clock func() time.Time
