package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ilovevideoeditor/outputs/webhook"
)

// A receiver verifies each message with its endpoint's secret before trusting it.
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"type":"output.completed","timestamp":"2026-12-01T10:00:00Z","data":{"renderId":"r1"}}`)
	sent := time.Now()
	sig, _ := webhook.Sign(secret, "msg_1", sent, body) // what the Sender puts in webhook-signature

	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_1")
	h.Set(webhook.HeaderTimestamp, fmt.Sprint(sent.Unix()))
	h.Set(webhook.HeaderSignature, sig)
	fmt.Println(webhook.Verify(secret, h, body, nil))

	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = '2'
	fmt.Println(webhook.Verify(secret, h, tampered, nil))
	// Output:
	// <nil>
	// webhook: no matching signature
}
