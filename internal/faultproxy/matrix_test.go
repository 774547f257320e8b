package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob/s3blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

const partSize = 5 << 20

// backend sets up one store behind a fault proxy: it returns the uploader (through the proxy),
// the integration (nil for the CDN), and raw access to the store (direct, without faults).
type backend struct {
	name  string
	setup func(t *testing.T, proxied func(target string) string) (destination.Uploader, *destination.Integration, emulator.Raw)
}

// fileSuffix ends the name of a backend whose sources are files (what the delivery engine
// hands uploaders: a section reader of known size), which the drivers upload part by part
// straight from the file.
const fileSuffix = "-file"

var opts = provider.Options{PartSize: partSize, Concurrency: 2, CleanupTimeout: 20 * time.Second,
	ResponseHeaderTimeout: 5 * time.Second, AllowedNetworks: emulator.Loopback}

var backends = []backend{
	{"s3", func(t *testing.T, proxied func(string) string) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedS3(t)
		cfg := srv.Bucket(t)
		raw := srv.RawS3(cfg)
		cfg.Endpoint = proxied(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, opts, nil, s3.NewDriver(s3.Options{FailTimeout: time.Second, AbortSettle: 200 * time.Millisecond})), u.Integration(destination.S3, cfg), raw
	}},
	{"azure", func(t *testing.T, proxied func(string) string) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedAzure(t)
		cfg := srv.Container(t)
		raw := srv.RawAzure(t, cfg)
		cfg.Endpoint = proxied(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, opts, nil, azure.NewDriver(azure.Options{})), u.Integration(destination.Azure, cfg), raw
	}},
	{"gcs", func(t *testing.T, proxied func(string) string) (destination.Uploader, *destination.Integration, emulator.Raw) {
		cfg := emulator.GCS(t)
		raw := emulator.RawGCS(cfg)
		cfg.Endpoint = proxied(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, opts, nil, gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}})),
			u.Integration(destination.GCS, cfg), raw
	}},
	{"drive", func(t *testing.T, proxied func(string) string) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := drivetest.NewServer(drivetest.Options{})
		t.Cleanup(srv.Close)
		d := drive.NewDriver(drive.DriverOptions{OAuth: srv.OAuthConfig(""), Options: drive.Options{Endpoint: proxied(srv.URL()) + "/drive/v3/",
			Retry: drive.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}}})
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, opts, nil, d), u.Integration(destination.Drive, destination.Config{DriveRefreshToken: srv.IssueRefreshToken()}), rawDrive(srv)
	}},
	{"cdn-s3", func(t *testing.T, proxied func(string) string) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedS3(t)
		cfg := srv.Bucket(t)
		raw := srv.RawS3(cfg)
		client := awss3.New(awss3.Options{Region: srv.Region, BaseEndpoint: aws.String(proxied(srv.Endpoint)), UsePathStyle: true,
			Credentials:                credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			RetryMaxAttempts: 1})
		b, err := s3blob.OpenBucket(context.Background(), client, cfg.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		cdn, err := provider.NewCDN(b, provider.CDNOptions{PartSize: partSize, Concurrency: 2, CleanupTimeout: 20 * time.Second,
			Driver: s3.NewDriver(s3.Options{FailTimeout: time.Second, AbortSettle: 200 * time.Millisecond})})
		if err != nil {
			t.Fatal(err)
		}
		return emulator.CDNUploader(cdn), nil, raw
	}},
}

