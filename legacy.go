package outputs

import (
	"context"
	"strings"

	"github.com/ilovevideoeditor/outputs/destination"
)

// The legacy single-destination API (GET/PUT/DELETE /v1/destination, POST /v1/destination/test)
// maps onto the workspace's default integration.

// legacyName names a default destination created through PutDefault without a name.
const legacyName = "Default destination"

// GetDefault returns the view of the caller's default integration, or destination.ErrNotFound.
func (s *Service) GetDefault(ctx context.Context, caller destination.Caller) (*destination.Integration, error) {
	in, err := s.getDefault(ctx, caller)
	if err != nil {
		return nil, err
	}
	return s.view(in), nil
}

func (s *Service) getDefault(ctx context.Context, caller destination.Caller) (*destination.Integration, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	in, err := s.store.GetDefault(ctx, caller.WorkspaceID)
	if err != nil {
		return nil, storeErr("default destination", err)
	}
	return in, nil
}

// PutDefault creates the caller's default destination, or replaces the current default in place
// (same ID). The input is the whole destination: provider, name (optional here), isActive
// (default true) and config; isDefault is implied. When the provider stays the same, omitted
// secrets keep their stored values; a different provider needs all of its secrets.
func (s *Service) PutDefault(ctx context.Context, caller destination.Caller, in CreateInput) (*destination.Integration, error) {
	if strings.TrimSpace(in.Name) == "" {
		in.Name = legacyName
	}
	in.IsDefault = true
	cur, err := s.getDefault(ctx, caller)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if cur == nil {
		return s.CreateIntegration(ctx, caller, in)
	}
	return s.modify(ctx, caller, cur.ID, 0, func(c *destination.Integration) error {
		var probs destination.Problems
		if !in.Provider.Valid() {
			_, err := destination.ParseProvider(string(in.Provider))
			probs.Merge("", err)
			return probs.Err()
		}
		if in.Provider == destination.Drive && c.Provider != destination.Drive {
			probs.Add("provider", destination.CodeNotAllowed, "Google Drive is connected through the OAuth flow (drive/auth-url), not created directly")
			return probs.Err()
		}
		if in.Provider != c.Provider {
			c.Provider = in.Provider
			c.Secrets = nil // another provider's secrets never carry over
		}
		c.Name = checkName(&probs, in.Name)
		c.IsActive = in.IsActive == nil || *in.IsActive
		if !c.IsActive {
			probs.Add("isActive", destination.CodeInactive, "the default destination must be active")
		}
		c.IsDefault = true
		if err := s.mergeConfig(ctx, &probs, c, in.Config); err != nil {
			return err
		}
		return probs.Err()
	})
}

// TestDefault tests the caller's default destination (see TestIntegration).
func (s *Service) TestDefault(ctx context.Context, caller destination.Caller) (*destination.TestResult, error) {
	in, err := s.getDefault(ctx, caller)
	if err != nil {
		return nil, err
	}
	return s.TestIntegration(ctx, caller, in.ID)
}

// DeleteDefault removes the caller's default integration; the workspace then has no default.
func (s *Service) DeleteDefault(ctx context.Context, caller destination.Caller) error {
	in, err := s.getDefault(ctx, caller)
	if err != nil {
		return err
	}
	return s.DeleteIntegration(ctx, caller, in.ID)
}
