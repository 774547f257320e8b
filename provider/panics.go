package provider

import "fmt"

// recovered, deferred, turns a panic into *err: a permanent "unknown" UploadError. The SDKs
// and the Go CDK trust the answers they parse (azureblob dereferences headers an endpoint may
// leave out), and a tenant's endpoint must not take the process down with every other tenant's
// deliveries in it. The drivers check the answers they know of; this is the last line.
func recovered(err *error) {
	if v := recover(); v != nil {
		*err = panicError(v)
	}
}

// panicError is the error of a recovered panic.
func panicError(v any) error {
	return Classified(CodeUnknown, false, "the storage provider's answer could not be handled").
		UploadError(fmt.Errorf("provider: recovered a panic: %v", v))
}
