package destination

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ValidateOptions adjusts Validate.
type ValidateOptions struct {
	// AllowInsecureEndpoints accepts http:// endpoints (tests, private deployments). Off by
	// default: endpoints must be https.
	AllowInsecureEndpoints bool
	// StoredSecrets lists secret fields that already hold a sealed value (an update that keeps
	// them): a required secret that is empty in the config but stored is not reported missing.
	StoredSecrets []SecretField
	// Now is the current time, for SAS expiry (default time.Now).
	Now func() time.Time
	// Previous is the stored configuration an update replaces. With it, a stored secret that the
	// new configuration would send elsewhere (another endpoint, bucket, region, account,
	// container or project: CredentialTargetFields) must be sent again: leaving it out is a
	// CodeSecretRequired error naming the secret field.
	Previous *Config
}

// Validate checks c for provider p and returns it normalized: the path prefix in canonical form,
// the public URL without a trailing "/", derivable defaults filled in (r2 region "auto", b2 region
// from its endpoint, wasabi endpoint from its region, gcsProjectId from the key). Every problem is
// reported at once in a *ValidationError whose field names are prefixed "config.". Messages never
// contain the value of a secret field.
func Validate(p Provider, c Config, opts ValidateOptions) (Config, error) {
	var probs Problems
	add := func(field, code, msg string) { probs.Add("config."+field, code, msg) }
	if !p.Valid() {
		probs.Add("provider", CodeInvalid, fmt.Sprintf("unknown provider %q; want one of %s", truncate(string(p), 32), providerList()))
		return c, probs.Err()
	}
	stored := func(f SecretField) bool {
		for _, s := range opts.StoredSecrets {
			if s == f {
				return true
			}
		}
		return false
	}
	trim := func(s *string) { *s = strings.TrimSpace(*s) }
	for _, s := range []*string{&c.Bucket, &c.AccessKeyID, &c.Endpoint, &c.Region, &c.PublicURL, &c.GCSProjectID,
		&c.AzureAccountName, &c.AzureContainerName, &c.DriveFolderID, &c.RoleARN, &c.GCSImpersonateServiceAccount} {
		trim(s)
	}

	// Fields a provider does not use.
	used := usedFields(p)
	for _, f := range []struct{ name, val string }{
		{"bucket", c.Bucket}, {"accessKeyId", c.AccessKeyID}, {"secretAccessKey", c.SecretAccessKey},
		{"endpoint", c.Endpoint}, {"region", c.Region}, {"gcsServiceAccountJson", c.GCSServiceAccountJSON},
		{"gcsProjectId", c.GCSProjectID}, {"azureAccountName", c.AzureAccountName}, {"azureAccountKey", c.AzureAccountKey},
		{"azureContainerName", c.AzureContainerName}, {"driveFolderId", c.DriveFolderID},
		{"roleArn", c.RoleARN}, {"gcsImpersonateServiceAccount", c.GCSImpersonateServiceAccount}, {"azureSasToken", c.AzureSASToken},
	} {
		if f.val != "" && !used[f.name] {
			add(f.name, CodeNotAllowed, fmt.Sprintf("is not used by provider %s", p))
		}
	}

	if c.PathPrefix != "" {
		np, err := NormalizePrefix(c.PathPrefix)
		if err != nil {
			probs.Merge("config", err)
		} else {
			c.PathPrefix = np
		}
	}
	if c.PublicURL != "" {
		if msg := checkPublicURL(c.PublicURL); msg != "" {
			add("publicUrl", CodeInvalid, msg)
		} else {
			c.PublicURL = strings.TrimRight(c.PublicURL, "/")
		}
	}
	if c.Endpoint != "" && used["endpoint"] {
		if norm, msg := checkEndpoint(c.Endpoint, opts.AllowInsecureEndpoints); msg != "" {
			add("endpoint", CodeInvalid, msg)
		} else {
			c.Endpoint = norm
		}
	}
	// Read-only fields other providers do not have.
	if p != S3 {
		c.ExternalID = ""
	}
	if p != Azure {
		c.AzureSASPermissions, c.AzureSASExpiry = "", ""
	}

	switch {
	case p.S3Compatible():
		if c.Bucket == "" {
			add("bucket", CodeRequired, "is required")
		} else if msg := checkS3Bucket(p, c.Bucket); msg != "" {
			add("bucket", CodeInvalid, msg)
		}
		checkS3Auth(p, &c, add, stored)
		if c.Region != "" && !regionRE.MatchString(c.Region) {
			add("region", CodeInvalid, "must look like us-east-1 or auto")
		}
		switch p {
		case S3:
			if c.Region == "" && c.Endpoint == "" {
				add("region", CodeRequired, "is required for AWS S3 (the bucket's region, e.g. us-east-1)")
			}
			if c.Region == "" && c.Endpoint != "" {
				c.Region = "us-east-1"
			}
		case R2:
			if c.Endpoint == "" {
				add("endpoint", CodeRequired, "is required for R2 (https://<account>.r2.cloudflarestorage.com)")
			}
			if c.Region == "" {
				c.Region = "auto"
			}
		case B2:
			if c.Endpoint == "" {
				add("endpoint", CodeRequired, "is required for B2 (https://s3.<region>.backblazeb2.com)")
			} else if r := RegionFromEndpoint(B2, c.Endpoint); c.Region == "" && r != "" {
				c.Region = r
			} else if c.Region == "" {
				add("region", CodeRequired, "is required when it cannot be read from the endpoint")
			}
		case Wasabi:
			if c.Region == "" {
				if r := RegionFromEndpoint(Wasabi, c.Endpoint); r != "" {
					c.Region = r
				} else {
					c.Region = "us-east-1"
				}
			}
			if c.Endpoint == "" && regionRE.MatchString(c.Region) {
				c.Endpoint = "https://s3." + c.Region + ".wasabisys.com"
			}
		}
	case p == GCS:
		if c.Bucket == "" {
			add("bucket", CodeRequired, "is required")
		} else if msg := checkGCSBucket(c.Bucket); msg != "" {
			add("bucket", CodeInvalid, msg)
		}
		checkGCSAuth(&c, add, stored)
		if c.GCSProjectID != "" && !gcsProjectRE.MatchString(c.GCSProjectID) {
			add("gcsProjectId", CodeInvalid, "must be a GCP project ID (6-30 lowercase letters, digits, hyphens)")
		}
	case p == Azure:
		if c.AzureAccountName == "" {
			add("azureAccountName", CodeRequired, "is required")
		} else if !azureAccountRE.MatchString(c.AzureAccountName) {
			add("azureAccountName", CodeInvalid, "must be 3-24 lowercase letters and digits")
		}
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		checkAzureAuth(&c, add, stored, now())
		if c.AzureAccountKey != "" {
			if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.AzureAccountKey)); err != nil || len(k) == 0 {
				add("azureAccountKey", CodeInvalid, "must be the base64 account key shown under Access keys")
			}
		}
		if c.AzureContainerName == "" {
			add("azureContainerName", CodeRequired, "is required")
		} else if msg := checkAzureContainer(c.AzureContainerName); msg != "" {
			add("azureContainerName", CodeInvalid, msg)
		}
	case p == Drive:
		if c.DriveFolderID != "" && !driveIDRE.MatchString(c.DriveFolderID) {
			add("driveFolderId", CodeInvalid, "must be a Drive folder ID (letters, digits, - and _)")
		}
	}
	if opts.Previous != nil {
		checkRetarget(&probs, p, opts.Previous, &c, stored)
	}
	return c, probs.Err()
}

