// Package destination is the vocabulary of the outputs library: providers, integrations and their
// configuration, per-render destinations, delivery targets and outputs, the typed errors every
// layer returns, and the interfaces (Store, Uploader, Unsealer) that the other packages implement.
//
// It imports nothing else of the library. Validation reports every problem of an input at once,
// as a *ValidationError whose FieldErrors name their fields by JSON path; messages never contain
// the value of a secret field.
package destination
