// Package emulator is test-only harness code for the storage emulators that scripts/test.sh
// starts (versitygw for S3, Azurite for Azure Blob, fake-gcs-server for GCS): it makes a fresh
// bucket on one and returns a destination.Config for it, and records the HTTP requests a client
// sends. Tests skip (or fail under CI=true) through internal/testenv when a server is missing.
// Nothing here is imported by the library itself.
package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
)

// Loopback is the SSRF allow-list tests pass to provider.Options.AllowedNetworks: the
// emulators listen on 127.0.0.1.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Name returns a fresh bucket or container name: prefix + 12 hex digits.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
