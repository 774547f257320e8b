package riverqueue_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/webhook"
	"github.com/ilovevideoeditor/outputs/webhook/sender"
)

func TestWebhooksAnnounceEachOutputOnce(t *testing.T) {
	each(t, func(t *testing.T) { testWebhooks(t, sqliteBackend) },
		func(t *testing.T) { testWebhooks(t, postgresBackend) })
}

func testWebhooks[TTx any](t *testing.T, b backend[TTx]) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	events := map[string][]string{} // type → webhook-ids verified
	failFirst := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, nil); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if failFirst { // the first message meets an outage: River retries it
			failFirst = false
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &m)
		events[m.Type] = append(events[m.Type], r.Header.Get(webhook.HeaderID))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := provider.New(kr, provider.Options{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := webhook.SealSecret(kr, "ws1", secret)
	if err != nil {
		t.Fatal(err)
	}
	eps := &webhook.MemoryEndpoints{}
	eps.Set("ws1", webhook.Endpoint{URL: srv.URL, SealedSecret: sealed})
	snd, err := sender.New(sender.Options{Provider: pc, Endpoints: eps, Keyring: kr, AllowInsecureURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	h := b(t, func(c *riverqueue.Config) { c.Webhooks, c.WebhookBackoff = snd, 20*time.Millisecond })
	h.start()
	p, _ := h.render("ws1", "r1", 1024, h.integration("ws1", "good", "good"), h.integration("ws1", "bad", "bad"))
	h.enqueue(p)
	h.waitDone("ws1", "r1")

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(events[webhook.OutputCompleted]) + len(events[webhook.OutputFailed]) + len(events[webhook.DeliveryCompleted])
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events received: %v", events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.waitSettled()
	mu.Lock()
	defer mu.Unlock()
	for _, typ := range []string{webhook.OutputCompleted, webhook.OutputFailed, webhook.DeliveryCompleted} {
		if len(events[typ]) != 1 {
			t.Fatalf("%s received %d times, want once: %v", typ, len(events[typ]), events)
		}
	}
}
