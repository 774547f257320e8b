package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Endpoint is a workspace's webhook: where to post, and its secret sealed by SealSecret.
type Endpoint struct {
	URL          string
	SealedSecret []byte
}

// Endpoints looks up a workspace's webhook. A workspace without one gives destination.ErrNotFound
// (nothing is sent). Hosts keep endpoints with their workspace settings.
type Endpoints interface {
	Endpoint(ctx context.Context, workspaceID string) (Endpoint, error)
}

// Sealer seals and opens bytes bound to associated data (*crypto.Keyring implements it).
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// associatedData binds a sealed webhook secret to its workspace: it opens for no other.
func associatedData(workspaceID string) []byte {
	return []byte("outputs/webhook-secret\x00" + workspaceID)
}

// SealSecret seals a webhook secret of workspaceID for storage (checking its form first).
func SealSecret(s Sealer, workspaceID, secret string) ([]byte, error) {
	if _, err := secretKey(secret); err != nil {
		return nil, err
	}
	return s.Seal([]byte(secret), associatedData(workspaceID))
}

// MemoryEndpoints is an in-memory Endpoints, safe for concurrent use (tests, small hosts).
type MemoryEndpoints struct {
	mu sync.RWMutex
	m  map[string]Endpoint
}

// Set stores the webhook of workspaceID.
func (e *MemoryEndpoints) Set(workspaceID string, ep Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]Endpoint{}
	}
	e.m[workspaceID] = ep
}

// Endpoint returns the webhook of workspaceID, or destination.ErrNotFound.
func (e *MemoryEndpoints) Endpoint(_ context.Context, workspaceID string) (Endpoint, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ep, ok := e.m[workspaceID]
	if !ok {
		return Endpoint{}, destination.ErrNotFound
	}
	return ep, nil
}

// Message is one event to send.
type Message struct {
	// ID is the webhook-id: the same on every retry of one event.
	ID          string          `json:"id"`
	WorkspaceID string          `json:"workspaceId"`
	Type        string          `json:"type"`
	Timestamp   time.Time       `json:"timestamp"`
	Data        json.RawMessage `json:"data"`
}

// SendError is a failed send. Permanent ones (the endpoint answered 4xx other than 408 and 429,
// a malformed URL, a refused address) are not worth retrying.
type SendError struct {
	Status    int // the HTTP status, or 0 when none was received
	Permanent bool
	Err       error
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook: endpoint answered %d", e.Status)
	}
	return "webhook: " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// Options configure a Sender.
type Options struct {
	// Provider supplies the SSRF-guarded HTTP client (provider.Client.HTTPClient); its
	// AllowedNetworks decide which private networks a webhook may reach.
	Provider *provider.Client
	// Endpoints looks up each workspace's webhook; Keyring opens its secret.
	Endpoints Endpoints
	Keyring   Sealer
	// Timeout bounds one POST. Default 10 s.
	Timeout time.Duration
	// AllowInsecureURLs accepts http:// webhook URLs (tests, private deployments).
	AllowInsecureURLs bool
}

// Sender signs and posts messages. Safe for concurrent use.
type Sender struct {
	opts Options
	hc   *http.Client
}

// NewSender returns a Sender; Provider, Endpoints and Keyring are required.
func NewSender(opts Options) (*Sender, error) {
	if opts.Provider == nil || opts.Endpoints == nil || opts.Keyring == nil {
		return nil, errors.New("webhook: NewSender needs Provider, Endpoints and Keyring")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Sender{opts: opts, hc: opts.Provider.HTTPClient()}, nil
}

// Send posts m to its workspace's webhook, signed. A workspace without a webhook sends nothing
// and returns nil. Failures are *SendError values, which never contain the secret.
func (s *Sender) Send(ctx context.Context, m Message) error {
	ep, err := s.opts.Endpoints.Endpoint(ctx, m.WorkspaceID)
	if errors.Is(err, destination.ErrNotFound) {
		return nil
	} else if err != nil {
		return &SendError{Err: fmt.Errorf("looking up the endpoint: %w", err)}
	}
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (s.opts.AllowInsecureURLs && u.Scheme == "http")) {
		return &SendError{Permanent: true, Err: errors.New("the webhook URL must be an https URL")}
	}
	secret, err := s.opts.Keyring.Open(ep.SealedSecret, associatedData(m.WorkspaceID))
	if err != nil {
		return &SendError{Permanent: true, Err: errors.New("the webhook secret cannot be opened")}
	}
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{m.Type, m.Timestamp.UTC(), m.Data})
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	now := time.Now()
	sig, err := Sign(string(secret), m.ID, now, body)
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.hc.Do(req)
	if err != nil {
		return &SendError{Permanent: errors.Is(err, provider.ErrBlockedAddress), Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &SendError{Status: resp.StatusCode}
	default: // other 4xx, and 3xx (redirects are never followed)
		return &SendError{Status: resp.StatusCode, Permanent: true}
	}
}
