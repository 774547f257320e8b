package outputs

import (
	"context"
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
)

// DriveConnector runs the Google Drive OAuth flow; *drive.Connector (package provider/drive)
// implements it. The root package depends on this interface only, not on the Drive driver.
type DriveConnector interface {
	// AuthURL returns the authorization URL that connects caller's workspace.
	AuthURL(ctx context.Context, caller destination.Caller) (string, error)
	// Complete finishes the flow for caller, the user signed in where the callback arrived; it
	// refuses a caller other than the one that started the flow.
	Complete(ctx context.Context, caller destination.Caller, state, code, errParam string) (*destination.DriveConnection, error)
}

// driveName names a Drive integration created by the OAuth connection.
const driveName = "Google Drive"

// DriveAuthURL returns the Google authorization URL that connects the caller's workspace to
// Google Drive (offline access, consent, PKCE, a sealed single-use state). Without
// Options.Drive it returns destination.ErrUnsupported.
func (s *Service) DriveAuthURL(ctx context.Context, caller destination.Caller) (string, error) {
	if err := requireWorkspace(caller); err != nil {
		return "", err
	}
	if s.opts.Drive == nil {
		return "", fmt.Errorf("outputs: Google Drive is not configured: %w", destination.ErrUnsupported)
	}
	return s.opts.Drive.AuthURL(ctx, caller)
}

// CompleteDrive finishes the OAuth flow from the callback's query parameters (state, code and
// error) for caller, the user signed in where the callback arrived, and creates the workspace's
// drive integration, or, on reconnect, updates the one it has with the new refresh token, keeping
// its ID, name, folder and flags. The callback must be authenticated like any other request: a
// caller other than the user and workspace that started the flow (a forwarded link, login CSRF)
// is refused with an error matching destination.ErrForbidden, and nothing is linked. Other
// errors are the drive package's typed errors (tampered, expired or replayed state, access
// denied, ...); none contains a token or code.
func (s *Service) CompleteDrive(ctx context.Context, caller destination.Caller, state, code, errParam string) (*destination.Integration, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	if s.opts.Drive == nil {
		return nil, fmt.Errorf("outputs: Google Drive is not configured: %w", destination.ErrUnsupported)
	}
	conn, err := s.opts.Drive.Complete(ctx, caller, state, code, errParam)
	if err != nil {
		return nil, err
	}
	// Checked here too, whatever the connector did: the grant goes only to the caller's own workspace.
	if conn == nil || conn.WorkspaceID != caller.WorkspaceID || conn.UserID != caller.UserID {
		return nil, fmt.Errorf("outputs: the Google Drive connection was started by another user or workspace: %w", destination.ErrForbidden)
	}
	existing, err := s.firstDrive(ctx, conn.WorkspaceID)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		v, err := s.setDriveToken(ctx, caller, existing.ID, conn.RefreshToken)
		if err == nil {
			s.log.InfoContext(ctx, "drive reconnected", "workspace", conn.WorkspaceID, "integration", existing.ID, "user", conn.UserID)
		}
		return v, err
	}
	stored, err := s.insert(ctx, &destination.Integration{WorkspaceID: conn.WorkspaceID, Provider: destination.Drive,
		Name: driveName, IsActive: true}, destination.Config{DriveRefreshToken: conn.RefreshToken})
	if err != nil {
		return nil, err
	}
	// Two callbacks racing (two tabs, two servers) may each have created one. Every racer
	// converges on the oldest (List order): one that finds an older one removes its own, and
	// the oldest removes the newer ones it finds. CreatedAt is taken before the insert, so a
	// racer can be the oldest although its insert came after another racer's check; that
	// check saw no older one, and this one's removes it. Of any two racers, the later check
	// sees both, so one drive integration is left.
	if drives, err := s.drives(ctx, conn.WorkspaceID); err == nil && len(drives) > 0 {
		if first := drives[0]; first.ID != stored.ID {
			if err := s.store.Delete(ctx, conn.WorkspaceID, stored.ID); err != nil && !isNotFound(err) {
				return nil, storeErr("connect drive", err)
			}
			return s.setDriveToken(ctx, caller, first.ID, conn.RefreshToken)
		}
		for _, newer := range drives[1:] {
			if err := s.store.Delete(ctx, conn.WorkspaceID, newer.ID); err != nil && !isNotFound(err) {
				s.log.WarnContext(ctx, "drive connected; removing a racing duplicate failed", "workspace", conn.WorkspaceID,
					"integration", newer.ID, "error", storeErr("connect drive", err))
			}
		}
	}
	s.log.InfoContext(ctx, "drive connected", "workspace", conn.WorkspaceID, "integration", stored.ID, "user", conn.UserID)
	return s.view(stored), nil
}

// SaveDriveToken seals and stores a rotated refresh token for a drive integration
// (destination.TokenSaver). New wires it into an Uploader that accepts one (provider.Client), so
// token rotation by Google is never lost without any wiring by the host.
func (s *Service) SaveDriveToken(ctx context.Context, in *destination.Integration, refreshToken string) error {
	if in == nil {
		return fmt.Errorf("outputs: save drive token: nil integration: %w", destination.ErrInvalid)
	}
	_, err := s.setDriveToken(ctx, destination.Caller{WorkspaceID: in.WorkspaceID}, in.ID, refreshToken)
	return err
}

var _ destination.TokenSaver = (*Service)(nil)

func (s *Service) setDriveToken(ctx context.Context, caller destination.Caller, id, refreshToken string) (*destination.Integration, error) {
	return s.modify(ctx, caller, id, 0, func(cur *destination.Integration) error {
		if cur.Provider != destination.Drive {
			return fmt.Errorf("outputs: integration is not a drive integration: %w", destination.ErrProviderMismatch)
		}
		cfg := cur.Config
		cfg.DriveRefreshToken = refreshToken
		return s.sealConfig(ctx, cur, cfg, cur.Secrets)
	})
}

// firstDrive returns the workspace's oldest drive integration (List order), or nil.
func (s *Service) firstDrive(ctx context.Context, workspaceID string) (*destination.Integration, error) {
	drives, err := s.drives(ctx, workspaceID)
	if err != nil || len(drives) == 0 {
		return nil, err
	}
	return drives[0], nil
}

// drives returns the workspace's drive integrations, oldest first (List order).
func (s *Service) drives(ctx context.Context, workspaceID string) ([]*destination.Integration, error) {
	list, err := s.store.List(ctx, workspaceID)
	if err != nil {
		return nil, storeErr("connect drive", err)
	}
	var out []*destination.Integration
	for _, in := range list {
		if in.Provider == destination.Drive {
			out = append(out, in)
		}
	}
	return out, nil
}
