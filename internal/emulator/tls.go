package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Each emulator script in scripts/services.d also starts a second instance that serves https
// with a certificate from a throwaway test CA, and exports its endpoint and the CA's file
// (OUTPUTS_TEST_{S3,AZURE,GCS}_TLS_ENDPOINT and ..._TLS_CA). Production endpoints are https, and
// the SDKs behave differently there (the AWS SDK signs UNSIGNED-PAYLOAD instead of hashing each
// part for SigV4), so the upload benchmarks use these instances when they are there.

// tlsServer returns the endpoint in the variable name+"_TLS_ENDPOINT" and the roots of the CA
// file in name+"_TLS_CA", or "" and nil (logged) when the variable is unset.
func tlsServer(t testing.TB, name string) (string, *x509.CertPool) {
	t.Helper()
	endpoint := os.Getenv(name + "_TLS_ENDPOINT")
	if endpoint == "" {
		t.Logf("%s_TLS_ENDPOINT unset: measuring over plain http, not the production path", name)
		return "", nil
	}
	return endpoint, RootCAs(t, os.Getenv(name+"_TLS_CA"))
}

// RootCAs returns a pool holding the PEM certificates in file.
func RootCAs(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read test CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in test CA file %s", file)
	}
	return pool
}

// HTTPClient returns an HTTP client with net/http's default transport settings that trusts
// roots (the system's when nil), for the raw SDK baselines.
func HTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// BenchS3 returns the https versitygw when it runs, else the plain one (see NeedS3).
func BenchS3(t testing.TB) S3Server {
	t.Helper()
	srv := NeedS3(t)
	if endpoint, roots := tlsServer(t, "OUTPUTS_TEST_S3"); endpoint != "" {
		srv.Endpoint, srv.RootCAs = endpoint, roots
	}
	return srv
}

// awsHTTPClient is the AWS SDK's own default HTTP client, trusting roots when set.
func awsHTTPClient(roots *x509.CertPool) *awshttp.BuildableClient {
	c := awshttp.NewBuildableClient()
	if roots != nil {
		c = c.WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.RootCAs = roots
		})
	}
	return c
}

// BenchAzure returns the https Azurite when it runs, else the plain one (see NeedAzure).
func BenchAzure(t testing.TB) AzureServer {
	t.Helper()
	srv := NeedAzure(t)
	if endpoint, roots := tlsServer(t, "OUTPUTS_TEST_AZURE"); endpoint != "" {
		srv.Endpoint, srv.RootCAs = endpoint, roots
	}
	return srv
}

// BenchGCS makes a fresh bucket on the https fake-gcs-server when it runs, else on the plain
// one (see GCS), and returns its config and the roots to trust (nil over http).
func BenchGCS(t testing.TB) (destination.Config, *x509.CertPool) {
	t.Helper()
	endpoint, roots := tlsServer(t, "OUTPUTS_TEST_GCS")
	if endpoint == "" {
		return GCS(t), nil
	}
	return gcsBucket(t, endpoint, HTTPClient(roots)), roots
}
