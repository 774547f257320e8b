package gcs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Impersonation (Config.GCSImpersonateServiceAccount): the tenant stores no key. The platform's
// own identity (Options.PlatformTokenSource, set once by the host) calls the IAM Credentials
// API generateAccessToken for the customer's service account, which must grant the platform's
// principal roles/iam.serviceAccountTokenCreator; the minted token (storage read-write scope,
// Options.ImpersonationLifetime) authorizes the storage requests and is cached with the
// integration's client until shortly before it expires. The call goes to
// Options.IAMCredentialsEndpoint through the shared SSRF-guarded client; the platform's own
// token is sent there only, never to a storage endpoint.

const defaultIAMCredentials = "https://iamcredentials.googleapis.com"

// openImpersonated opens cfg's bucket with tokens minted for its service account.
func (d *Driver) openImpersonated(ctx context.Context, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if d.opts.PlatformTokenSource == nil {
		return nil, provider.BadConfig("gcsImpersonateServiceAccount", "this deployment has no platform Google identity for impersonation")
	}
	endpoint := strings.TrimRight(d.opts.IAMCredentialsEndpoint, "/")
	if endpoint == "" {
		endpoint = defaultIAMCredentials
	}
	src := oauth2.ReuseTokenSource(nil, &impersonatedSource{d: d, email: cfg.GCSImpersonateServiceAccount, endpoint: endpoint, hc: hc,
		ctx: context.WithoutCancel(ctx)})
	client := &gcp.HTTPClient{Client: http.Client{
		Transport:     &oauth2.Transport{Source: src, Base: hc.Transport},
		CheckRedirect: hc.CheckRedirect,
	}}
	// Without a private key gcsblob cannot sign URLs; nothing here needs them.
	return d.openBucket(ctx, client, cfg, &gcsblob.Options{GoogleAccessID: cfg.GCSImpersonateServiceAccount})
}

// impersonatedSource mints access tokens for a service account with generateAccessToken.
type impersonatedSource struct {
	d        *Driver
	email    string
	endpoint string
	hc       *http.Client
	ctx      context.Context
}

func (s *impersonatedSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	platform, err := s.d.opts.PlatformTokenSource.Token()
	if err != nil {
		return nil, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown, Transient: true,
			Message: "the platform could not get its own Google token; this is a problem of the platform's configuration, not of the integration"}}
	}
	body, _ := json.Marshal(map[string]any{"scope": []string{storage.ScopeReadWrite},
		"lifetime": fmt.Sprintf("%ds", int(s.d.opts.ImpersonationLifetime.Seconds()))})
	u := s.endpoint + "/v1/projects/-/serviceAccounts/" + url.PathEscape(s.email) + ":generateAccessToken"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, provider.BadConfig("gcsImpersonateServiceAccount", "does not form a valid IAM Credentials URL")
	}
	req.Header.Set("Content-Type", "application/json")
	platform.SetAuthHeader(req)
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gcs: generateAccessToken: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("gcs: generateAccessToken: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, s.refused(resp.StatusCode, data)
	}
	var out struct {
		AccessToken string    `json:"accessToken"`
		ExpireTime  time.Time `json:"expireTime"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.AccessToken == "" {
		return nil, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown, Transient: true,
			Message: "the IAM Credentials API returned an unreadable answer"}}
	}
	return &oauth2.Token{AccessToken: out.AccessToken, TokenType: "Bearer", Expiry: out.ExpireTime}, nil
}

// refused classifies a failed generateAccessToken from Google's JSON error ({"error": {"code",
// "message", "status"}}); the message is never quoted, only its status.
func (s *impersonatedSource) refused(code int, data []byte) error {
	var e struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	status := e.Error.Status
	err := fmt.Errorf("gcs: generateAccessToken: HTTP %d %s", code, status)
	who := "the platform's service account"
	if s.d.opts.PlatformServiceAccount != "" {
		who = s.d.opts.PlatformServiceAccount
	}
	switch {
	case code == http.StatusForbidden || code == http.StatusNotFound || status == "PERMISSION_DENIED" || status == "NOT_FOUND":
		return &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeAccessDenied,
			Message: "the platform may not impersonate " + s.email + ": grant " + who +
				" the role roles/iam.serviceAccountTokenCreator on that service account (the IAM binding shown with the integration), and check that it exists (status " + status + ")"}}
	case code == http.StatusTooManyRequests || code >= 500:
		return &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown, Transient: true,
			Message: "the IAM Credentials API failed; try again later"}}
	}
	return &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown,
		Message: "the platform could not call the IAM Credentials API; this is a problem of the platform's configuration, not of the integration"}}
}

// Health reports the key, or the impersonated account with the IAM binding to grant.
func (d *Driver) Health(in *destination.Integration, _ time.Time) destination.Health {
	c := in.Config
	if c.GCSImpersonateServiceAccount == "" {
		return destination.Health{Auth: "serviceAccountKey", Description: "a stored service-account key (it does not expire unless the key is deleted or an organization policy sets an expiry)"}
	}
	h := destination.Health{Auth: "impersonation", Description: "the platform impersonates " + c.GCSImpersonateServiceAccount +
		"; short-lived tokens are minted for each client and renewed before they expire"}
	h.Setup = ImpersonationSetup(c, d.opts.PlatformServiceAccount)
	if d.opts.PlatformTokenSource == nil {
		h.Warnings = append(h.Warnings, "this deployment has no platform Google identity: deliveries by impersonation fail")
	}
	return h
}

// ImpersonationSetup returns the IAM binding the customer adds to their service account.
func ImpersonationSetup(cfg destination.Config, platform string) *destination.Setup {
	member := "serviceAccount:" + platform
	if platform == "" {
		member = "serviceAccount:<the platform's service account>"
	}
	binding, _ := json.MarshalIndent(struct {
		Resource string   `json:"resource"`
		Role     string   `json:"role"`
		Members  []string `json:"members"`
	}{Resource: "projects/-/serviceAccounts/" + cfg.GCSImpersonateServiceAccount, Role: "roles/iam.serviceAccountTokenCreator", Members: []string{member}}, "", "  ")
	return &destination.Setup{Principal: platform, IAMBinding: binding,
		Instructions: "gcloud iam service-accounts add-iam-policy-binding " + cfg.GCSImpersonateServiceAccount + " --member=" + member +
			" --role=roles/iam.serviceAccountTokenCreator; the service account itself needs to create and delete objects in gs://" + cfg.Bucket + " (roles/storage.objectUser)."}
}
