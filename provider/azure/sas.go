package azure

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// A SAS token authenticates every request by itself (it is appended to each URL), so the
// container client carries no credential. The token must be a container SAS (sr=c): the
// driver refuses an account SAS, which reaches beyond the container. Azure (and Azurite)
// check the signature, permissions and expiry on every request; the driver reads the
// permissions and expiry (destination.ParseSAS) only to explain failures and warn.
//
// Deliveries need write (w), or at least create (c), which cannot overwrite. The connection
// test also deletes its probe files, which needs delete (d): without it the probe files stay
// (the test passes with warnings naming them, and the view warns beforehand).

// redactingTransport sends requests with hc and removes the query (which carries the SAS
// signature) from the URL a transport error quotes.
type redactingTransport struct{ hc *http.Client }

func (t redactingTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.hc.Do(req)
	var ue *url.Error
	if err != nil && errors.As(err, &ue) {
		if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
			ue.URL = ue.URL[:i] + "?<SAS redacted>"
		}
	}
	return resp, err
}

// openSAS opens the container with a SAS token.
func openSAS(ctx context.Context, svc string, cfg destination.Config, copts *container.ClientOptions) (*blob.Bucket, error) {
	if cfg.AzureContainerName == "" {
		return nil, provider.BadConfig("azureContainerName", "is required")
	}
	if _, err := destination.ParseSAS(cfg.AzureSASToken); err != nil {
		return nil, provider.BadConfig("azureSasToken", err.Error())
	}
	u := svc + "/" + url.PathEscape(cfg.AzureContainerName) + "?" + strings.TrimPrefix(strings.TrimSpace(cfg.AzureSASToken), "?")
	if hc, ok := copts.Transport.(*http.Client); ok {
		copts.Transport = redactingTransport{hc}
	}
	cc, err := container.NewClientWithNoCredential(u, copts)
	if err != nil {
		// Not wrapped: the error may quote the URL, and so the signature.
		return nil, provider.BadConfig("azureSasToken", "does not form a valid container URL")
	}
	return azureblob.OpenBucket(ctx, cc, nil)
}

// Health reports the shared key, or the SAS token's permissions and expiry.
func (d *Driver) Health(in *destination.Integration, now time.Time) destination.Health {
	c := in.Config
	if c.AzureSASPermissions == "" {
		return destination.Health{Auth: "accountKey", Description: "the storage account's shared key (it does not expire; rotating it in Azure breaks deliveries until it is updated here)"}
	}
	h := destination.Health{Auth: "sas", Description: "a shared access signature for container " + c.AzureContainerName + " granting " + c.AzureSASPermissions}
	s := destination.SAS{Permissions: c.AzureSASPermissions}
	if t, err := time.Parse(time.RFC3339, c.AzureSASExpiry); err == nil {
		s.Expiry = t
		h.ExpiresAt = &t
		h.Expired = !t.After(now)
	}
	h.MissingPermissions = s.Missing()
	h.Warnings = s.Notes(now)
	return h
}