func usedFields(p Provider) map[string]bool {
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	switch {
	case p.S3Compatible():
		if p == S3 {
			return set("bucket", "accessKeyId", "secretAccessKey", "endpoint", "region", "roleArn")
		}
		return set("bucket", "accessKeyId", "secretAccessKey", "endpoint", "region")
	case p == GCS:
		return set("bucket", "gcsServiceAccountJson", "gcsProjectId", "endpoint", "gcsImpersonateServiceAccount")
	case p == Azure:
		return set("azureAccountName", "azureAccountKey", "azureContainerName", "endpoint", "azureSasToken")
	case p == Drive:
		return set("driveFolderId")
	}
	return nil
}

var (
	regionRE       = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*$`)
	gcsProjectRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	azureAccountRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	driveIDRE      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	lowerDNSRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)
)

// checkEndpoint requires an absolute URL with scheme and host only and returns it normalized
// (no trailing "/").
func checkEndpoint(raw string, allowInsecure bool) (string, string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", "must be an absolute URL such as https://s3.example.com"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	default:
		return "", "must use https"
	}
	if u.User != nil {
		return "", "must not contain credentials (user:password@)"
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", "must be scheme and host only, without path, query or fragment"
	}
	if u.Hostname() == "" {
		return "", "must name a host"
	}
	if port := u.Port(); port != "" {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return "", "has an invalid port"
		}
	}
	return u.Scheme + "://" + u.Host, ""
}

func checkPublicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "must be an absolute http(s) URL such as https://cdn.example.com"
	}
	if u.User != nil {
		return "must not contain credentials (user:password@)"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "must not have a query or fragment"
	}
	return ""
}

// RegionFromEndpoint reads the region from a B2 or Wasabi endpoint
// (https://s3.us-west-004.backblazeb2.com, https://s3.eu-central-1.wasabisys.com; the bare
// s3.wasabisys.com is us-east-1). It returns "" for other providers and endpoints.
func RegionFromEndpoint(p Provider, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	h := strings.ToLower(u.Hostname())
	var suffix string
	switch p {
	case B2:
		suffix = ".backblazeb2.com"
	case Wasabi:
		if h == "s3.wasabisys.com" {
			return "us-east-1"
		}
		suffix = ".wasabisys.com"
	default:
		return ""
	}
	if !strings.HasPrefix(h, "s3.") || !strings.HasSuffix(h, suffix) {
		return ""
	}
	r := strings.TrimSuffix(strings.TrimPrefix(h, "s3."), suffix)
	if !regionRE.MatchString(r) {
		return ""
	}
	return r
}

func checkS3Bucket(p Provider, b string) string {
	switch p {
	case R2:
		if len(b) < 3 || len(b) > 63 || !regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`).MatchString(b) {
			return "must be 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"
		}
		return ""
	case B2:
		if len(b) < 6 || len(b) > 63 || !regexp.MustCompile(`^[A-Za-z0-9-]+$`).MatchString(b) || strings.HasPrefix(strings.ToLower(b), "b2-") {
			return `must be 6-63 letters, digits and hyphens, not starting with "b2-"`
		}
		return ""
	}
	if len(b) < 3 || len(b) > 63 || !lowerDNSRE.MatchString(b) {
		return "must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return `must not contain "..", ".-" or "-."`
	}
	if net.ParseIP(b) != nil {
		return "must not be formatted as an IP address"
	}
	if strings.HasPrefix(b, "xn--") || strings.HasPrefix(b, "sthree-") || strings.HasSuffix(b, "-s3alias") || strings.HasSuffix(b, "--ol-s3") {
		return "uses a prefix or suffix reserved by S3"
	}
	return ""
}

