package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
	"github.com/ilovevideoeditor/outputs/provider"
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

// NeedS3TLS returns the https versitygw, or skips (fails under CI=true).
func NeedS3TLS(t testing.TB) S3Server {
	t.Helper()
	srv := NeedS3(t)
	srv.Endpoint = testenv.Need(t, "OUTPUTS_TEST_S3_TLS_ENDPOINT", "versitygw over TLS")
	srv.RootCAs = RootCAs(t, testenv.Need(t, "OUTPUTS_TEST_S3_TLS_CA", "versitygw over TLS"))
	return srv
}

// NeedAzureTLS returns the https Azurite, or skips (fails under CI=true).
func NeedAzureTLS(t testing.TB) AzureServer {
	t.Helper()
	srv := NeedAzure(t)
	srv.Endpoint = testenv.Need(t, "OUTPUTS_TEST_AZURE_TLS_ENDPOINT", "Azurite over TLS")
	srv.RootCAs = RootCAs(t, testenv.Need(t, "OUTPUTS_TEST_AZURE_TLS_CA", "Azurite over TLS"))
	return srv
}

// GCSTLS makes a fresh bucket on the https fake-gcs-server (see GCS) and returns its config and
// the roots that verify it, or skips (fails under CI=true).
func GCSTLS(t testing.TB) (destination.Config, *x509.CertPool) {
	t.Helper()
	endpoint := testenv.Need(t, "OUTPUTS_TEST_GCS_TLS_ENDPOINT", "fake-gcs-server over TLS")
	roots := RootCAs(t, testenv.Need(t, "OUTPUTS_TEST_GCS_TLS_CA", "fake-gcs-server over TLS"))
	return gcsBucket(t, endpoint, HTTPClient(roots)), roots
}

// CheckTLS uploads a three-part object (5 MiB parts) over https through a client of drivers
// that trusts roots through provider.Options.RootCAs, recording its requests into rec when
// non-nil, and reads it back; then checks that a client without the roots is refused at the
// handshake (a certificate verification error) and that nothing was written.
func CheckTLS(t *testing.T, p destination.Provider, cfg destination.Config, roots *x509.CertPool, rec *Recorder, drivers ...provider.Driver) {
	t.Helper()
	ctx := context.Background()
	var u Unsealer
	in := u.Integration(p, cfg)
	opts := provider.Options{RootCAs: roots, PartSize: 5 << 20, Concurrency: 2}
	if rec != nil {
		opts.WrapTransport = rec.Wrap
	}
	c := NewClient(t, &u, opts, nil, drivers...)
	const size = 11 << 20
	src := NewData(size, 3)
	if _, err := c.Upload(ctx, in, "tls/object.mp4", src, destination.UploadOptions{Size: size}); err != nil {
		t.Fatalf("Upload over TLS: %v", err)
	}
	b, release, err := c.Lease(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r, err := b.NewReader(ctx, "tls/object.mp4", nil)
	if err != nil {
		t.Fatalf("open for read back: %v", err)
	}
	sum, n, err := HashReader(r)
	r.Close()
	if err != nil || n != size || !bytes.Equal(sum, src.Sum()) {
		t.Fatalf("read back %d bytes (err %v), SHA-256 match %v", n, err, bytes.Equal(sum, src.Sum()))
	}

	var u2 Unsealer
	untrusting := NewClient(t, &u2, provider.Options{}, nil, drivers...)
	_, err = untrusting.Upload(ctx, u2.Integration(p, cfg), "tls/untrusted.mp4", NewData(1<<10, 4), destination.UploadOptions{Size: 1 << 10})
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Fatalf("upload to a server of an unknown CA: err = %v, want a certificate verification error", err)
	}
	if ok, err := b.Exists(ctx, "tls/untrusted.mp4"); err != nil || ok {
		t.Fatalf("untrusted upload: object exists %v (err %v)", ok, err)
	}
}
