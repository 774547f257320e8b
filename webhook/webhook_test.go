package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/webhook"
)

// The example of the Standard Webhooks specification's reference libraries.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func specHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, specID)
	h.Set(webhook.HeaderTimestamp, strconv.Itoa(specTS))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestSignMatchesTheSpecification(t *testing.T) {
	sig, err := webhook.Sign(specSecret, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil || sig != specSig {
		t.Fatalf("Sign = %q, %v; want %q", sig, err, specSig)
	}
}

func TestVerify(t *testing.T) {
	at := &webhook.VerifyOptions{Now: func() time.Time { return time.Unix(specTS+30, 0) }}
	if err := webhook.Verify(specSecret, specHeaders(specSig), []byte(specBody), at); err != nil {
		t.Fatalf("Verify of a good message: %v", err)
	}
	// While secrets rotate, a message carries several signatures; one matching is enough.
	if err := webhook.Verify(specSecret, specHeaders("v1,AAAA v2,xyz "+specSig), []byte(specBody), at); err != nil {
		t.Fatalf("Verify with several signatures: %v", err)
	}
	other, _ := webhook.NewSecret()
	for name, c := range map[string]struct {
		secret string
		h      http.Header
		body   string
		now    int64
		want   error
	}{
		"tampered body": {specSecret, specHeaders(specSig), `{"test": 2432232315}`, specTS, webhook.ErrBadSignature},
		"tampered id":   {specSecret, func() http.Header { h := specHeaders(specSig); h.Set(webhook.HeaderID, "msg_other"); return h }(), specBody, specTS, webhook.ErrBadSignature},
		"tampered timestamp": {specSecret, func() http.Header {
			h := specHeaders(specSig)
			h.Set(webhook.HeaderTimestamp, strconv.Itoa(specTS+1))
			return h
		}(), specBody, specTS, webhook.ErrBadSignature},
		"another secret":   {other, specHeaders(specSig), specBody, specTS, webhook.ErrBadSignature},
		"stale":            {specSecret, specHeaders(specSig), specBody, specTS + 6*60, webhook.ErrStale},
		"from the future":  {specSecret, specHeaders(specSig), specBody, specTS - 6*60, webhook.ErrStale},
		"no signature":     {specSecret, specHeaders(""), specBody, specTS, webhook.ErrMissingHeaders},
		"bad timestamp":    {specSecret, func() http.Header { h := specHeaders(specSig); h.Set(webhook.HeaderTimestamp, "yesterday"); return h }(), specBody, specTS, webhook.ErrMissingHeaders},
		"unknown version":  {specSecret, specHeaders("v9," + strings.TrimPrefix(specSig, "v1,")), specBody, specTS, webhook.ErrBadSignature},
		"malformed secret": {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", specHeaders(specSig), specBody, specTS, webhook.ErrBadSecret},
	} {
		now := c.now
		err := webhook.Verify(c.secret, c.h, []byte(c.body), &webhook.VerifyOptions{Now: func() time.Time { return time.Unix(now, 0) }})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}
