package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
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

// OpenSecret opens a secret SealSecret sealed for workspaceID. A secret sealed for another
// workspace, or tampered with, does not open (ErrBadSecret; the error never holds a secret).
func OpenSecret(s Sealer, workspaceID string, sealed []byte) (string, error) {
	b, err := s.Open(sealed, associatedData(workspaceID))
	if err != nil {
		return "", fmt.Errorf("%w: the sealed secret does not open for this workspace", ErrBadSecret)
	}
	return string(b), nil
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
