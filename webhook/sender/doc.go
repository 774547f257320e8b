// Package sender posts signed webhook messages (see package webhook) through the provider
// package's SSRF-guarded HTTP client: the same dial-time guard as storage endpoints (no private,
// loopback, link-local or metadata address unless allowed; no redirect followed). It is the only
// webhook package that links the provider packages; receivers need only package webhook.
package sender
