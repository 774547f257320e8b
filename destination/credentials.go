package destination

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// This file holds the validation of how an integration authenticates: exactly one of access
// keys or an IAM role (s3), of a service-account key or impersonation (gcs), of an account key
// or a SAS token (azure).

// CredentialSecrets returns the secret fields c's way of authenticating uses: none for an s3
// role or gcs impersonation, the SAS token for an azure SAS, else SecretFields(p). A stored
// secret the configuration no longer uses (keys replaced by a role) is dropped.
func CredentialSecrets(p Provider, c Config) []SecretField {
	switch {
	case p == S3 && c.RoleARN != "":
		return nil
	case p == GCS && c.GCSImpersonateServiceAccount != "":
		return nil
	case p == Azure && c.AzureSASPermissions != "":
		return []SecretField{SecretAzureSASToken}
	case p == Azure:
		return []SecretField{SecretAzureAccountKey}
	}
	return SecretFields(p)
}

// roleARNRE matches an IAM role ARN in any AWS partition (aws, aws-cn, aws-us-gov), with an
// optional path.
var roleARNRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\x{21}-\x{7E}]{1,512})$`)

// saEmailRE matches a service-account email (<name>@<project>.iam.gserviceaccount.com, or a
// default account such as <project-number>-compute@developer.gserviceaccount.com).
var saEmailRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9.-]{0,127}\.gserviceaccount\.com$`)

// checkS3Auth checks that an s3-compatible config uses exactly one of access keys and a role.
func checkS3Auth(p Provider, c *Config, add func(field, code, msg string), stored func(SecretField) bool) {
	if c.RoleARN != "" {
		if c.AccessKeyID != "" || c.SecretAccessKey != "" {
			add("roleArn", CodeInvalid, "use either roleArn or accessKeyId and secretAccessKey, not both")
		}
		if !roleARNRE.MatchString(c.RoleARN) {
			add("roleArn", CodeInvalid, "must be an IAM role ARN such as arn:aws:iam::123456789012:role/outputs-delivery")
		}
		return
	}
	if c.AccessKeyID == "" {
		msg := "is required"
		if p == S3 {
			msg = "is required (or set roleArn to deliver through an IAM role)"
		}
		add("accessKeyId", CodeRequired, msg)
	} else if len(c.AccessKeyID) > 256 || strings.ContainsAny(c.AccessKeyID, " \t\r\n") {
		add("accessKeyId", CodeInvalid, "must be a single token of at most 256 characters")
	}
	if c.SecretAccessKey == "" && !stored(SecretAccessKey) {
		add(string(SecretAccessKey), CodeRequired, "is required")
	}
	if c.SecretAccessKey != "" && (len(c.SecretAccessKey) > 512 || strings.ContainsAny(c.SecretAccessKey, " \t\r\n")) {
		add("secretAccessKey", CodeInvalid, "must be a single token of at most 512 characters")
	}
}

// checkGCSAuth checks that a gcs config uses exactly one of a key and impersonation.
func checkGCSAuth(c *Config, add func(field, code, msg string), stored func(SecretField) bool) {
	if c.GCSImpersonateServiceAccount != "" {
		if c.GCSServiceAccountJSON != "" {
			add("gcsImpersonateServiceAccount", CodeInvalid, "use either gcsImpersonateServiceAccount or gcsServiceAccountJson, not both")
		}
		if !saEmailRE.MatchString(c.GCSImpersonateServiceAccount) {
			add("gcsImpersonateServiceAccount", CodeInvalid, "must be a service-account email such as outputs@my-project.iam.gserviceaccount.com")
		}
		if c.GCSProjectID == "" {
			if _, dom, ok := strings.Cut(c.GCSImpersonateServiceAccount, "@"); ok && strings.HasSuffix(dom, ".iam.gserviceaccount.com") {
				c.GCSProjectID = strings.TrimSuffix(dom, ".iam.gserviceaccount.com")
			}
		}
		return
	}
	if c.GCSServiceAccountJSON == "" && !stored(SecretGCSServiceAcct) {
		add(string(SecretGCSServiceAcct), CodeRequired, "is required (or set gcsImpersonateServiceAccount)")
	}
	if c.GCSServiceAccountJSON != "" {
		key, err := ParseServiceAccount([]byte(c.GCSServiceAccountJSON))
		if err != nil {
			add("gcsServiceAccountJson", CodeInvalid, err.Error())
		} else if c.GCSProjectID == "" {
			c.GCSProjectID = key.ProjectID
		}
	}
}

