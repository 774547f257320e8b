// Package delivery is the delivery engine: it copies a finished render to the platform CDN and to
// every customer destination of its Plan at once, and reports one destination.Output per target.
//
// It imports only package destination and the standard library: no storage SDK. Customer storage
// is reached through a destination.Uploader (provider.Client), the platform CDN through a
// destination.CDN (provider.NewCDN), and integrations are read from a destination.Store.
//
// A Plan is data (JSON): the host stores it with its render row or enqueues it when the render is
// submitted, and delivers it later, possibly on another worker. The engine leases each target's
// integration from the Store when it delivers: an integration that is gone, inactive, of another
// workspace or of another provider by then fails that output alone (code
// "integration_unavailable"); otherwise the current credentials are used.
//
// There is one upload path. The CDN copy and every target go through the same attempt loop:
//
//   - Attempts. An attempt is one whole upload. Retries are decided here, once (the provider
//     drivers turn their SDKs' own retries off): a transient failure (*destination.UploadError
//     with Transient set: throttling, 5xx, resets, timeouts, a stall) is retried after a backoff,
//     a permanent one fails at once. Any other error is permanent ("unknown") unless
//     Options.Classify says otherwise. Each attempt, its wait and its classified reason are
//     Events.
//   - Budget. RetryPolicy.Budget counts the time spent in attempts and waiting between them,
//     from the first attempt's start; time spent waiting for an upload slot does not count.
//   - Slots. An attempt holds a slot of Options.MaxConcurrentUploads (global) and of
//     Options.MaxUploadsPerWorkspace (its workspace's) only while it runs; never while it waits
//     for its next attempt. One tenant cannot take every slot.
//   - Stalls. An attempt that reads nothing from its source for Options.StallTimeout (a tarpit
//     endpoint, a black hole, an answer that never comes) is cancelled and retried as transient
//     "stalled", freeing its slots.
//   - Source. Each attempt reads the source afresh (a section of Source.ReaderAt, or a new
//     Source.Open reader) through a guard that delivers exactly Source.Size bytes: a source that
//     ends early or goes on longer fails the attempt ("source_size_mismatch") before the uploader
//     sees EOF, so nothing short is committed; a failing or panicking source fails its output
//     ("source_failed"), never the process.
//   - Server-side copies. A target delivered from the CDN copy (Source.CDNKey: CDNSource, the
//     riverqueue destination jobs) is handed the copy as UploadOptions.CopyFrom, so a provider
//     that can write it server-side does (provider.Client); the source is then never opened.
//     Output.Transfer says "copy" or "stream". Deliver streams every target from the file: the
//     CDN copy is made at the same time, so it does not exist yet.
//   - Cancellation. When ctx ends, every attempt is cancelled and Deliver returns with the
//     context's error once the uploaders have returned.
//
// Keys: the CDN copy goes to Options.CDNKeyPrefix + render ID + "/" + file name, each target to
// its Prefix + the file name (or Options.KeyTemplate). Render IDs, file names, content types and
// every stored Target are validated again when delivering, so a tampered stored Plan
// ("../../x/" as a prefix) is refused with a *destination.ValidationError naming the field.
package delivery
