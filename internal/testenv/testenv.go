// Package testenv finds the test servers that scripts/test.sh starts (versitygw, Azurite,
// fake-gcs-server, PostgreSQL). A test that needs one and cannot find it skips with a one-line
// reason, or fails when the CI environment variable is "true".
package testenv

import (
	"os"
	"testing"
)

// Need returns the value of the environment variable name, which scripts/test.sh exports once the
// server it describes (what) is running. When it is unset the test skips, or fails under CI=true.
func Need(t testing.TB, name, what string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	Missing(t, what+" not running ("+name+" unset; scripts/test.sh starts it)")
	return ""
}

// Missing skips the test with reason, or fails it when CI=true.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI: %s", reason)
	}
	t.Skip(reason)
}

// Short skips a slow test in -short mode (never under CI=true).
func Short(t testing.TB, reason string) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: " + reason)
	}
}
