package destination

import (
	"fmt"
	"strings"
)

// Provider names a kind of storage an integration delivers to.
type Provider string

// The providers the library supports.
const (
	S3     Provider = "s3"     // Amazon S3
	R2     Provider = "r2"     // Cloudflare R2 (S3-compatible)
	B2     Provider = "b2"     // Backblaze B2 (S3-compatible API)
	Wasabi Provider = "wasabi" // Wasabi (S3-compatible)
	GCS    Provider = "gcs"    // Google Cloud Storage
	Azure  Provider = "azure"  // Azure Blob Storage
	Drive  Provider = "drive"  // Google Drive
)

var allProviders = []Provider{S3, R2, B2, Wasabi, GCS, Azure, Drive}

// Providers returns every supported provider, in documentation order.
func Providers() []Provider { return append([]Provider(nil), allProviders...) }

// ParseProvider returns the Provider named by s. Names are case-sensitive, as in the API
// documentation. An unknown name gives a *ValidationError for field "provider".
func ParseProvider(s string) (Provider, error) {
	p := Provider(s)
	if p.Valid() {
		return p, nil
	}
	return "", &ValidationError{Errors: []FieldError{{Field: "provider", Code: CodeInvalid,
		Message: fmt.Sprintf("unknown provider %q; want one of %s", truncate(s, 32), providerList())}}}
}

func providerList() string {
	names := make([]string, len(allProviders))
	for i, p := range allProviders {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether p is a supported provider.
func (p Provider) Valid() bool {
	for _, q := range allProviders {
		if p == q {
			return true
		}
	}
	return false
}

// S3Compatible reports whether p is served through the S3 API (s3, r2, b2, wasabi).
func (p Provider) S3Compatible() bool {
	switch p {
	case S3, R2, B2, Wasabi:
		return true
	}
	return false
}

// String returns the provider's API name.
func (p Provider) String() string { return string(p) }

// UnmarshalText parses a provider name; unknown names are an error.
func (p *Provider) UnmarshalText(b []byte) error {
	q, err := ParseProvider(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// MarshalText returns the provider's API name.
func (p Provider) MarshalText() ([]byte, error) { return []byte(p), nil }
