// Package azure is the provider.Driver for Azure Blob Storage, over
// gocloud.dev/blob/azureblob with the integration's own account name and either its shared key
// or a container SAS token (Config.AzureSASToken; see sas.go for what the driver checks).
//
// The container URL is https://<account>.blob.core.windows.net/<container>. Config.Endpoint
// optionally overrides the service endpoint: an endpoint whose host starts with "<account>." is
// used as is (sovereign clouds: https://<account>.blob.core.chinacloudapi.cn); any other
// endpoint gets the account as the first path segment, as the Azurite emulator and Azure Stack
// expect (http://127.0.0.1:10000/devstoreaccount1).
package azure

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Options configures the driver. The zero value is usable.
type Options struct {
	// MaxRetries is the SDK's retries per request (default 0: none, the delivery engine
	// retries whole uploads so attempts never multiply; the Client retries cleanups itself).
	MaxRetries int32
}

// Driver opens Azure Blob containers. Create it with NewDriver.
type Driver struct {
	opts Options
}

var (
	_ provider.Driver          = (*Driver)(nil)
	_ provider.MultipartProber = (*Driver)(nil)
)

// NewDriver returns a driver for azure.
func NewDriver(opts Options) *Driver {
	return &Driver{opts: opts}
}

// Providers returns azure.
func (d *Driver) Providers() []destination.Provider { return []destination.Provider{destination.Azure} }

// ServiceURL returns the blob service URL of an account: the default public endpoint, or the
// Config.Endpoint override (see the package documentation).
func ServiceURL(c destination.Config) (string, error) {
	if c.AzureAccountName == "" {
		return "", provider.BadConfig("azureAccountName", "is required")
	}
	if c.Endpoint == "" {
		return "https://" + c.AzureAccountName + ".blob.core.windows.net", nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" {
		return "", provider.BadConfig("endpoint", "is not a URL")
	}
	base := u.Scheme + "://" + u.Host
	if strings.HasPrefix(strings.ToLower(u.Hostname()), c.AzureAccountName+".") {
		return base, nil
	}
	return base + "/" + c.AzureAccountName, nil
}

// Open builds a container client over hc, with the shared key or the SAS token, and opens the
// container. It makes no request.
func (d *Driver) Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	if hc == nil {
		return nil, errors.New("azure: Open needs an HTTP client")
	}
	svc, err := ServiceURL(cfg)
	if err != nil {
		return nil, err
	}
	retries := d.opts.MaxRetries
	if retries <= 0 {
		retries = -1 // azcore: 0 would mean its default of 3
	}
	copts := &container.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: retries},
		PerRetryPolicies: []policy.Policy{answerCheck{}}}}
	if cfg.AzureSASToken != "" && cfg.AzureAccountKey == "" {
		return openSAS(ctx, svc, cfg, copts)
	}
	if cfg.AzureContainerName == "" || cfg.AzureAccountKey == "" {
		return nil, provider.BadConfig("azureAccountKey", "azureContainerName and azureAccountKey (or azureSasToken) are required")
	}
	if _, err := base64.StdEncoding.DecodeString(cfg.AzureAccountKey); err != nil {
		// Never wrap the decoder's error: it quotes the offending input.
		return nil, provider.BadConfig("azureAccountKey", "is not base64")
	}
	cred, err := azblob.NewSharedKeyCredential(cfg.AzureAccountName, cfg.AzureAccountKey)
	if err != nil {
		return nil, provider.BadConfig("azureAccountKey", "is not usable")
	}
	cc, err := container.NewClientWithSharedKeyCredential(svc+"/"+url.PathEscape(cfg.AzureContainerName), cred, copts)
	if err != nil {
		return nil, provider.BadConfig("azureContainerName", "does not form a valid container URL")
	}
	return azureblob.OpenBucket(ctx, cc, nil)
}

// ProbeMultipart writes key as one staged block committed with Put Block List (the path of
// every upload larger than one block), then deletes it.
func (d *Driver) ProbeMultipart(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string) error {
	var cc *container.Client
	if !b.As(&cc) {
		return nil
	}
	bb := cc.NewBlockBlobClient(key)
	id := base64.StdEncoding.EncodeToString([]byte("outputs-probe-block-0001"))
	body := []byte("outputs multipart connection test; safe to delete\n")
	if _, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(body)), nil); err != nil {
		return err
	}
	if _, err := bb.CommitBlockList(ctx, []string{id}, nil); err != nil {
		return err
	}
	_, err := bb.Delete(ctx, nil)
	return provider.ProbeDeleted(key, err)
}

// ObjectURL returns the blob's URL on the service endpoint.
// Whether it is readable depends on the container's public access level.
func (d *Driver) ObjectURL(_ context.Context, _ *blob.Bucket, in *destination.Integration, key string) (string, error) {
	c := in.Config
	svc, err := ServiceURL(c)
	if err != nil {
		return "", err
	}
	return provider.JoinURL(svc+"/"+url.PathEscape(c.AzureContainerName), d.StoredKey(key)), nil
}

var _ provider.HealthReporter = (*Driver)(nil)
