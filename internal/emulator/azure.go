package emulator

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// AzureServer is the Azurite instance scripts/services.d/azurite.sh started.
type AzureServer struct {
	Endpoint, Account, Key string
	// RootCAs are the roots that verify an https Endpoint (BenchAzure); nil over http.
	RootCAs *x509.CertPool
}

// NeedAzure returns the running Azurite, or skips (fails under CI=true).
func NeedAzure(t testing.TB) AzureServer {
	t.Helper()
	return AzureServer{
		Endpoint: testenv.Need(t, "OUTPUTS_TEST_AZURE_ENDPOINT", "Azurite (Azure Blob)"),
		Account:  testenv.Need(t, "OUTPUTS_TEST_AZURE_ACCOUNT", "Azurite (Azure Blob)"),
		Key:      testenv.Need(t, "OUTPUTS_TEST_AZURE_KEY", "Azurite (Azure Blob)"),
	}
}

// ContainerClient returns a raw azblob container client for name (over the SDK's default
// transport, or one trusting RootCAs).
func (s AzureServer) ContainerClient(t testing.TB, name string) *container.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	var opts *container.ClientOptions
	if s.RootCAs != nil {
		opts = &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: HTTPClient(s.RootCAs)}}
	}
	cc, err := container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+s.Account+"/"+name, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// Azure makes a fresh container on Azurite and returns the config of an "azure" integration for
// it (endpoint override http://127.0.0.1:<port>, account key included). The container is
// deleted when the test ends.
func Azure(t testing.TB) destination.Config {
	t.Helper()
	return NeedAzure(t).Container(t)
}

// Container makes a fresh container on s; see Azure.
func (s AzureServer) Container(t testing.TB) destination.Config {
	t.Helper()
	name := Name("outputs-")
	cc := s.ContainerClient(t, name)
	if _, err := cc.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container on Azurite: %v", err)
	}
	t.Cleanup(func() { _, _ = cc.Delete(context.Background(), nil) })
	return destination.Config{AzureAccountName: s.Account, AzureAccountKey: s.Key, AzureContainerName: name, Endpoint: s.Endpoint}
}
