// Package outputs delivers finished video renders to the platform CDN and to storage that
// customers own: AWS S3, Cloudflare R2, Backblaze B2, Wasabi, Google Cloud Storage, Azure Blob
// Storage and Google Drive.
//
// A host application (a render service, a custom backend, a test) builds one Service from its
// parts and calls it from its own HTTP layer:
//
//   - a destination.Store keeps the workspace integrations (destination/memstore in memory,
//     destination/sqlstore on PostgreSQL or SQLite, or the host's own);
//   - a Keyring (crypto.Keyring, Tink AEAD) seals every secret field at rest, bound to its
//     workspace, integration and field;
//   - a destination.Uploader (provider.Client, over the Go CDK) talks to the storage providers;
//   - a destination.CDN (provider.NewCDN over the platform's bucket) receives every render.
//
// The Service implements the public API: integration management (create, list, get, update,
// delete, set default, test), the legacy single default destination (get, put, test, delete),
// the Google Drive OAuth connection, resolution of a render's destinations into a storable Plan
// (package resolve), and delivery of a finished render to the CDN and every destination of its
// plan at once, by the engine of package delivery, which the Service composes.
//
// The package itself links no storage SDK and no Go CDK: the SDKs come in with the provider
// packages the host wires in, so a host's unit test over memstore stays small (package
// delivery/deliverytest has a scripted Uploader and an in-memory CDN for it).
//
// Every operation is scoped by the caller's workspace (destination.Caller); an integration of
// another workspace behaves exactly like a missing one. Views returned to callers never carry a
// secret: each secret field shows a masked hint ("••••" and its last four characters), and an
// update that omits a secret or sends the hint back keeps the stored one. Errors are typed and
// each is of exactly one kind (destination.ErrInvalid with a *destination.ValidationError naming
// every bad field, ErrNoWorkspace, ErrNotFound, ErrConflict, ..., and ErrInternal for server
// faults such as a sealing or Store failure); the destination package documents their HTTP
// statuses. None contains a secret.
package outputs
