package webhook_test

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/webhook"
)

// fuzzSecret turns fuzzed bytes into a well-formed secret ("whsec_" + base64 of 16..64 bytes).
func fuzzSecret(seed []byte) string {
	key := make([]byte, 0, 64)
	key = append(key, seed...)
	for len(key) < 16 {
		key = append(key, byte(len(key)))
	}
	if len(key) > 64 {
		key = key[:64]
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func fuzzHeaders(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func at(unix int64) *webhook.VerifyOptions {
	return &webhook.VerifyOptions{Now: func() time.Time { return time.Unix(unix, 0) }}
}

// FuzzVerifySignedMessage: a message signed with Sign for the fuzzed secret, id, timestamp and
// body verifies; changing the body, the id, the timestamp, the signature bytes, the signature
// version or the secret makes Verify fail with the documented error value (errors.Is).
func FuzzVerifySignedMessage(f *testing.F) {
	f.Add([]byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), uint(3))
	f.Add([]byte("0123456789abcdef"), "evt_1", int64(0), []byte{}, uint(0))
	f.Add([]byte("k"), "msg.with.dots", int64(-1), []byte(`{"type":"output.completed","timestamp":"2024-01-01T00:00:00Z","data":{"outputId":"o1"}}`), uint(17))
	f.Add([]byte("\x00\xff\x10secretsecretsecretsecret"), "id with spaces", int64(math.MaxInt64-1), []byte("\x00\x01binary"), uint(1<<40))
	f.Fuzz(func(t *testing.T, seed []byte, id string, ts int64, body []byte, idx uint) {
		if len(body) > 4096 || len(id) > 256 {
			return
		}
		secret := fuzzSecret(seed)
		sig, err := webhook.Sign(secret, id, time.Unix(ts, 0), body)
		if err != nil {
			t.Fatalf("Sign with a well-formed secret: %v", err)
		}
		tsText := strconv.FormatInt(ts, 10)
		err = webhook.Verify(secret, fuzzHeaders(id, tsText, sig), body, at(ts))
		if id == "" {
			if !errors.Is(err, webhook.ErrMissingHeaders) {
				t.Fatalf("Verify with an empty id = %v, want ErrMissingHeaders", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Verify of a message signed by Sign = %v", err)
		}

		// Mutated body: one byte changed, or one byte added to an empty body.
		mb := append([]byte(nil), body...)
		if len(mb) == 0 {
			mb = append(mb, 'x')
		} else {
			mb[idx%uint(len(mb))] ^= 0x01
		}
		if err := webhook.Verify(secret, fuzzHeaders(id, tsText, sig), mb, at(ts)); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify with a mutated body = %v, want ErrBadSignature", err)
		}
		// Mutated id.
		if err := webhook.Verify(secret, fuzzHeaders(id+"x", tsText, sig), body, at(ts)); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify with a mutated id = %v, want ErrBadSignature", err)
		}
		// Mutated timestamp (inside the tolerance, so only the signature can reject it).
		if ts < math.MaxInt64 {
			if err := webhook.Verify(secret, fuzzHeaders(id, strconv.FormatInt(ts+1, 10), sig), body, at(ts+1)); !errors.Is(err, webhook.ErrBadSignature) {
				t.Fatalf("Verify with a mutated timestamp = %v, want ErrBadSignature", err)
			}
		}
		// Mutated signature bytes (re-encoded canonically, so it is well-formed base64).
		raw, err := base64.StdEncoding.DecodeString(sig[len("v1,"):])
		if err != nil || len(raw) != 32 {
			t.Fatalf("Sign returned %q: not v1,<base64 of 32 bytes>", sig)
		}
		raw[idx%uint(len(raw))] ^= 0x80
		bad := "v1," + base64.StdEncoding.EncodeToString(raw)
		if err := webhook.Verify(secret, fuzzHeaders(id, tsText, bad), body, at(ts)); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify with a mutated signature = %v, want ErrBadSignature", err)
		}
		// Another version prefix.
		if err := webhook.Verify(secret, fuzzHeaders(id, tsText, "v2"+sig[2:]), body, at(ts)); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify with signature version v2 = %v, want ErrBadSignature", err)
		}
		// Another (well-formed) secret.
		other := fuzzSecret(append([]byte("other"), seed...))
		if other != secret {
			if err := webhook.Verify(other, fuzzHeaders(id, tsText, sig), body, at(ts)); !errors.Is(err, webhook.ErrBadSignature) {
				t.Fatalf("Verify under another secret = %v, want ErrBadSignature", err)
			}
		}
		// Missing headers.
		if err := webhook.Verify(secret, fuzzHeaders(id, "", sig), body, at(ts)); !errors.Is(err, webhook.ErrMissingHeaders) {
			t.Fatalf("Verify without a timestamp = %v, want ErrMissingHeaders", err)
		}
		if err := webhook.Verify(secret, fuzzHeaders(id, tsText, ""), body, at(ts)); !errors.Is(err, webhook.ErrMissingHeaders) {
			t.Fatalf("Verify without a signature = %v, want ErrMissingHeaders", err)
		}
		// Outside the tolerance (default 5 minutes), either way.
		if ts > math.MinInt64+3600 && ts < math.MaxInt64-3600 {
			if err := webhook.Verify(secret, fuzzHeaders(id, tsText, sig), body, at(ts+301)); !errors.Is(err, webhook.ErrStale) {
				t.Fatalf("Verify 301 s late = %v, want ErrStale", err)
			}
			if err := webhook.Verify(secret, fuzzHeaders(id, tsText, sig), body, at(ts-301)); !errors.Is(err, webhook.ErrStale) {
				t.Fatalf("Verify 301 s early = %v, want ErrStale", err)
			}
		}
	})
}

