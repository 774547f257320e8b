package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"path"
	"sync"
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
	setup func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw)
	// file sources are files (what the delivery engine hands uploaders: a section reader of
	// known size), which the drivers upload part by part straight from the file.
	file bool
	// tls puts the proxy on https (the production wire: records gathered per write, see
	// provider/tlsconn.go), so its faults break TLS connections.
	tls bool
}

// wire puts a fault proxy in front of a store's endpoint: it returns the proxy's URL and the
// provider options to reach it with (trusting its certificate over https).
type wire func(target string) (string, provider.Options)

var opts = provider.Options{PartSize: partSize, Concurrency: 2, CleanupTimeout: 20 * time.Second,
	ResponseHeaderTimeout: 5 * time.Second, AllowedNetworks: emulator.Loopback}

var backends = []backend{
	{name: "s3", setup: func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedS3(t)
		cfg := srv.Bucket(t)
		raw := srv.RawS3(cfg)
		var o provider.Options
		cfg.Endpoint, o = px(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, o, nil, s3.NewDriver(s3.Options{FailTimeout: time.Second, AbortSettle: 200 * time.Millisecond})), u.Integration(destination.S3, cfg), raw
	}},
	{name: "azure", setup: func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedAzure(t)
		cfg := srv.Container(t)
		raw := srv.RawAzure(t, cfg)
		var o provider.Options
		cfg.Endpoint, o = px(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, o, nil, azure.NewDriver(azure.Options{})), u.Integration(destination.Azure, cfg), raw
	}},
	{name: "gcs", setup: func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw) {
		cfg := emulator.GCS(t)
		raw := emulator.RawGCS(cfg)
		var o provider.Options
		cfg.Endpoint, o = px(cfg.Endpoint)
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, o, nil, gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}})),
			u.Integration(destination.GCS, cfg), raw
	}},
	{name: "drive", setup: func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := drivetest.NewServer(drivetest.Options{})
		t.Cleanup(srv.Close)
		endpoint, o := px(srv.URL())
		d := drive.NewDriver(drive.DriverOptions{OAuth: srv.OAuthConfig(""), Options: drive.Options{Endpoint: endpoint + "/drive/v3/",
			Retry: drive.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}}})
		var u emulator.Unsealer
		return emulator.NewClient(t, &u, o, nil, d), u.Integration(destination.Drive, destination.Config{DriveRefreshToken: srv.IssueRefreshToken()}), rawDrive(srv)
	}},
	{name: "cdn-s3", setup: func(t *testing.T, px wire) (destination.Uploader, *destination.Integration, emulator.Raw) {
		srv := emulator.NeedS3(t)
		cfg := srv.Bucket(t)
		raw := srv.RawS3(cfg)
		endpoint, o := px(srv.Endpoint)
		client := awss3.New(awss3.Options{Region: srv.Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true, HTTPClient: emulator.HTTPClient(o.RootCAs),
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
	// The same stores with file sources, at 20% faults, over http and over https.
	for _, be := range backends {
		backends = append(backends, backend{name: be.name + "-file", setup: be.setup, file: true},
			backend{name: be.name + "-file-tls", setup: be.setup, file: true, tls: true})
	}
}

// proxied is one backend behind its fault proxy.
type proxied struct {
	proxy *faultproxy.Proxy
	up    destination.Uploader
	in    *destination.Integration
	raw   emulator.Raw
	// aborted are the S3 upload IDs the server confirmed aborted (204), seen by the proxy.
	aborted sync.Map
}

// start sets be up behind a proxy started with fo (its Target and TLS filled in).
func start(t *testing.T, be backend, fo faultproxy.Options) *proxied {
	px := &proxied{}
	fo.TLS = be.tls
	fo.Observe = func(r *http.Request, status int) {
		if id := r.URL.Query().Get("uploadId"); r.Method == http.MethodDelete && id != "" && status == http.StatusNoContent {
			px.aborted.Store(id, true)
		}
	}
	px.up, px.in, px.raw = be.setup(t, func(target string) (string, provider.Options) {
		fo.Target = target
		var err error
		if px.proxy, err = faultproxy.Start(fo); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.proxy.Close() })
		o := opts
		o.RootCAs = px.proxy.RootCAs
		return px.proxy.URL, o
	})
	return px
}

// source returns a maker of the upload's source: a stream of NewData, or a file of it.
func source(t *testing.T, be backend, size int64, seed byte) func() io.Reader {
	if !be.file {
		return func() io.Reader { return emulator.NewData(size, seed) }
	}
	file, _ := emulator.DataFile(t, size, seed)
	return func() io.Reader { return emulator.NewFileSource(file, size) }
}

// upload uploads src (size bytes) under key, trying again, as the engine would, while the
// failure is transient, at most attempts times; it returns the last result, the attempts made
// and the last error.
func (px *proxied) upload(key string, src func() io.Reader, size int64, attempts int) (destination.UploadResult, int, error) {
	var res destination.UploadResult
	var err error
	for a := 1; ; a++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err = px.up.Upload(ctx, px.in, key, src(), destination.UploadOptions{Size: size})
		cancel()
		ue := destination.AsUploadError(err)
		if err == nil || ue == nil || !ue.Transient || a == attempts {
			return res, a, err
		}
		time.Sleep(20*time.Millisecond + min(ue.RetryAfter, 50*time.Millisecond))
	}
}

