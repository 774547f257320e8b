// Package webhook announces deliveries to a workspace's webhook URL, signed by the Standard
// Webhooks convention (https://www.standardwebhooks.com), and verifies such messages for
// receivers.
//
// A message is a POST of a JSON body {"type", "timestamp", "data"} with three headers:
// webhook-id (unique per message, the same on every retry: receivers deduplicate on it),
// webhook-timestamp (Unix seconds) and webhook-signature ("v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" keyed by the secret's bytes; a space-separated list while secrets rotate).
// Secrets are "whsec_" + base64 of 24 random bytes (NewSecret); at rest they are sealed with the
// keyring (SealSecret), bound to their workspace, like every other secret of the library.
//
// Package webhook/sender posts messages through the provider package's SSRF-guarded HTTP client
// (this package links no provider or cloud SDK, so receivers can import it for Verify alone).
// delivery/riverqueue sends the events output.completed, output.failed and delivery.completed
// as River jobs, retried with backoff.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event types.
const (
	OutputCompleted   = "output.completed"
	OutputFailed      = "output.failed"
	DeliveryCompleted = "delivery.completed"
)

// Header names of the Standard Webhooks convention.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

// Errors of Verify and of secret parsing. Verify's errors match one of them (errors.Is).
var (
	// ErrBadSecret: the secret is not "whsec_" + base64 of at least 16 bytes.
	ErrBadSecret = errors.New("webhook: malformed secret")
	// ErrMissingHeaders: a webhook-id, webhook-timestamp or webhook-signature header is missing
	// or malformed.
	ErrMissingHeaders = errors.New("webhook: missing or malformed webhook headers")
	// ErrStale: the timestamp is outside the tolerance (a replay, or a clock far off).
	ErrStale = errors.New("webhook: message timestamp outside the tolerance")
	// ErrBadSignature: no signature matches the message (tampered, or another secret).
	ErrBadSignature = errors.New("webhook: no matching signature")
)

// NewSecret returns a new random secret, "whsec_" + base64 of 24 bytes.
func NewSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey decodes a secret to its HMAC key.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || !strings.HasPrefix(secret, secretPrefix) || len(key) < 16 {
		return nil, ErrBadSecret // never quotes the secret
	}
	return key, nil
}

// Sign returns the webhook-signature value ("v1,<base64>") of a message.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(unix, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifyOptions adjusts Verify.
type VerifyOptions struct {
	// Tolerance is how far the timestamp may be from now, either way. Default 5 minutes.
	Tolerance time.Duration
	// Now is the current time. Default time.Now.
	Now func() time.Time
}

// Verify checks a received message: its headers, its timestamp against the tolerance, and that
// one of its v1 signatures is the HMAC of id.timestamp.body under secret (compared in constant
// time). body must be the raw request body, unparsed. It returns nil, or an error matching
// ErrMissingHeaders, ErrStale, ErrBadSignature or ErrBadSecret.
func Verify(secret string, h http.Header, body []byte, opts *VerifyOptions) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	var o VerifyOptions
	if opts != nil {
		o = *opts
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if id == "" || sigs == "" || err != nil {
		return ErrMissingHeaders
	}
	if d := o.Now().Sub(time.Unix(unix, 0)); d > o.Tolerance || d < -o.Tolerance {
		return fmt.Errorf("%w (%s)", ErrStale, d.Round(time.Second))
	}
	want := mac(key, id, unix, body)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
