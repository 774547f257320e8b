// Package provider talks to storage: it opens a *blob.Bucket per integration with the
// integration's own credentials, streams uploads into it, probes it ("test connection"), reports
// the public URL of an object, and classifies every storage error into a stable code with a
// sanitized, actionable message.
//
// A Client is built once per process with New and a Driver per provider family (provider/s3 for
// s3, r2, b2 and wasabi; provider/gcs; provider/azure; provider/drive). Every driver receives the
// same shared *http.Client, whose dialer refuses loopback, private, link-local, CGNAT, metadata
// and other special-purpose addresses at dial time (after DNS resolution, so DNS rebinding does
// not get through) and which never follows redirects. Options.AllowedNetworks opens that guard
// for tests and private deployments.
//
// Buckets are cached per (workspace, integration ID, version): credentials are unsealed only when
// an integration is first used or has changed, and a bucket is closed when it is evicted or when
// the Client is closed, once no Lease holds it.
//
// Client.Upload and the CDN of NewCDN share one write path: the source must give exactly
// UploadOptions.Size bytes, its CRC32C is computed while streaming, the stored object is read
// back to verify it, an ambiguous failure is settled by reading the object back, and a failed
// upload's leftovers (multipart uploads, uncommitted blocks) are cleaned up on a detached,
// bounded context. Every error is a *destination.UploadError. This package imports no cloud SDK:
// drivers add what is provider-specific through optional interfaces (UploadPreparer, Verifier,
// KeyMapper, ErrorClassifier, ReaderAtUploader, ServerSideCopier).
//
// An upload whose UploadOptions.CopyFrom names the object's copy in a *CDN is first written by
// the provider server-side from that copy when the destination's driver is a ServerSideCopier
// (S3 on the CDN's own service, Azure from an Azure CDN's SAS URL, GCS from a GCS CDN): no byte
// passes through the process. Any refusal or failure falls back to streaming the source, and
// UploadResult.Transfer says which way it went.
//
// Delegated credentials (an s3 role, gcs impersonation) are fetched by the drivers with the
// platform's own identity, set once in the driver's options, through the same guarded client,
// and cached with the integration's bucket until shortly before they expire. A driver that
// classifies its own failures (a refused AssumeRole or generateAccessToken is CodeAccessDenied)
// returns a *ClassifiedError. A driver implementing HealthReporter describes how an
// integration authenticates (Client.Health, shown in views); Test adds its expiry and warnings
// to the result, and CodeCredentialsExpired or the missing permission to a failure.
package provider