// stored reports whether the object of a completed upload (res) holds exactly NewData(size,
// seed), failing the test if not.
func (px *proxied) stored(t *testing.T, key string, res destination.UploadResult, size int64, seed byte) bool {
	t.Helper()
	sum, err := px.raw.Sum(context.Background(), res.Key)
	want, _, _ := emulator.HashReader(emulator.NewData(size, seed))
	if err != nil || !bytes.Equal(sum, want) || res.Size != size {
		t.Errorf("%s reported completed (%+v) but the stored object differs (err %v)", key, res, err)
		return false
	}
	return true
}

// leftovers counts what failed uploads left under prefix: open multipart uploads (but those the
// server confirmed aborted), uncommitted Azure blocks, duplicate Drive files.
func (px *proxied) leftovers(t *testing.T, prefix string) int {
	t.Helper()
	left := 0
	switch {
	case px.raw.OpenUploads != nil:
		ids, err := px.raw.OpenUploads(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, ok := px.aborted.Load(id); ok {
				// versitygw (backend/posix) stores a part still being written when the abort
				// removed the upload's directory, and lists the upload again once the key's next
				// upload (the retry) is created. On AWS an aborted upload stays aborted: not a
				// leftover of ours (an upload nobody aborted still counts).
				t.Logf("upload %s was confirmed aborted (204) and is listed again: versitygw resurrected it", id)
				continue
			}
			left++
		}
	case px.raw.Leftovers != nil:
		var err error
		if left, err = px.raw.Leftovers(context.Background(), prefix); err != nil {
			t.Fatal(err)
		}
	}
	if left != 0 {
		t.Errorf("%d leftovers (open multipart uploads / uncommitted blocks / duplicate files)", left)
	}
	return left
}

// TestFaultMatrix uploads files of two parts through a proxy that breaks 5%, 20% and 50% of
// the requests (resets mid-body, stalls, 500, 503 SlowDown with Retry-After, answers cut off
// after the server processed the request), retrying transient failures as the engine would.
// Every store runs again at 20% with file sources (parts straight from the file), over http
// and over https. Every upload reported successful must be byte-identical in the store
// (SHA-256), one that failed must have failed transiently (its attempts ran out), and nothing
// may be left behind: no open multipart upload, no uncommitted Azure block.
func TestFaultMatrix(t *testing.T) {
	const files, attempts = 3, 8
	for _, be := range backends {
		for i, rate := range []float64{0.05, 0.2, 0.5} {
			if be.file && rate != 0.2 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%.0f%%", be.name, rate*100), func(t *testing.T) {
				px := start(t, be, faultproxy.Options{Rate: rate, Seed: uint64(i + 1)})
				var ok, failed, tries, wrong int
				for f := range files {
					size := int64(partSize + 1<<20 + f*1000)
					key := fmt.Sprintf("matrix/file-%d.mp4", f)
					src := source(t, be, size, byte(f))
					res, n, err := px.upload(key, src, size, attempts)
					tries += n
					if err != nil {
						failed++
						t.Logf("%s failed: %v", key, err)
						if ue := destination.AsUploadError(err); ue == nil {
							t.Errorf("%s: error is not an UploadError: %v", key, err)
						} else if !ue.Transient {
							t.Errorf("%s: only transient faults were injected, but the upload failed for good: %v", key, err)
						}
						continue
					}
					ok++
					if !px.stored(t, key, res, size, byte(f)) {
						wrong++
					}
				}
				left := px.leftovers(t, "matrix/")
				t.Logf("rate %.0f%%: %d ok, %d failed honestly, %d wrong, %d attempts, %d leftovers; %d requests, faults %v",
					rate*100, ok, failed, wrong, tries, left, px.proxy.Requests(), px.proxy.Counts())
			})
		}
	}
}

