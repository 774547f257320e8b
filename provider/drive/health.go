package drive

import (
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// testingModeLifetime is how long Google keeps a refresh token issued to an OAuth app in
// testing mode.
const testingModeLifetime = 7 * 24 * time.Hour

// Health reports the OAuth connection and, for an app in testing mode, that Google expires its
// refresh tokens 7 days after consent (with the date when the integration has not been
// reconnected or changed since it was connected).
func (d *Driver) Health(in *destination.Integration, now time.Time) destination.Health {
	h := destination.Health{Auth: "oauth", Description: "a Google account connected over OAuth; the refresh token lasts until it is revoked, unused for 6 months, or the password changes"}
	if !d.opts.TestingMode {
		return h
	}
	h.Warnings = append(h.Warnings, "the platform's Google OAuth app is in testing mode: Google expires its refresh tokens 7 days after consent, so this integration must be reconnected every week (the platform should publish the app)")
	if !in.CreatedAt.IsZero() && in.UpdatedAt.Equal(in.CreatedAt) {
		exp := in.CreatedAt.Add(testingModeLifetime).UTC()
		h.ExpiresAt, h.Expired = &exp, !exp.After(now)
		if w := destination.ExpiryWarning("the Drive connection", exp, now); w != "" {
			h.Warnings = append(h.Warnings, w)
		}
	}
	return h
}
