package destination

import (
	"context"
	"time"
)

// Integration is a saved storage configuration of a workspace. It is what a Store keeps: secret
// configuration fields are sealed in Secrets and empty in Config. The JSON form uses the API's
// camelCase names and never includes Secrets; views handed to clients additionally show a masked
// hint in place of each secret (see the root package's Service).
type Integration struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspaceId"`
	Provider    Provider `json:"provider"`
	Name        string   `json:"name"`
	IsActive    bool     `json:"isActive"`
	IsDefault   bool     `json:"isDefault"`
	Config      Config   `json:"config"`
	// Secrets holds each secret field's sealed value, keyed by field. Never marshalled.
	Secrets   map[SecretField]Sealed `json:"-"`
	CreatedAt time.Time              `json:"createdAt"`
	UpdatedAt time.Time              `json:"updatedAt"`
	// Version starts at 1 and grows by one with every stored change; updates must present the
	// version they read.
	Version int64 `json:"version"`
	// LastTest is the outcome of the most recent connection test, if any.
	LastTest *TestResult `json:"lastTest,omitempty"`
	// Health is set in views only (never stored): how the integration authenticates, when its
	// credential expires, and what the customer sets up in their cloud.
	Health *Health `json:"health,omitempty"`
}

// Sealed is a secret encrypted by the keyring, bound to its workspace, integration and field.
type Sealed struct {
	// Ciphertext is the Tink ciphertext (5-byte key prefix, nonce, data, tag).
	Ciphertext []byte
	// KeyID is the ID of the keyset key that sealed it (for rotation sweeps).
	KeyID uint32
	// Hint is a masked hint shown in views ("••••" + the last 4 characters), or "••••".
	Hint string
}

// Clone returns a deep copy of i (nil for nil).
func (i *Integration) Clone() *Integration {
	if i == nil {
		return nil
	}
	c := *i
	if i.Secrets != nil {
		c.Secrets = make(map[SecretField]Sealed, len(i.Secrets))
		for k, v := range i.Secrets {
			v.Ciphertext = append([]byte(nil), v.Ciphertext...)
			c.Secrets[k] = v
		}
	}
	if i.LastTest != nil {
		t := *i.LastTest
		t.Warnings = append([]string(nil), t.Warnings...)
		if t.CredentialExpiresAt != nil {
			e := *t.CredentialExpiresAt
			t.CredentialExpiresAt = &e
		}
		c.LastTest = &t
	}
	c.Health = i.Health.Clone()
	return &c
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	// OK reports whether the probe object was written (and deleted).
	OK bool `json:"ok"`
	// Code classifies the outcome: "ok", "invalid_credentials", "permission_denied",
	// "bucket_not_found", "wrong_region", "endpoint_unreachable", "tls_error",
	// "provider_incompatible", "timeout", "reconnect_required", "access_denied" (the platform may
	// not assume the role or impersonate the service account), "credentials_expired", "unknown".
	Code string `json:"code"`
	// Message is an actionable, sanitized explanation; never contains a secret.
	Message string `json:"message,omitempty"`
	// Warnings lists non-fatal problems (such as a probe that could not be deleted, or a
	// credential that expires within 14 days).
	Warnings []string `json:"warnings,omitempty"`
	// CredentialExpiresAt is when the credential expires, where known (a SAS token's expiry).
	CredentialExpiresAt *time.Time `json:"credentialExpiresAt,omitempty"`
	// TestedAt is when the test ran.
	TestedAt time.Time `json:"testedAt"`
	// DurationMillis is how long the test took.
	DurationMillis int64 `json:"durationMs"`
}

// Caller is who is making a request: the workspace it acts in, and how it authenticated.
type Caller struct {
	// WorkspaceID is the caller's workspace. Empty for an API key not linked to a workspace.
	WorkspaceID string
	// UserID is the authenticated user, if any (used as the actor of the Drive connection).
	UserID string
	// APIKeyOnly reports that the caller authenticated only with an API key.
	APIKeyOnly bool
}

// Store persists integrations. Implementations must satisfy this contract, which
// destination/storetest checks:
//
//   - Every method is scoped by workspace: an ID that exists only in another workspace behaves
//     exactly like a missing one (ErrNotFound).
//   - Create stores a copy of in with Version 1; the caller sets ID, WorkspaceID and timestamps.
//     An existing ID gives ErrConflict.
//   - Update stores in if in.Version equals the stored version (else ErrConflict; a missing
//     integration gives ErrNotFound), and increments the version. CreatedAt is kept as stored.
//   - The last test result is not part of the versioned configuration: Create stores
//     in.LastTest, Update keeps the stored one whatever in.LastTest holds (and returns it), and
//     only SetLastTest changes it afterwards, without changing Version or UpdatedAt.
//   - When Create or Update stores an integration with IsDefault set, the store clears IsDefault
//     on every other integration of that workspace (incrementing their versions) in the same
//     atomic step: at no time does a workspace have two defaults, whatever the concurrency.
//   - List returns a workspace's integrations ordered by CreatedAt, then ID.
//   - Scan pages over every workspace's integrations ordered by ID in byte order (as Go
//     compares strings, whatever the database's collation), those with ID > after, at most
//     limit of them (for maintenance sweeps such as key rotation).
//   - Values passed in and returned are copies: mutating them never changes the stored data.
//   - Safe for concurrent use.
type Store interface {
	Create(ctx context.Context, in *Integration) (*Integration, error)
	Get(ctx context.Context, workspaceID, id string) (*Integration, error)
	List(ctx context.Context, workspaceID string) ([]*Integration, error)
	Update(ctx context.Context, in *Integration) (*Integration, error)
	Delete(ctx context.Context, workspaceID, id string) error
	// GetDefault returns the workspace's default integration, or ErrNotFound when it has none.
	GetDefault(ctx context.Context, workspaceID string) (*Integration, error)
	Scan(ctx context.Context, after string, limit int) ([]*Integration, error)
	// SetLastTest records result (nil clears it) as the integration's last test, only if its
	// stored version is still version: a result for a configuration that has changed since
	// gives ErrConflict and changes nothing (a missing integration gives ErrNotFound). It
	// changes neither Version nor UpdatedAt.
	SetLastTest(ctx context.Context, workspaceID, id string, version int64, result *TestResult) error
}

// Unsealer opens an integration's sealed secrets: it returns a copy of in.Config with every
// secret field filled in with its plaintext. The plaintext must only live as long as it takes to
// build a client. crypto.Keyring implements it.
type Unsealer interface {
	Unseal(ctx context.Context, in *Integration) (Config, error)
}

// TokenSaver persists an OAuth refresh token that the provider rotated for an integration, so
// the rotation is never lost. outputs.Service implements it and hands itself to an Uploader
// that accepts one (provider.Client.SetTokenSaver); hosts do not wire it by hand.
type TokenSaver interface {
	SaveDriveToken(ctx context.Context, in *Integration, refreshToken string) error
}
