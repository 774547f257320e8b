package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// endless answers every request with status and a body that does not end (at most 1 GiB, so a
// client that reads it all still finishes), counting what it wrote.
func endless(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	var written atomic.Int64
	chunk := bytes.Repeat([]byte("A"), 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-ms-error-code", "InternalError")
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return
		}
		for written.Load() < 1<<30 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &written
}

// TestEndlessAnswerIsBounded: a tenant's endpoint that answers with an endless body, as an error
// (500) or as the result of an upload (200), costs the worker a bounded read on every provider:
// the upload fails with a permanent provider_incompatible (or another UploadError where the SDK
// gives up first), and the endpoint could not send more than the limits plus what the sockets
// buffer. Without the limit the SDKs read error answers into memory whole.
func TestEndlessAnswerIsBounded(t *testing.T) {
	oauth := drivetest.NewServer(drivetest.Options{})
	t.Cleanup(oauth.Close)
	type setup func(endpoint string) (destination.Provider, destination.Config, provider.Driver)
	providers := map[string]setup{
		"s3": func(endpoint string) (destination.Provider, destination.Config, provider.Driver) {
			return destination.S3, destination.Config{Bucket: "b", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", Endpoint: endpoint, Region: "us-east-1"},
				s3.NewDriver(s3.Options{})
		},
		"azure": func(endpoint string) (destination.Provider, destination.Config, provider.Driver) {
			return destination.Azure, destination.Config{AzureAccountName: "devstoreaccount1", AzureContainerName: "c", Endpoint: endpoint,
				AzureAccountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="}, azure.NewDriver(azure.Options{})
		},
		"gcs": func(endpoint string) (destination.Provider, destination.Config, provider.Driver) {
			return destination.GCS, destination.Config{Bucket: "b", GCSProjectID: "p", Endpoint: endpoint,
					GCSServiceAccountJSON: emulator.ServiceAccountJSON(t, "bounded@outputs-test.iam.gserviceaccount.com", true)},
				gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}})
		},
		"drive": func(endpoint string) (destination.Provider, destination.Config, provider.Driver) {
			return destination.Drive, destination.Config{DriveRefreshToken: oauth.IssueRefreshToken()},
				drive.NewDriver(drive.DriverOptions{OAuth: oauth.OAuthConfig(""), Options: drive.Options{Endpoint: endpoint + "/drive/v3/",
					Retry: drive.RetryPolicy{MaxAttempts: 1}}})
		},
	}
	for name, mk := range providers {
		for _, status := range []int{http.StatusInternalServerError, http.StatusOK} {
			t.Run(name+"/"+http.StatusText(status), func(t *testing.T) {
				srv, written := endless(t, status)
				p, cfg, drv := mk(srv.URL)
				var u emulator.Unsealer
				c := emulator.NewClient(t, &u, provider.Options{PartSize: 5 << 20, Concurrency: 1}, nil, drv)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				const size = 1 << 20
				_, err := c.Upload(ctx, u.Integration(p, cfg), "bounded/r.mp4", emulator.NewData(size, 1), destination.UploadOptions{Size: size})
				ue := destination.AsUploadError(err)
				if ue == nil {
					t.Fatalf("upload against an endless answer: %v, want an UploadError", err)
				}
				if ue.Code == destination.CodeCanceled {
					t.Errorf("the upload ran until its context ended: %v", err)
				}
				if errors.Is(err, provider.ErrResponseTooLarge) && (ue.Code != provider.CodeProviderIncompatible || ue.Transient) {
					t.Errorf("answer too large: code %s transient %v, want a permanent %s", ue.Code, ue.Transient, provider.CodeProviderIncompatible)
				}
				if n := written.Load(); n > 64<<20 {
					t.Errorf("the endpoint sent %d MiB before the client stopped reading", n>>20)
				}
				t.Logf("%s: endpoint wrote %.1f MiB; %v", ue.Code, float64(written.Load())/(1<<20), err)
			})
		}
	}
}

// panicDriver panics in Open or in ObjectURL; its buckets are in memory.
type panicDriver struct{ in string }

func (panicDriver) Providers() []destination.Provider { return []destination.Provider{destination.S3} }

func (d panicDriver) Open(context.Context, *destination.Integration, destination.Config, *http.Client) (*blob.Bucket, error) {
	if d.in == "open" {
		panic("driver Open")
	}
	return memblob.OpenBucket(nil), nil
}

func (d panicDriver) ObjectURL(context.Context, *blob.Bucket, *destination.Integration, string) (string, error) {
	if d.in == "url" {
		panic("driver ObjectURL")
	}
	return "", nil
}

// TestDriverPanicIsAnError: a driver (or the SDK under it) that panics, in the Client's
// goroutine or in the shared open's, fails the upload or the test with a permanent error; the
// process lives on.
func TestDriverPanicIsAnError(t *testing.T) {
	for _, where := range []string{"open", "url"} {
		t.Run(where, func(t *testing.T) {
			var u emulator.Unsealer
			c := emulator.NewClient(t, &u, provider.Options{}, nil, panicDriver{in: where})
			in := u.Integration(destination.S3, destination.Config{Bucket: "b", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", Region: "us-east-1"})
			_, err := c.Upload(context.Background(), in, "p.mp4", strings.NewReader("abc"), destination.UploadOptions{Size: 3})
			if ue := destination.AsUploadError(err); ue == nil || ue.Transient {
				t.Errorf("upload: %v, want a permanent UploadError", err)
			}
			if where == "open" {
				if res := c.Test(context.Background(), in); res.Code == provider.CodeOK {
					t.Errorf("test: %+v, want a failure", res)
				}
			}
		})
	}
}

// TestConfirmedButMissing: an endpoint that confirms a write (200 and an ETag) but then has no
// such object must not yield a completed copy: the upload fails as a transient
// checksum_mismatch, so the engine tries again and finally reports the failure.
func TestConfirmedButMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPut {
			w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	var u emulator.Unsealer
	c := emulator.NewClient(t, &u, provider.Options{}, nil, s3.NewDriver(s3.Options{}))
	in := u.Integration(destination.S3, destination.Config{Bucket: "b", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", Endpoint: srv.URL, Region: "us-east-1"})
	res, err := c.Upload(context.Background(), in, "gone.mp4", strings.NewReader("abc"), destination.UploadOptions{Size: 3})
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != destination.CodeChecksumMismatch || !ue.Transient {
		t.Fatalf("upload to an endpoint that stores nothing: %+v, %v; want a transient %s", res, err, destination.CodeChecksumMismatch)
	}
}
