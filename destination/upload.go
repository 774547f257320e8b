package destination

import (
	"context"
	"errors"
	"io"
	"time"
)

// UploadOptions adjusts one upload.
type UploadOptions struct {
	// ContentType of the object; detected from the key's extension when empty.
	ContentType string
	// Size of the source in bytes, or -1 when unknown. When Size ≥ 0 the upload reads exactly
	// that many bytes: a source that gives fewer or more fails the upload with
	// CodeSourceSizeMismatch and nothing is committed. Note that the zero value means "exactly
	// zero bytes".
	Size int64
	// Progress, when set, is called with the running total of bytes sent (or copied
	// server-side).
	Progress func(sent int64)
	// CopyFrom, when set, names the platform CDN's copy of the bytes to upload: an Uploader whose
	// provider can write the object from it server-side (provider.Client, where the provider
	// offers it) does so without reading src; any other reads src as usual. UploadResult.Transfer
	// says which way it went.
	CopyFrom *CopySource
	// Checkpoint, when set, keeps the provider's upload session (an S3 multipart upload and
	// its parts, Azure's staged blocks, a GCS or Drive resumable session) as the upload goes,
	// so that a later upload of the same key and source, after a retry, a restart or a crash,
	// in this process or another, resumes it instead of sending every byte again. Only
	// random-access sources of known size split into parts are checkpointed (provider
	// ReaderAtSource); the others ignore it.
	//
	// With a Checkpoint, an upload that was cancelled or failed transiently keeps its session
	// for the next attempt; one that fails permanently removes it and clears the checkpoint, as
	// does a successful one. A caller that gives up on a checkpointed upload calls the
	// uploader's AbortCheckpointed (CheckpointAborter).
	Checkpoint Checkpoint
}

// Checkpoint stores the state of one upload's provider session durably: the River queue keeps
// it in the job's metadata. The state is opaque, written and read by the provider's driver; it
// names the session (an upload ID, a session URL) and the parts it holds, never a credential,
// but a GCS or Drive session URL lets whoever holds it write that one object until it expires,
// so store it as carefully as the job itself. A Checkpoint is used by one upload at a time.
type Checkpoint interface {
	// Load returns the state the last Save stored, or nil when there is none.
	Load(ctx context.Context) ([]byte, error)
	// Save stores state durably before it returns, replacing what was stored; nil clears it.
	Save(ctx context.Context, state []byte) error
}

// CheckpointAborter is an optional interface of an Uploader and of a CDN: AbortCheckpointed
// removes what the provider still holds of the checkpointed upload of key (a multipart upload,
// staged blocks, a session) and clears cp. The delivery engine calls it when an output that had
// a checkpoint fails for good. in is nil for a CDN. Nothing saved in cp is not an error.
type CheckpointAborter interface {
	AbortCheckpointed(ctx context.Context, in *Integration, key string, cp Checkpoint) error
}

// CopySource is the platform CDN's copy of an upload's bytes (UploadOptions.CopyFrom).
type CopySource struct {
	// CDN holds the copy (provider.Client copies only from a *provider.CDN).
	CDN CDN
	// Key is the copy's key, as CDN.Upload took it.
	Key string
	// Size is the copy's size in bytes: the upload's.
	Size int64
	// Checksum is the copy's CRC32C as its upload reported it (UploadResult.Checksum), or ""
	// when unknown. A server-side copy is verified against it where the provider reports one.
	Checksum string
}

// The values of UploadResult.Transfer and Output.Transfer.
const (
	// TransferStream: the bytes were read from the source and sent by this process.
	TransferStream = "stream"
	// TransferCopy: the provider wrote the object from the CDN copy server-side; no byte of it
	// passed through this process.
	TransferCopy = "copy"
)

// UploadResult describes an uploaded object.
type UploadResult struct {
	// Key is the name of the object the provider holds (for an Uploader, the stored name, which
	// differs from the requested key where the provider's driver escapes characters).
	Key string
	// URL is the object's public or presigned URL; empty when the provider has none that works.
	URL string
	// Size is the number of bytes read from the source and written.
	Size int64
	// Checksum is the CRC32C of the bytes read, "crc32c:" + the base64 of its 4 big-endian
	// bytes (as GCS reports it).
	Checksum string
	// Verified says what the provider confirmed of the committed object: "crc32c" or "md5"
	// (its checksum matched), "size" (only its size did), or "" (nothing could be checked).
	Verified string
	// Transfer says how the bytes went: TransferStream or TransferCopy ("" from an Uploader
	// that does not say).
	Transfer string
}

// The codes of an UploadError that are not connection-test codes. The connection-test codes
// (invalid_credentials, permission_denied, bucket_not_found, timeout, ...) are defined by the
// provider package.
const (
	CodeSourceSizeMismatch = "source_size_mismatch" // the source gave fewer or more bytes than UploadOptions.Size
	CodeChecksumMismatch   = "checksum_mismatch"    // the provider committed other bytes than those sent
	CodeSourceFailed       = "source_failed"        // reading the source failed
	CodeCanceled           = "canceled"             // the caller's context was cancelled
	CodeThrottled          = "throttled"            // the provider asked to slow down (429, SlowDown, ServerBusy)
	CodeUnavailable        = "unavailable"          // the provider failed or the connection broke (5xx, reset)
	CodeStalled            = "stalled"              // no progress for too long
	CodeInvalidKey         = "invalid_key"          // the object key cannot be stored as given
)

// UploadError is the error of every failed Uploader.Upload, CDN.Upload and failed connection
// test: classified once, where the provider's errors are understood. errors.As(err, &ue)
// finds it.
type UploadError struct {
	// Code classifies the failure: one of the provider package's connection-test codes or the
	// Code constants above.
	Code string
	// Message is a sanitized, client-safe explanation: it never contains a secret, a signature
	// or a raw response body.
	Message string
	// Transient reports that a later attempt may succeed.
	Transient bool
	// RetryAfter is the provider's hint of how long to wait before the next attempt, if any.
	RetryAfter time.Duration
	// Err is the cause, for logs (never shown to clients).
	Err error
}

// Error returns the code, the message and the cause.
func (e *UploadError) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *UploadError) Unwrap() error { return e.Err }

// AsUploadError returns the *UploadError in err's chain, or nil.
func AsUploadError(err error) *UploadError {
	var ue *UploadError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// Uploader writes objects to an integration's storage and tests its connection. The provider
// package implements it over the Go CDK; the delivery engine uses it, and tests may substitute
// it.
type Uploader interface {
	// Upload streams src to key in the integration's storage (key already includes any prefix).
	// A failure is (or wraps) an *UploadError.
	Upload(ctx context.Context, in *Integration, key string, src io.Reader, opts UploadOptions) (UploadResult, error)
	// Test writes and deletes a small probe object under the integration's prefix.
	Test(ctx context.Context, in *Integration) TestResult
}

// CDN is the platform's own storage every render is copied to first. provider.NewCDN implements
// it over any Go CDK bucket through the same upload path as the Uploader, so the delivery
// engine needs no storage SDK.
type CDN interface {
	// Upload streams src to key. A failure is (or wraps) an *UploadError; nothing partial is
	// ever left under key.
	Upload(ctx context.Context, key string, src io.Reader, opts UploadOptions) (UploadResult, error)
	// URL returns the download URL of key: signed (with the CDN's TTL) or its base URL plus the
	// escaped key.
	URL(ctx context.Context, key string) (string, error)
	// Open streams the CDN copy of key back (for redelivery) and returns its size.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}
