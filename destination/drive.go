package destination

import "fmt"

// DriveConnection is a completed Google Drive authorization: who connected which workspace, and
// the refresh token to seal and store in the workspace's drive integration. provider/drive's
// Connector returns it (as drive.Connection); the root Service consumes it without importing the
// Drive driver.
type DriveConnection struct {
	WorkspaceID string   `json:"workspaceId"`
	UserID      string   `json:"userId"`
	Scopes      []string `json:"scopes"`
	// RefreshToken is the secret to seal; it is never marshalled or printed.
	RefreshToken string `json:"-"`
}

// String leaves out the refresh token.
func (c DriveConnection) String() string {
	return fmt.Sprintf("drive.Connection{WorkspaceID:%q UserID:%q RefreshToken:•••• Scopes:%q}", c.WorkspaceID, c.UserID, c.Scopes)
}

// GoString leaves out the refresh token.
func (c DriveConnection) GoString() string { return c.String() }