// checkAzureAuth checks that an azure config uses exactly one of the account key and a SAS
// token, and reads the SAS token's permissions and expiry into the config.
func checkAzureAuth(c *Config, add func(field, code, msg string), stored func(SecretField) bool, now time.Time) {
	key, sas := c.AzureAccountKey != "", c.AzureSASToken != ""
	switch {
	case key && sas:
		add("azureSasToken", CodeInvalid, "use either azureAccountKey or azureSasToken, not both")
		return
	case !key && !sas && stored(SecretAzureSASToken) && !stored(SecretAzureAccountKey) && c.AzureSASPermissions != "":
		return // the stored SAS is kept, with what was read from it
	case !key && !sas && !stored(SecretAzureAccountKey):
		add("azureAccountKey", CodeRequired, "is required (or set azureSasToken)")
		return
	case !sas:
		c.AzureSASPermissions, c.AzureSASExpiry = "", ""
		return
	}
	s, err := ParseSAS(c.AzureSASToken)
	if err != nil {
		add("azureSasToken", CodeInvalid, err.Error())
		return
	}
	if missing := s.Missing(); missing != "" {
		add("azureSasToken", CodeInvalid, fmt.Sprintf("grants %q; a delivery needs %s", s.Permissions, missing))
	}
	if !s.Expiry.After(now) {
		add("azureSasToken", CodeInvalid, "expired at "+s.Expiry.UTC().Format(time.RFC3339)+"; create a new one")
	}
	c.AzureSASPermissions, c.AzureSASExpiry = s.Permissions, s.Expiry.UTC().Format(time.RFC3339)
}

// SAS is what the library reads from an Azure shared access signature: everything but the
// signature, which it never keeps outside the sealed token.
type SAS struct {
	// Version is the signed version (sv).
	Version string
	// Resource is the signed resource (sr): "c" for a container.
	Resource string
	// Permissions are the signed permissions (sp), such as "racwdl".
	Permissions string
	// Start and Expiry are the signed start (st, zero when absent) and expiry (se).
	Start, Expiry time.Time
	// HTTPSOnly reports spr=https.
	HTTPSOnly bool
}

// SAS permission letters a delivery and the connection test use.
const (
	SASCreate = 'c'
	SASWrite  = 'w'
	SASDelete = 'd'
)

// ParseSAS parses a container SAS token ("sv=...&sr=c&sp=...&se=...&sig=...", with or without
// a leading "?"). It requires a service or user-delegation SAS for a container (sr=c), a
// signature, permissions and an expiry; an account SAS (ss, srt) is refused, since it reaches
// beyond one container. Errors never quote the token.
func ParseSAS(token string) (SAS, error) {
	token = strings.TrimPrefix(strings.TrimSpace(token), "?")
	if len(token) > 4096 || strings.ContainsAny(token, " \t\r\n") {
		return SAS{}, fmt.Errorf("must be the SAS token's query string (sv=...&sig=...)")
	}
	q, err := url.ParseQuery(token)
	if err != nil || q.Get("sig") == "" || q.Get("sv") == "" {
		return SAS{}, fmt.Errorf("must be a SAS token with sv and sig (the query string Azure shows as \"SAS token\")")
	}
	if q.Has("ss") || q.Has("srt") {
		return SAS{}, fmt.Errorf("is an account SAS; create a SAS for the container (signed resource c) instead")
	}
	s := SAS{Version: q.Get("sv"), Resource: q.Get("sr"), Permissions: q.Get("sp"), HTTPSOnly: q.Get("spr") == "https"}
	if s.Resource != "c" {
		return SAS{}, fmt.Errorf("must be scoped to the container (signed resource sr=c), not %q", truncate(s.Resource, 8))
	}
	if s.Permissions == "" || strings.Trim(s.Permissions, "racwdxltfmeopiy") != "" {
		return SAS{}, fmt.Errorf("has no valid signed permissions (sp)")
	}
	if s.Expiry, err = parseSASTime(q.Get("se")); err != nil {
		return SAS{}, fmt.Errorf("has no valid signed expiry (se)")
	}
	if st := q.Get("st"); st != "" {
		if s.Start, err = parseSASTime(st); err != nil {
			return SAS{}, fmt.Errorf("has an invalid signed start (st)")
		}
	}
	return s, nil
}

// parseSASTime reads the ISO 8601 forms SAS tokens use.
func parseSASTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 time")
}

