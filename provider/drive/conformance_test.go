package drive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/drivertest"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

// fastRetry keeps tests quick: tiny backoffs, no pacing.
var fastRetry = RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MinInterval: -1}

type harness struct {
	srv    *drivetest.Server
	root   string
	prefix string
	opts   Options
}

// rootKind chooses where a harness's bucket lives.
type rootKind int

const (
	inFolder      rootKind = iota // a folder in My Drive
	inSharedDrive                 // a folder in a shared drive: every call needs supportsAllDrives
	atMyDrive                     // My Drive's root itself (folder ID "")
)

// newHarness starts a fake and makes a folder to be the bucket's root.
func newHarness(ctx context.Context, t *testing.T, prefix string, kind rootKind) (drivertest.Harness, error) {
	srv := drivetest.NewServer(drivetest.Options{})
	opts := Options{Endpoint: srv.Endpoint(), ChunkSize: 256 << 10, Retry: fastRetry}
	if kind == atMyDrive {
		return &harness{srv: srv, prefix: prefix, opts: opts}, nil
	}
	svc, err := srv.Service(ctx, nil)
	if err != nil {
		return nil, err
	}
	parent := "root"
	if kind == inSharedDrive {
		parent = srv.AddSharedDrive("team")
	}
	f, err := svc.Files.Create(&drive.File{Name: "bucket", MimeType: FolderMimeType, Parents: []string{parent}}).
		SupportsAllDrives(true).Fields("id").Context(ctx).Do()
	if err != nil {
		return nil, err
	}
	// A small chunk size makes the conformance suite's larger blobs take the resumable path.
	return &harness{srv: srv, root: f.Id, prefix: prefix, opts: opts}, nil
}

func (h *harness) MakeDriver(ctx context.Context) (driver.Bucket, error) {
	b, err := openBucket(ctx, h.srv.Client(), h.root, &h.opts)
	if err != nil {
		return nil, err
	}
	if h.prefix != "" {
		return driver.NewPrefixedBucket(b, h.prefix), nil
	}
	return b, nil
}

func (h *harness) MakeDriverForNonexistentBucket(ctx context.Context) (driver.Bucket, error) {
	return openBucket(ctx, h.srv.Client(), "1NoSuchFolder", &h.opts)
}

func (h *harness) HTTPClient() *http.Client         { return nil }
func (h *harness) SupportsCopy() bool               { return true }
func (h *harness) SupportsNonSlashDelimiters() bool { return false }
func (h *harness) SkipDownloadAt() bool             { return false }
func (h *harness) Close()                           { h.srv.Close() }

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return newHarness(ctx, t, "", inFolder)
	}, []drivertest.AsTest{asTest{}})
}

func TestConformanceWithPrefix(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return newHarness(ctx, t, "some/prefix/dir/", inFolder)
	}, nil)
}

func TestConformanceSharedDrive(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return newHarness(ctx, t, "", inSharedDrive)
	}, nil)
}

func TestConformanceMyDriveRoot(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return newHarness(ctx, t, "", atMyDrive)
	}, nil)
}

// asTest checks the driver-specific types exposed through As.
type asTest struct{}

func (asTest) Name() string { return "drive" }

func (asTest) BucketCheck(b *blob.Bucket) error {
	var svc *drive.Service
	if !b.As(&svc) || svc == nil {
		return errors.New("Bucket.As(*drive.Service) failed")
	}
	return nil
}

func (asTest) ErrorCheck(b *blob.Bucket, err error) error {
	if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("want ErrNotFound in the chain, got %v", err)
	}
	var ge *googleapi.Error
	if b.ErrorAs(err, &ge) {
		return errors.New("a lookup miss should not carry a *googleapi.Error")
	}
	return nil
}

func (asTest) BeforeRead(as func(any) bool) error {
	var f *drive.File
	if !as(&f) || f.Id == "" {
		return errors.New("BeforeRead As(*drive.File) failed")
	}
	return nil
}

func (asTest) BeforeWrite(as func(any) bool) error {
	var f *drive.File
	if !as(&f) || f.Name == "" {
		return errors.New("BeforeWrite As(*drive.File) failed")
	}
	f.Description = "written by the conformance suite"
	return nil
}

func (asTest) BeforeCopy(as func(any) bool) error {
	var f *drive.File
	if !as(&f) || len(f.Parents) != 1 {
		return errors.New("BeforeCopy As(*drive.File) failed")
	}
	return nil
}

func (asTest) BeforeList(as func(any) bool) error { return nil }
func (asTest) BeforeSign(as func(any) bool) error { return nil }

func (asTest) BeforeDelete(as func(any) bool) error {
	var f *drive.File
	if !as(&f) || f.Id == "" {
		return errors.New("BeforeDelete As(*drive.File) failed")
	}
	return nil
}

func (asTest) AttributesCheck(attrs *blob.Attributes) error {
	var f *drive.File
	if !attrs.As(&f) || f.Description != "" && f.Id == "" {
		return errors.New("Attributes.As(*drive.File) failed")
	}
	return nil
}

func (asTest) ReaderCheck(r *blob.Reader) error {
	var resp *http.Response
	if !r.As(&resp) || resp.StatusCode != http.StatusOK {
		return errors.New("Reader.As(*http.Response) failed")
	}
	return nil
}

func (asTest) ListObjectCheck(o *blob.ListObject) error {
	var f *drive.File
	if !o.As(&f) || f.Id == "" {
		return errors.New("ListObject.As(*drive.File) failed")
	}
	return nil
}
