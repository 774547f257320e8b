package emulator

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Unsealer is a destination.Unsealer for tests: it keeps each integration's plaintext config in
// memory (the real one, crypto.Keyring, decrypts sealed fields) and counts its calls.
type Unsealer struct {
	mu    sync.Mutex
	cfgs  map[string]destination.Config
	calls atomic.Int64
}

// Integration registers cfg (with secrets) and returns an active integration of provider p at
// version 1 whose stored Config has no secrets, as a Store would hand it out.
func (u *Unsealer) Integration(p destination.Provider, cfg destination.Config) *destination.Integration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cfgs == nil {
		u.cfgs = map[string]destination.Config{}
	}
	id := Name("int-")
	u.cfgs[id] = cfg
	secrets := map[destination.SecretField]destination.Sealed{}
	for _, f := range destination.SecretFields(p) {
		if cfg.Secret(f) != "" {
			secrets[f] = destination.Sealed{Ciphertext: []byte("sealed"), Hint: "••••"}
		}
	}
	return &destination.Integration{ID: id, WorkspaceID: "ws-test", Provider: p, Name: string(p) + " test",
		IsActive: true, Config: cfg.WithoutSecrets(), Secrets: secrets, Version: 1}
}

// Unseal returns the registered config of in.
func (u *Unsealer) Unseal(_ context.Context, in *destination.Integration) (destination.Config, error) {
	u.calls.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	cfg, ok := u.cfgs[in.ID]
	if !ok {
		return destination.Config{}, destination.ErrSecretUnavailable
	}
	// Non-secret fields come from the integration, as with the real keyring.
	out := in.Config
	for _, f := range destination.AllSecretFields() {
		out.SetSecret(f, cfg.Secret(f))
	}
	return out, nil
}

// Calls reports how many times Unseal ran.
func (u *Unsealer) Calls() int64 { return u.calls.Load() }

// Listener listens on 127.0.0.1 and counts the connections it accepts (closing each at once):
// an endpoint that proves no connection was made. It returns "http://127.0.0.1:<port>".
func Listener(t testing.TB) (endpoint string, accepted func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), n.Load
}

// ClosedEndpoint returns "http://127.0.0.1:<port>" for a port nothing listens on.
func ClosedEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