func checkGCSBucket(b string) string {
	if len(b) < 3 || len(b) > 222 || !regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*[a-z0-9]$`).MatchString(b) {
		return "must be 3-63 lowercase letters, digits, hyphens, underscores and dots, starting and ending with a letter or digit"
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) == 0 || len(part) > 63 {
			return "each dot-separated part must be 1-63 characters"
		}
	}
	if !strings.Contains(b, ".") && len(b) > 63 {
		return "must be at most 63 characters (222 with dots)"
	}
	if net.ParseIP(b) != nil {
		return "must not be formatted as an IP address"
	}
	if strings.HasPrefix(b, "goog") || strings.Contains(b, "google") || strings.Contains(b, "g00gle") {
		return `must not start with "goog" or contain "google"`
	}
	return ""
}

func checkAzureContainer(n string) string {
	if len(n) < 3 || len(n) > 63 || !regexp.MustCompile(`^[a-z0-9](-?[a-z0-9])*$`).MatchString(n) {
		return "must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
	}
	return ""
}

// ServiceAccountKey is the part of a Google service-account JSON key the library reads.
type ServiceAccountKey struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// String never prints the private key.
func (k ServiceAccountKey) String() string {
	return fmt.Sprintf("service account %s (project %s)", k.ClientEmail, k.ProjectID)
}

// GoString never prints the private key.
func (k ServiceAccountKey) GoString() string { return k.String() }

// ParseServiceAccount parses a Google service-account JSON key and checks that it is one: type
// "service_account" with client_email and private_key. Errors never quote the key.
func ParseServiceAccount(data []byte) (ServiceAccountKey, error) {
	var k ServiceAccountKey
	if err := json.Unmarshal(data, &k); err != nil {
		return ServiceAccountKey{}, fmt.Errorf("must be a service-account JSON key (not valid JSON)")
	}
	switch {
	case k.Type != "service_account":
		return ServiceAccountKey{}, fmt.Errorf(`must be a service-account key ("type": "service_account"), not %q`, truncate(k.Type, 40))
	case k.ClientEmail == "":
		return ServiceAccountKey{}, fmt.Errorf("must contain client_email")
	case !strings.Contains(k.PrivateKey, "PRIVATE KEY"):
		return ServiceAccountKey{}, fmt.Errorf("must contain a PEM private_key")
	}
	return k, nil
}