// rawDrive reads the Drive fake directly: the file of a key must be the only live one of its
// name (a duplicate counts as a leftover: a retried or resumed upload made a second file).
func rawDrive(srv *drivetest.Server) emulator.Raw {
	live := func(name string) []drivetest.Item {
		var out []drivetest.Item
		for _, it := range srv.Items() {
			if it.Name == name && !it.Trashed && it.MimeType != drive.FolderMimeType {
				out = append(out, it)
			}
		}
		return out
	}
	return emulator.Raw{
		Sum: func(_ context.Context, key string) ([]byte, error) {
			got := live(path.Base(key))
			if len(got) != 1 {
				return nil, fmt.Errorf("%d files named %s", len(got), path.Base(key))
			}
			b, _ := srv.Content(got[0].ID)
			sum := sha256.Sum256(b)
			return sum[:], nil
		},
		Leftovers: func(context.Context, string) (int, error) {
			n := 0
			seen := map[string]bool{}
			for _, it := range srv.Items() {
				if !it.Trashed && it.MimeType != drive.FolderMimeType && !seen[it.Name] {
					seen[it.Name] = true
					n += max(0, len(live(it.Name))-1)
				}
			}
			return n, nil
		},
	}
}

func init() {
	// The same stores with file sources, at 20% faults.
	for _, be := range backends {
		backends = append(backends, backend{name: be.name + fileSuffix, setup: be.setup})
	}
}

// TestFaultMatrix uploads files of two parts through a proxy that breaks 5%, 20% and 50% of
// the requests (resets mid-body, stalls, 500, 503 SlowDown with Retry-After, answers cut off
// after the server processed the request), retrying transient failures as the engine would.
// Every store runs again at 20% with file sources (parts straight from the
// file). Every upload reported successful must be byte-identical in the store (SHA-256), and nothing
// may be left behind: no open multipart upload, no uncommitted Azure block.
func TestFaultMatrix(t *testing.T) {
	const files, attempts = 3, 8
	for _, be := range backends {
		file := strings.HasSuffix(be.name, fileSuffix)
		for i, rate := range []float64{0.05, 0.2, 0.5} {
			if file && rate != 0.2 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%.0f%%", be.name, rate*100), func(t *testing.T) {
				var proxy *faultproxy.Proxy
				up, in, raw := be.setup(t, func(target string) string {
					var err error
					proxy, err = faultproxy.Start(faultproxy.Options{Target: target, Rate: rate, Seed: uint64(i + 1)})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { proxy.Close() })
					return proxy.URL
				})
				var ok, failed, tries, wrong int
				for f := range files {
					size := int64(partSize + 1<<20 + f*1000)
					key := fmt.Sprintf("matrix/file-%d.mp4", f)
					src := func() io.Reader { return emulator.NewData(size, byte(f)) }
					if file {
						file, _ := emulator.DataFile(t, size, byte(f))
						src = func() io.Reader { return emulator.NewFileSource(file, size) }
					}
					var res destination.UploadResult
					var err error
					for a := 0; a < attempts; a++ {
						tries++
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						res, err = up.Upload(ctx, in, key, src(), destination.UploadOptions{Size: size})
						cancel()
						ue := destination.AsUploadError(err)
						if err == nil || ue == nil || !ue.Transient {
							break
						}
						time.Sleep(20*time.Millisecond + min(ue.RetryAfter, 50*time.Millisecond))
					}
					if err != nil {
						failed++
						t.Logf("%s failed: %v", key, err)
						if destination.AsUploadError(err) == nil {
							t.Errorf("%s: error is not an UploadError: %v", key, err)
						}
						continue
					}
					ok++
					sum, serr := raw.Sum(context.Background(), res.Key)
					want, _, _ := emulator.HashReader(emulator.NewData(size, byte(f)))
					if serr != nil || !bytes.Equal(sum, want) || res.Size != size {
						wrong++
						t.Errorf("%s reported completed (%+v) but the stored object differs (err %v)", key, res, serr)
					}
				}
				left := 0
				if raw.Leftovers != nil {
					var err error
					if left, err = raw.Leftovers(context.Background(), "matrix/"); err != nil {
						t.Fatal(err)
					}
					if left != 0 {
						t.Errorf("%d leftovers (open multipart uploads / uncommitted blocks)", left)
					}
				}
				t.Logf("rate %.0f%%: %d ok, %d failed honestly, %d wrong, %d attempts, %d leftovers; %d requests, faults %v",
					rate*100, ok, failed, wrong, tries, left, proxy.Requests(), proxy.Counts())
			})
		}
	}
}
