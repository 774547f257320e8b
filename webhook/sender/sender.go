package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/webhook"
)

// Options configure a Sender.
type Options struct {
	// Provider supplies the SSRF-guarded HTTP client (provider.Client.HTTPClient); its
	// AllowedNetworks decide which private networks a webhook may reach.
	Provider *provider.Client
	// Endpoints looks up each workspace's webhook; Keyring opens its secret.
	Endpoints webhook.Endpoints
	Keyring   webhook.Sealer
	// Timeout bounds one POST. Default 10 s.
	Timeout time.Duration
	// AllowInsecureURLs accepts http:// webhook URLs (tests, private deployments).
	AllowInsecureURLs bool
}

// Sender signs and posts messages through the provider package's SSRF-guarded HTTP client.
// Safe for concurrent use.
type Sender struct {
	opts Options
	hc   *http.Client
}

// New returns a Sender; Provider, Endpoints and Keyring are required.
func New(opts Options) (*Sender, error) {
	if opts.Provider == nil || opts.Endpoints == nil || opts.Keyring == nil {
		return nil, errors.New("webhook/sender: New needs Provider, Endpoints and Keyring")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Sender{opts: opts, hc: opts.Provider.HTTPClient()}, nil
}

// Send posts m to its workspace's webhook, signed. A workspace without a webhook sends nothing
// and returns nil. Failures are *webhook.SendError values, which never contain the secret.
func (s *Sender) Send(ctx context.Context, m webhook.Message) error {
	ep, err := s.opts.Endpoints.Endpoint(ctx, m.WorkspaceID)
	if errors.Is(err, destination.ErrNotFound) {
		return nil
	} else if err != nil {
		return &webhook.SendError{Err: fmt.Errorf("looking up the endpoint: %w", err)}
	}
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (s.opts.AllowInsecureURLs && u.Scheme == "http")) {
		return &webhook.SendError{Permanent: true, Err: errors.New("the webhook URL must be an https URL")}
	}
	secret, err := webhook.OpenSecret(s.opts.Keyring, m.WorkspaceID, ep.SealedSecret)
	if err != nil {
		return &webhook.SendError{Permanent: true, Err: err}
	}
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{m.Type, m.Timestamp.UTC(), m.Data})
	if err != nil {
		return &webhook.SendError{Permanent: true, Err: err}
	}
	now := time.Now()
	sig, err := webhook.Sign(secret, m.ID, now, body)
	if err != nil {
		return &webhook.SendError{Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return &webhook.SendError{Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, m.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := s.hc.Do(req)
	if err != nil {
		return &webhook.SendError{Permanent: errors.Is(err, provider.ErrBlockedAddress), Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &webhook.SendError{Status: resp.StatusCode}
	default: // other 4xx, and 3xx (redirects are never followed)
		return &webhook.SendError{Status: resp.StatusCode, Permanent: true}
	}
}
