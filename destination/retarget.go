package destination

import (
	"fmt"
	"slices"
	"strings"
)

// credentialTarget is one provider's row of the re-targeting rule: the configuration fields
// (JSON names) that decide where its credentials are sent, and the secrets they guard.
type credentialTarget struct {
	fields  []string
	secrets []SecretField
}

// credentialTargets is the re-targeting rule, one row per provider: an update that changes any
// of a row's fields must send the row's secrets again; a stored secret is never sent to a new
// place that its owner did not type it for. A new credential field is a new entry here (and in
// configFields). Drive has no row: its refresh token only ever goes to Google.
var credentialTargets = map[Provider]credentialTarget{
	S3:     {fields: []string{"endpoint", "region", "bucket", "roleArn"}, secrets: []SecretField{SecretAccessKey}},
	R2:     {fields: []string{"endpoint", "region", "bucket"}, secrets: []SecretField{SecretAccessKey}},
	B2:     {fields: []string{"endpoint", "region", "bucket"}, secrets: []SecretField{SecretAccessKey}},
	Wasabi: {fields: []string{"endpoint", "region", "bucket"}, secrets: []SecretField{SecretAccessKey}},
	GCS:    {fields: []string{"endpoint", "bucket", "gcsProjectId", "gcsImpersonateServiceAccount"}, secrets: []SecretField{SecretGCSServiceAcct}},
	Azure:  {fields: []string{"endpoint", "azureAccountName", "azureContainerName"}, secrets: []SecretField{SecretAzureAccountKey, SecretAzureSASToken}},
}

// configFields reads the non-secret fields of the rule by JSON name.
var configFields = map[string]func(*Config) string{
	"endpoint":           func(c *Config) string { return c.Endpoint },
	"region":             func(c *Config) string { return c.Region },
	"bucket":             func(c *Config) string { return c.Bucket },
	"gcsProjectId":       func(c *Config) string { return c.GCSProjectID },
	"azureAccountName":   func(c *Config) string { return c.AzureAccountName },
	"azureContainerName": func(c *Config) string { return c.AzureContainerName },
	"roleArn":            func(c *Config) string { return c.RoleARN },
	// gcsImpersonateServiceAccount: the customer's identity the platform's token is minted for.
	"gcsImpersonateServiceAccount": func(c *Config) string { return c.GCSImpersonateServiceAccount },
}

// CredentialTargetFields returns the configuration fields (JSON names) of provider p that decide
// where its secrets are sent: changing one in an update requires sending those secrets again.
func CredentialTargetFields(p Provider) []string {
	return slices.Clone(credentialTargets[p].fields)
}

// checkRetarget reports, as CodeSecretRequired on each secret, the stored secrets of p that an
// update from prev to next (both normalized) would send somewhere else.
func checkRetarget(probs *Problems, p Provider, prev, next *Config, stored func(SecretField) bool) {
	row := credentialTargets[p]
	var changed []string
	for _, f := range row.fields {
		if get := configFields[f]; get(prev) != get(next) {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return
	}
	for _, s := range row.secrets {
		// A stored secret the new configuration no longer uses (keys replaced by a role) is
		// dropped, not sent anywhere.
		if next.Secret(s) == "" && stored(s) && slices.Contains(CredentialSecrets(p, *next), s) {
			probs.Add("config."+string(s), CodeSecretRequired, fmt.Sprintf(
				"changing %s changes where this secret is sent: send %s again", strings.Join(changed, ", "), s))
		}
	}
}
