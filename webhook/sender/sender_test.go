package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/webhook"
	"github.com/ilovevideoeditor/outputs/webhook/sender"
)

// receiver is a webhook endpoint on loopback that verifies what it receives.
type receiver struct {
	srv      *httptest.Server
	secret   string
	status   atomic.Int32
	received atomic.Int32
	verified atomic.Int32
	lastBody atomic.Value
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.secret, _ = webhook.NewSecret()
	r.status.Store(http.StatusNoContent)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.received.Add(1)
		if webhook.Verify(r.secret, req.Header, body, nil) == nil {
			r.verified.Add(1)
			r.lastBody.Store(body)
		}
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func newSender(t *testing.T, r *receiver, allowLoopback bool) *sender.Sender {
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	var popts provider.Options
	if allowLoopback {
		popts.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	pc, err := provider.New(kr, popts)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := webhook.SealSecret(kr, "ws1", r.secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), r.secret) {
		t.Fatal("the sealed secret contains the secret")
	}
	eps := &webhook.MemoryEndpoints{}
	eps.Set("ws1", webhook.Endpoint{URL: r.srv.URL + "/hooks", SealedSecret: sealed})
	eps.Set("ws-other", webhook.Endpoint{URL: r.srv.URL + "/hooks", SealedSecret: sealed}) // another workspace's seal
	s, err := sender.New(sender.Options{Provider: pc, Endpoints: eps, Keyring: kr, AllowInsecureURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func message(ws string) webhook.Message {
	return webhook.Message{ID: "msg_1", WorkspaceID: ws, Type: webhook.OutputCompleted, Timestamp: time.Now(),
		Data: json.RawMessage(`{"renderId":"r1","provider":"s3","status":"completed"}`)}
}

func TestSenderSignsAndClassifies(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t)
	s := newSender(t, r, true)
	if err := s.Send(ctx, message("ws1")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r.verified.Load() != 1 {
		t.Fatalf("receiver verified %d of %d messages", r.verified.Load(), r.received.Load())
	}
	var got struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.lastBody.Load().([]byte), &got); err != nil || got.Type != webhook.OutputCompleted {
		t.Fatalf("body = %s, %v", r.lastBody.Load(), err)
	}

	for status, permanent := range map[int]bool{500: false, 503: false, 429: false, 408: false, 400: true, 410: true, 301: true} {
		r.status.Store(int32(status))
		var se *webhook.SendError
		if err := s.Send(ctx, message("ws1")); !errors.As(err, &se) || se.Status != status || se.Permanent != permanent {
			t.Fatalf("answer %d: Send = %v, want a SendError, permanent %v", status, err, permanent)
		}
	}
	// A workspace without a webhook sends nothing; a secret sealed for another workspace does not open.
	if err := s.Send(ctx, message("ws-none")); err != nil {
		t.Fatalf("Send without a webhook: %v", err)
	}
	var se *webhook.SendError
	if err := s.Send(ctx, message("ws-other")); !errors.As(err, &se) || !se.Permanent || strings.Contains(err.Error(), r.secret) {
		t.Fatalf("Send with another workspace's sealed secret = %v", err)
	}
}

func TestSenderRefusesLoopbackThroughTheGuard(t *testing.T) {
	r := newReceiver(t)
	s := newSender(t, r, false) // the default guard: no loopback
	err := s.Send(context.Background(), message("ws1"))
	var se *webhook.SendError
	if !errors.As(err, &se) || !se.Permanent || !errors.Is(err, provider.ErrBlockedAddress) {
		t.Fatalf("Send to loopback = %v, want a permanent ErrBlockedAddress", err)
	}
	if n := r.received.Load(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}
