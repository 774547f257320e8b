package destination

import (
	"context"
	"io"
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

// UploadOptions adjusts one upload.
type UploadOptions struct {
	// ContentType of the object; detected from the key's extension when empty.
	ContentType string
	// Size of the source in bytes when known, or -1.
	Size int64
	// Progress, when set, is called with the running total of bytes sent.
	Progress func(sent int64)
}

// UploadResult describes an uploaded object.
type UploadResult struct {
	Key  string
	URL  string // public or presigned URL; empty when the provider has none that works
	Size int64  // bytes actually written
}

// Uploader writes objects to an integration's storage and tests its connection. The provider
// package implements it over the Go CDK; the root Service uses it, and tests may substitute it.
type Uploader interface {
	// Upload streams src to key in the integration's storage (key already includes any prefix).
	Upload(ctx context.Context, in *Integration, key string, src io.Reader, opts UploadOptions) (UploadResult, error)
	// Test writes and deletes a small probe object under the integration's prefix.
	Test(ctx context.Context, in *Integration) TestResult
}

// Clock returns the current time; tests substitute it.
type Clock func() time.Time
