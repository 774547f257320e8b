// Package destination is the vocabulary of the outputs library: providers, integrations and their
// configuration, per-render destinations, delivery targets and outputs, the typed errors every
// layer returns, and the interfaces (Store, Uploader, CDN, Resolver, Unsealer) that the other
// packages implement. Resolved Targets are plain data, so a delivery plan can be stored or queued.
//
// It imports nothing else of the library. Validation reports every problem of an input at once,
// as a *ValidationError whose FieldErrors name their fields by JSON path; messages never contain
// the value of a secret field.
//
// # Errors and HTTP statuses
//
// Every error the library returns is of exactly one kind: it matches (errors.Is) at most one of
// the sentinels below, and Kind names it (ErrInternal when it matches none). A host's HTTP layer
// maps the kinds to statuses by this table, which examples/server follows:
//
//	kind                  status  body
//	ErrInvalid            400     the *ValidationError's field list (errors.As); each FieldError's
//	                              Code says why, e.g. a destination's CodeNotFound, CodeInactive,
//	                              CodeMismatch, CodeSecretRequired: still a 400, never a 404
//	ErrNoWorkspace        403     the API key is not linked to a workspace
//	ErrForbidden          403     the caller may not do this (a Drive connection another user started)
//	ErrNotFound           404     no such integration in the caller's workspace
//	ErrConflict           409     the version changed: reload and retry
//	ErrInactive           409     the integration is inactive
//	ErrProviderMismatch   409     the integration is of another provider
//	ErrReconnectRequired  409     the OAuth grant was revoked: reconnect
//	ErrUnsupported        501     not available on this server (no Uploader, no Drive connector)
//	ErrSecretUnavailable  500     server fault: the stored secret does not decrypt (keyset)
//	ErrInternal           500     server fault: sealing, the Store, ...; log it, tell the client
//	                              only that the server failed
//	(none of them)        500     server fault, as ErrInternal
//
// Client errors (the 4xx rows) have texts that are safe to show; server faults are for logs.
// A context's own error (the caller gave up or its deadline passed) is returned as it is.
// Errors of the Drive OAuth callback (provider/drive's ErrStateInvalid, ErrAccessDenied, ...)
// are client errors of that flow: 400.
package destination
