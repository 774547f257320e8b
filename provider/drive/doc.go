// Package drive delivers to Google Drive: a gocloud.dev/blob driver over the Drive v3 API, the
// OAuth 2.0 connection that obtains a workspace's refresh token, and a Driver that opens a Drive
// integration as a *blob.Bucket.
//
// # Keys and folders
//
// A bucket is rooted at a Drive folder (an integration's driveFolderId, a shared drive's ID, or My
// Drive's root). A key is split on "/": every segment but the last is a folder, found or created
// on first use and cached; the last is the file. Segments are escaped reversibly (see escapeName)
// so that empty, "." and ".." segments and control characters survive. Drive allows several
// items of one name in a folder; the driver always picks the oldest, so every writer converges
// on the same folder, and within one process concurrent writers create each folder exactly once.
//
// # Uploads
//
// A blob up to Options.ChunkSize (default 8 MiB) is sent in one multipart request when the
// writer is closed. A larger one uses a resumable session, one chunk in memory at a time: memory
// per upload is bounded by the chunk size, whatever the blob's size. The driver runs the
// resumable protocol itself (the generated client neither retries rate-limit refusals nor exposes
// the session), retrying 5xx, 408, 429 and 403 rateLimitExceeded/userRateLimitExceeded with
// exponential backoff, jitter and Retry-After, and resuming from what the server reports it holds.
// The file appears only when the last chunk is accepted; a cancelled upload leaves no file, and an
// overwritten file keeps its content until the new one is complete. Every create (and Copy) names
// a file ID reserved with files.generateIds, so a request retried after its answer was lost
// never makes a second file. An overwrite is all or nothing: the new file is created beside the
// old one, Drive's MD5 of it is checked against the bytes sent, and only then is the old one
// removed (trashed); a failure deletes the new file and leaves the old one as it was. The new
// file has a new ID and link.
//
// # Attributes and listing
//
// Size, MD5, creation and modification times come from Drive; the ETag is synthesized from the
// file ID and version. Metadata and the Cache-Control, Content-Disposition, Content-Encoding and
// Content-Language attributes, which Drive has no fields for, are kept as JSON in the file's
// appProperties (about 3 KiB at most). Listing returns keys in byte order with stable pages:
// Drive cannot order by key, so each page reads the matching folders and sorts. SignedURL is
// Unimplemented. Deletion moves files to the trash unless Options.PermanentDelete is set.
//
// # Errors
//
// ErrorCode maps 404 to NotFound, rate and quota refusals to ResourceExhausted (they are a
// *QuotaError, which provider.Classify reports as throttled, transient and retried with Google's
// backoff, or quota_exceeded for a full storage or a used-up daily quota), other 403s and
// 401 to PermissionDenied, and a revoked or expired OAuth grant (invalid_grant) to
// PermissionDenied with a *ReconnectError that matches destination.ErrReconnectRequired.
//
// # OAuth
//
// A Connector builds the authorization URL (offline access, forced consent, PKCE S256, scope
// drive.file by default) with a sealed, single-use state that expires within ten minutes, and
// completes the callback, for the signed-in caller only (another user or workspace gets
// ErrCallerMismatch), into a Connection holding the refresh token. A Driver opens an
// integration with its refresh token and saves rotated tokens through the TokenSaver that
// outputs.New installs (SetTokenSaver), or DriverOptions.TokenRotated, outside the token lock and
// under DriverOptions.TokenSaveTimeout.
//
// The drivetest package is an in-process fake of the Drive API and Google's OAuth endpoints for
// tests.
package drive
