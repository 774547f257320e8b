package destination

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Config is an integration's provider configuration, with the field names of the API
// documentation's provider configuration reference. Which fields apply depends on the provider; see
// Validate. Secret fields (SecretFields) hold plaintext only on the way in (a create or update
// request) and on the way to a provider client; a stored Integration keeps them sealed in
// Integration.Secrets and its Config leaves them empty.
type Config struct {
	// S3-compatible (s3, r2, b2, wasabi) and gcs.
	Bucket          string `json:"bucket,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"` // secret
	// Endpoint is the S3-compatible endpoint (required for r2 and b2). For gcs and azure it
	// optionally overrides the service endpoint (sovereign clouds, emulators).
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PublicURL string `json:"publicUrl,omitempty"`
	// PathPrefix is prepended to every output key; normalized to end in "/".
	PathPrefix string `json:"pathPrefix,omitempty"`
	// RoleARN (s3 only: AWS is the only one of the S3-compatible providers with STS) is the IAM
	// role deliveries assume with the platform's own AWS credentials, instead of accessKeyId and
	// secretAccessKey: exactly one of the two ways is used.
	RoleARN string `json:"roleArn,omitempty"`
	// ExternalID (s3, read-only) is the external ID the role's trust policy must require. The
	// library generates it, one per workspace, random and stable, and keeps it with each s3
	// integration of the workspace; a value sent in a request is ignored.
	ExternalID string `json:"externalId,omitempty"`

	GCSServiceAccountJSON string `json:"gcsServiceAccountJson,omitempty"` // secret
	GCSProjectID          string `json:"gcsProjectId,omitempty"`
	// GCSImpersonateServiceAccount is the email of the customer's service account the
	// platform impersonates (IAM Credentials generateAccessToken), instead of a stored
	// gcsServiceAccountJson key: exactly one of the two is used.
	GCSImpersonateServiceAccount string `json:"gcsImpersonateServiceAccount,omitempty"`

	AzureAccountName   string `json:"azureAccountName,omitempty"`
	AzureAccountKey    string `json:"azureAccountKey,omitempty"` // secret
	AzureContainerName string `json:"azureContainerName,omitempty"`
	// AzureSASToken is a container-scoped shared access signature (the query string, with or
	// without its leading "?"), instead of the account key: exactly one of the two is used.
	AzureSASToken string `json:"azureSasToken,omitempty"` // secret
	// AzureSASPermissions and AzureSASExpiry (read-only) are read from the SAS token when it is
	// stored: its sp and se parameters. A value sent in a request is ignored.
	AzureSASPermissions string `json:"azureSasPermissions,omitempty"`
	AzureSASExpiry      string `json:"azureSasExpiry,omitempty"`

	DriveFolderID string `json:"driveFolderId,omitempty"`
	// DriveRefreshToken is set only by the Drive OAuth connection, never through the API, and is
	// never marshalled.
	DriveRefreshToken string `json:"-"` // secret
}

// SecretField names a secret configuration field, as in the API ("secretAccessKey").
type SecretField string

// The secret fields.
const (
	SecretAccessKey       SecretField = "secretAccessKey"
	SecretGCSServiceAcct  SecretField = "gcsServiceAccountJson"
	SecretAzureAccountKey SecretField = "azureAccountKey"
	SecretDriveRefresh    SecretField = "driveRefreshToken"
	SecretAzureSASToken   SecretField = "azureSasToken"
)

// AllSecretFields returns every secret field.
func AllSecretFields() []SecretField {
	return []SecretField{SecretAccessKey, SecretGCSServiceAcct, SecretAzureAccountKey, SecretAzureSASToken, SecretDriveRefresh}
}

// SecretFields returns the secret fields a provider uses.
func SecretFields(p Provider) []SecretField {
	switch {
	case p.S3Compatible():
		return []SecretField{SecretAccessKey}
	case p == GCS:
		return []SecretField{SecretGCSServiceAcct}
	case p == Azure:
		return []SecretField{SecretAzureAccountKey, SecretAzureSASToken}
	case p == Drive:
		return []SecretField{SecretDriveRefresh}
	}
	return nil
}

// Secret returns the value of a secret field.
func (c *Config) Secret(f SecretField) string {
	if p := c.secretPtr(f); p != nil {
		return *p
	}
	return ""
}

// SetSecret sets the value of a secret field; unknown fields are ignored.
func (c *Config) SetSecret(f SecretField, v string) {
	if p := c.secretPtr(f); p != nil {
		*p = v
	}
}

func (c *Config) secretPtr(f SecretField) *string {
	switch f {
	case SecretAccessKey:
		return &c.SecretAccessKey
	case SecretGCSServiceAcct:
		return &c.GCSServiceAccountJSON
	case SecretAzureAccountKey:
		return &c.AzureAccountKey
	case SecretDriveRefresh:
		return &c.DriveRefreshToken
	case SecretAzureSASToken:
		return &c.AzureSASToken
	}
	return nil
}

// WithoutSecrets returns a copy of c with every secret field empty.
func (c Config) WithoutSecrets() Config {
	for _, f := range AllSecretFields() {
		c.SetSecret(f, "")
	}
	return c
}

// String never prints secrets: it is what %v and %s show.
func (c Config) String() string {
	b, _ := json.Marshal(c.WithoutSecrets())
	return string(b)
}

// GoString never prints secrets: it is what %#v shows.
func (c Config) GoString() string { return "destination.Config" + c.String() }

// DecodeConfig decodes a JSON config object strictly: unknown fields and wrong JSON types are
// errors naming the field (prefixed "config."). It does not validate the values; call Validate.
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, jsonFieldError("config", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, &ValidationError{Errors: []FieldError{{Field: "config", Code: CodeInvalid, Message: "unexpected data after the JSON object"}}}
	}
	return c, nil
}

// jsonFieldError turns a encoding/json error into a *ValidationError naming the field, without
// echoing the offending value (it may be a secret).
func jsonFieldError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := prefix
		if te.Field != "" {
			field = joinField(prefix, te.Field)
		}
		return &ValidationError{Errors: []FieldError{{Field: field, Code: CodeInvalid,
			Message: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}}}
	case errors.As(err, &se):
		return &ValidationError{Errors: []FieldError{{Field: prefix, Code: CodeInvalid,
			Message: fmt.Sprintf("malformed JSON at byte %d", se.Offset)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ValidationError{Errors: []FieldError{{Field: joinField(prefix, truncate(name, 64)), Code: CodeNotAllowed,
			Message: "unknown field"}}}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Errors: []FieldError{{Field: prefix, Code: CodeInvalid, Message: "truncated or empty JSON"}}}
	}
	return &ValidationError{Errors: []FieldError{{Field: prefix, Code: CodeInvalid, Message: "malformed JSON"}}}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") || strings.HasPrefix(k, "float") {
		return "number"
	}
	return k
}
