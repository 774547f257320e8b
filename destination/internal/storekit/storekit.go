// Package storekit holds what every Store implementation of this module shares: the input
// checks of Create and Update.
package storekit

import (
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Check reports why in cannot be stored by op ("create" or "update"): nil, an empty ID or
// workspace ID, or a plaintext secret in Config (stores keep secrets only sealed, in Secrets).
// The error is a *destination.ValidationError (errors.Is ErrInvalid) that never quotes a value.
func Check(op string, in *destination.Integration) error {
	var p destination.Problems
	if in == nil {
		p.Add("integration", destination.CodeRequired, fmt.Sprintf("%s needs an integration, got nil", op))
		return p.Err()
	}
	if in.ID == "" {
		p.Add("id", destination.CodeRequired, "is required")
	}
	if in.WorkspaceID == "" {
		p.Add("workspaceId", destination.CodeRequired, "is required")
	}
	for _, f := range allSecrets {
		if in.Config.Secret(f) != "" {
			p.Add("config."+string(f), destination.CodeNotAllowed, "plaintext secrets are never stored; seal it into Secrets")
		}
	}
	return p.Err()
}

var allSecrets = destination.AllSecretFields()