// FuzzVerifyArbitraryHeaders: Verify never panics on arbitrary secrets, header values and bodies,
// and every error it returns matches one of ErrBadSecret, ErrMissingHeaders, ErrStale or
// ErrBadSignature (errors.Is). A nil result only happens with a well-formed secret, an id, and a
// signature list, and the error never quotes the secret.
func FuzzVerifyArbitraryHeaders(f *testing.F) {
	f.Add(specSecret, specID, strconv.Itoa(specTS), specSig, []byte(specBody), int64(specTS+30))
	f.Add(specSecret, specID, strconv.Itoa(specTS), "v1,AAAA v2,xyz "+specSig, []byte(specBody), int64(specTS))
	f.Add("whsec_", "", "", "", []byte{}, int64(0))
	f.Add("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", specID, "+1614265330", "v1,", []byte("{}"), int64(specTS))
	f.Add(specSecret, specID, "99999999999999999999", "v1,====", []byte("x"), int64(-1))
	f.Add(specSecret, "msg", "-9223372036854775808", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= ,, v1", []byte("x"), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, secret, id, ts, sigs string, body []byte, now int64) {
		if len(body) > 4096 || len(sigs) > 4096 {
			return
		}
		err := webhook.Verify(secret, fuzzHeaders(id, ts, sigs), body, at(now))
		if err == nil {
			if id == "" || sigs == "" {
				t.Fatalf("Verify accepted a message without id or signature")
			}
			if _, perr := strconv.ParseInt(ts, 10, 64); perr != nil {
				t.Fatalf("Verify accepted the malformed timestamp %q", ts)
			}
			return
		}
		known := false
		for _, e := range []error{webhook.ErrBadSecret, webhook.ErrMissingHeaders, webhook.ErrStale, webhook.ErrBadSignature} {
			if errors.Is(err, e) {
				known = true
			}
		}
		if !known {
			t.Fatalf("Verify = %v: matches none of the package's errors", err)
		}
		if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
			t.Fatalf("Verify's error %q quotes the secret", err)
		}
	})
}