// Has reports whether the SAS grants permission letter p.
func (s SAS) Has(p rune) bool { return strings.ContainsRune(s.Permissions, p) }

// Missing names the permissions a delivery needs that the SAS lacks ("" when none): write (w)
// or at least create (c).
func (s SAS) Missing() string {
	if !s.Has(SASWrite) && !s.Has(SASCreate) {
		return "write (w), or at least create (c)"
	}
	return ""
}

// Notes returns the non-fatal remarks on the SAS at time now: no delete (the test leaves its
// probe files), create without write (a re-delivery cannot overwrite), expiry within 14 days.
func (s SAS) Notes(now time.Time) []string {
	var notes []string
	if !s.Has(SASWrite) && s.Has(SASCreate) {
		notes = append(notes, "the SAS token grants create (c) but not write (w): delivering a file whose name already exists fails")
	}
	if !s.Has(SASDelete) {
		notes = append(notes, "the SAS token does not grant delete (d): the connection test leaves its small probe files (.outputs-test-*) in the container")
	}
	if w := ExpiryWarning("the SAS token", s.Expiry, now); w != "" {
		notes = append(notes, w)
	}
	return notes
}

// ExpiryWarnWindow is how long before a credential's expiry views and test results warn.
const ExpiryWarnWindow = 14 * 24 * time.Hour

// ExpiryWarning returns a warning when expiry is zero-free and within ExpiryWarnWindow of now
// (or past), else "".
func ExpiryWarning(what string, expiry, now time.Time) string {
	switch {
	case expiry.IsZero():
		return ""
	case !expiry.After(now):
		return what + " expired at " + expiry.UTC().Format(time.RFC3339) + "; create a new one"
	case expiry.Sub(now) <= ExpiryWarnWindow:
		return what + " expires at " + expiry.UTC().Format(time.RFC3339) + " (in " + roundDays(expiry.Sub(now)) + "); replace it before then"
	}
	return ""
}

func roundDays(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// Health says how an integration authenticates and how healthy its credential is, as far as
// the stored configuration tells (no secret is opened and no request is made to build it).
// Views carry it (Integration.Health); the connection test adds its warnings to the result.
type Health struct {
	// Auth is how the integration authenticates: "accessKey", "assumeRole",
	// "serviceAccountKey", "impersonation", "accountKey", "sas" or "oauth".
	Auth string `json:"auth"`
	// Description says it in a sentence.
	Description string `json:"description,omitempty"`
	// ExpiresAt is when the credential expires, where that is known (a SAS token's expiry).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Expired reports that ExpiresAt has passed.
	Expired bool `json:"expired,omitempty"`
	// MissingPermissions names permissions a delivery needs that the credential lacks.
	MissingPermissions string `json:"missingPermissions,omitempty"`
	// Warnings lists what the customer should know (expiry within 14 days, no delete
	// permission, an OAuth app in testing mode).
	Warnings []string `json:"warnings,omitempty"`
	// Setup is what the customer configures in their cloud for this way of authenticating.
	Setup *Setup `json:"setup,omitempty"`
}

// Setup is what a customer pastes into their cloud account so that the platform may deliver.
type Setup struct {
	// ExternalID is the external ID the role's trust policy requires (s3 roles).
	ExternalID string `json:"externalId,omitempty"`
	// Principal is the platform's identity the customer trusts: an AWS principal ARN, or a
	// Google service-account email.
	Principal string `json:"principal,omitempty"`
	// TrustPolicy is the role's trust policy (s3 roles).
	TrustPolicy json.RawMessage `json:"trustPolicy,omitempty"`
	// PermissionsPolicy is the role's permissions policy, scoped to the bucket and prefix.
	PermissionsPolicy json.RawMessage `json:"permissionsPolicy,omitempty"`
	// IAMBinding is the IAM policy binding to add to the customer's service account (gcs
	// impersonation).
	IAMBinding json.RawMessage `json:"iamBinding,omitempty"`
	// Instructions says where each piece goes.
	Instructions string `json:"instructions,omitempty"`
}

// Clone returns a deep copy of h (nil for nil).
func (h *Health) Clone() *Health {
	if h == nil {
		return nil
	}
	c := *h
	if h.ExpiresAt != nil {
		t := *h.ExpiresAt
		c.ExpiresAt = &t
	}
	c.Warnings = append([]string(nil), h.Warnings...)
	if h.Setup != nil {
		s := *h.Setup
		c.Setup = &s
	}
	return &c
}
