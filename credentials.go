package outputs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/ilovevideoeditor/outputs/destination"
)

// keepReadOnly copies into next the read-only configuration fields an update cannot set: the
// s3 external ID, and what was read from a SAS token that the update keeps.
func keepReadOnly(cur *destination.Integration, next *destination.Config, kept []destination.SecretField) {
	next.ExternalID = cur.Config.ExternalID
	next.AzureSASPermissions, next.AzureSASExpiry = "", ""
	if slices.Contains(kept, destination.SecretAzureSASToken) && next.AzureSASToken == "" && next.AzureAccountKey == "" {
		next.AzureSASPermissions, next.AzureSASExpiry = cur.Config.AzureSASPermissions, cur.Config.AzureSASExpiry
	}
}

// setExternalID gives an s3 configuration without one the workspace's external ID: the one its
// other s3 integrations carry, or a new random one for the workspace's first. The external ID
// lives in each s3 integration's configuration (not in a table of its own) so that the Store
// contract stays as it is, it moves with the integrations in backups and migrations, and key
// rotation never touches it; it is written once, on create, and kept by every update.
func (s *Service) setExternalID(ctx context.Context, workspaceID string, p destination.Provider, cfg *destination.Config) error {
	if p != destination.S3 || cfg.ExternalID != "" {
		return nil
	}
	list, err := s.store.List(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("outputs: the workspace's external ID: %w", err)
	}
	for _, in := range list {
		if in.Provider == destination.S3 && in.Config.ExternalID != "" {
			cfg.ExternalID = in.Config.ExternalID
			return nil
		}
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("outputs: new external ID: %w", err)
	}
	cfg.ExternalID = "outputs-" + hex.EncodeToString(b[:])
	return nil
}

// healthReporter is implemented by an Uploader that can describe an integration's credential
// (provider.Client does, through its drivers).
type healthReporter interface {
	Health(in *destination.Integration) *destination.Health
}

// view is View with the integration's health (how it authenticates, when its credential
// expires, what the customer sets up) when the Uploader can tell.
func (s *Service) view(in *destination.Integration) *destination.Integration {
	v := View(in)
	if hr, ok := s.uploader.(healthReporter); ok && v != nil {
		v.Health = hr.Health(in)
	}
	return v
}