// TestRefusalMatrix refuses every part of a two-part upload with 403 AccessDenied, once after
// reading its body (Refuse) and once before reading any of it (EarlyAnswer: the client may
// see its connection reset before the answer), on every store, from streams and files, over
// http and https. The upload must fail with an UploadError (for Refuse, a permanent
// permission_denied), nothing may appear under the key, and nothing may be left behind.
func TestRefusalMatrix(t *testing.T) {
	const attempts = 4
	parts := func(r *http.Request) bool { return r.ContentLength >= 1<<20 } // part and chunk bodies
	for _, be := range backends {
		for _, fault := range []faultproxy.Fault{faultproxy.Refuse, faultproxy.EarlyAnswer} {
			t.Run(be.name+"/"+fault.String(), func(t *testing.T) {
				px := start(t, be, faultproxy.Options{Rate: 1, Faults: []faultproxy.Fault{fault}, Match: parts})
				const size = partSize + 1<<20
				key := "refused/" + be.name + ".mp4"
				src := source(t, be, size, 7)
				_, _, err := px.upload(key, src, size, attempts)
				ue := destination.AsUploadError(err)
				switch {
				case err == nil:
					t.Fatalf("every part was refused, yet the upload succeeded")
				case ue == nil:
					t.Errorf("error is not an UploadError: %v", err)
				case fault == faultproxy.Refuse && (ue.Transient || ue.Code != provider.CodePermissionDenied):
					t.Errorf("refused: code %s, transient %v, want a permanent %s: %v", ue.Code, ue.Transient, provider.CodePermissionDenied, err)
				case !ue.Transient && ue.Code != provider.CodePermissionDenied:
					t.Errorf("permanent failure with code %s, want %s: %v", ue.Code, provider.CodePermissionDenied, err)
				}
				if px.proxy.Count(fault) == 0 {
					t.Errorf("no request was refused")
				}
				if px.raw.Head != nil {
					if _, found, herr := px.raw.Head(context.Background(), key); herr != nil || found {
						t.Errorf("after the failed upload the key is there (%v, err %v)", found, herr)
					}
				} else if _, serr := px.raw.Sum(context.Background(), key); serr == nil {
					t.Errorf("after the failed upload the key is there")
				}
				px.leftovers(t, "refused/")
				t.Logf("%s: %v; %d requests, faults %v", fault, err, px.proxy.Requests(), px.proxy.Counts())
			})
		}
	}
}

// TestHostileAnswers answers 30% of the requests, after the server processed them, without any
// header or with a body of noise, on every store, from streams and files. Nothing may crash or
// hang; every failure is an UploadError; every upload reported completed is byte-identical in
// the store; nothing is left behind; and the connection test gives a result. (The seeds include a GCS stream whose chunk answer
// loses its 308 override: it hung storage.Writer past its context, see provider/gcs
// TestStreamUploadCompletedEarly; and seed 100 had the file path report one complete with
// nothing stored, see TestFileChunkAnsweredCompleteEarly.)
func TestHostileAnswers(t *testing.T) {
	const files, attempts = 3, 4
	for i, be := range backends {
		if be.tls {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			px := start(t, be, faultproxy.Options{Rate: 0.3, Faults: faultproxy.Hostile, Seed: uint64(500 + i)})
			var ok, failed int
			codes := map[string]int{}
			for f := range files {
				size := int64(partSize + 1<<20 + f*1000)
				key := fmt.Sprintf("hostile/file-%d.mp4", f)
				src := source(t, be, size, byte(f))
				res, _, err := px.upload(key, src, size, attempts)
				if err != nil {
					failed++
					ue := destination.AsUploadError(err)
					if ue == nil {
						t.Errorf("%s: error is not an UploadError: %v", key, err)
						continue
					}
					codes[ue.Code]++
					t.Logf("%s failed: %v", key, err)
					continue
				}
				ok++
				px.stored(t, key, res, size, byte(f))
			}
			if c, isClient := px.up.(*provider.Client); isClient {
				for range 3 { // the connection test under the same answers: a result, never a crash
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					res := c.Test(ctx, px.in)
					cancel()
					if res.Code == "" || res.Message == "" {
						t.Errorf("connection test: %+v, want a code and a message", res)
					}
					codes["test:"+res.Code]++
				}
			}
			left := px.leftovers(t, "hostile/")
			t.Logf("%d ok, %d failed, codes %v, %d leftovers; %d requests, faults %v", ok, failed, codes, left, px.proxy.Requests(), px.proxy.Counts())
		})
	}
}
