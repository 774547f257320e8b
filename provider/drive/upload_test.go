package drive

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	drive "google.golang.org/api/drive/v3"
)

// randomReader yields n pseudo-random bytes, generated on the fly.
func randomReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(&chachaReader{r: rand.NewChaCha8([32]byte{byte(seed)})}, n)
}

type chachaReader struct{ r *rand.ChaCha8 }

func (c *chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func openTestBucket(t *testing.T, srv *drivetest.Server, opts Options) *blob.Bucket {
	t.Helper()
	opts.Endpoint = srv.Endpoint()
	if opts.Retry == (RetryPolicy{}) {
		opts.Retry = fastRetry
	}
	b, err := OpenBucket(context.Background(), srv.Client(), "", &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// files returns the fake's live items that are not folders.
func files(srv *drivetest.Server) []drivetest.Item {
	var out []drivetest.Item
	for _, it := range srv.Items() {
		if it.MimeType != FolderMimeType && !it.Trashed {
			out = append(out, it)
		}
	}
	return out
}

// TestResumableUploadWithFaults sends 100 MiB through the resumable path while the fake refuses
// the session start, chunks with 503, 429 (with Retry-After), both 403 rate limits, and breaks a
// chunk mid-way after keeping part of it; the stored file must have the right MD5.
func TestResumableUploadWithFaults(t *testing.T) {
	testenv.Short(t, "uploads 100 MiB")
	const size = 100 << 20
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	b := openTestBucket(t, srv, Options{}) // default 8 MiB chunks: 13 chunks

	var mu sync.Mutex
	var ranges []string // every chunk request's Content-Range, recorded by a fault that never fires
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Match: func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		ranges = append(ranges, r.Header.Get("Content-Range"))
		return false
	}})
	srv.InjectFault(drivetest.Fault{Op: "files.list", Status: 503})
	srv.InjectFault(drivetest.Fault{Op: "upload.start", Status: 503})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 1, Status: 503})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 3, Status: 429, RetryAfter: time.Second})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 5, Status: 403, Reason: "userRateLimitExceeded"})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 7, Status: 403, Reason: "rateLimitExceeded"})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 9, Status: 503, KeepBytes: 3 << 20})
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Status: 500, Match: func(r *http.Request) bool {
		return strings.HasSuffix(r.Header.Get("Content-Range"), "/104857600") // the final chunk
	}})

	h := md5.New()
	if err := b.Upload(ctx, "renders/big.mp4", io.TeeReader(randomReader(1, size), h), &blob.WriterOptions{ContentType: "video/mp4"}); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))

	got := files(srv)
	if len(got) != 1 || got[0].Size != size || got[0].MD5 != want || got[0].Name != "big.mp4" {
		t.Fatalf("stored %+v, want one big.mp4 of %d bytes with MD5 %s", got, size, want)
	}
	attrs, err := b.Attributes(ctx, "renders/big.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(attrs.MD5) != want || attrs.ContentType != "video/mp4" {
		t.Errorf("attributes: MD5 %x, type %q", attrs.MD5, attrs.ContentType)
	}
	// 13 chunks, 6 refused, one of them resumed after a status query.
	if n := srv.Calls("upload.chunk"); n < 13+6 {
		t.Errorf("%d chunk requests: the faults did not all fire", n)
	}
	// Status queries count as chunk requests, so the faults all land on the second chunk (at
	// 8 MiB); after the broken one the driver asked for the status and sent only what the
	// server lacked: 3 MiB were kept.
	mu.Lock()
	resumed := strings.Join(ranges, ",")
	mu.Unlock()
	if !strings.Contains(resumed, "bytes */*,bytes 11534336-16777215/*") || !strings.Contains(resumed, "/104857600,bytes */104857600") {
		t.Errorf("no resume from the kept bytes in %s", resumed)
	}
	if srv.Calls("upload.multipart") != 0 {
		t.Error("a 100 MiB upload went through a multipart request")
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d upload sessions left open", n)
	}
	// Read a range back across a chunk boundary.
	r, err := b.NewRangeReader(ctx, "renders/big.mp4", 8<<20-10, 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(r)
	_ = r.Close()
	all, _ := io.ReadAll(randomReader(1, 8<<20+10))
	if err != nil || string(part) != string(all[8<<20-10:]) {
		t.Errorf("range read across chunks: %v", err)
	}
}

// TestConcurrentFolderCreation writes into one new folder chain from many goroutines, through
// four buckets a Driver opened for one integration: each folder is created exactly once.
func TestConcurrentFolderCreation(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	d := NewDriver(DriverOptions{OAuth: srv.OAuthConfig(""), Options: Options{Endpoint: srv.Endpoint(), Retry: fastRetry}})
	in := &destination.Integration{ID: "i", WorkspaceID: "w", Provider: destination.Drive}
	cfg := destination.Config{DriveRefreshToken: srv.IssueRefreshToken(drive.DriveFileScope)}
	var buckets []*blob.Bucket
	for range 4 {
		b, err := d.Open(ctx, in, cfg, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		buckets = append(buckets, b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- buckets[i%4].WriteAll(ctx, fmt.Sprintf("campaigns/summer/week1/render-%d.mp4", i), []byte("x"), nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	folders := map[string]int{}
	for _, it := range srv.Items() {
		if it.MimeType == FolderMimeType {
			folders[it.Name]++
		}
	}
	if len(folders) != 3 || folders["campaigns"] != 1 || folders["summer"] != 1 || folders["week1"] != 1 {
		t.Errorf("folders %v, want one each of campaigns, summer, week1", folders)
	}
	if n := srv.Calls("files.create"); n != 3 {
		t.Errorf("%d folder creations, want 3", n)
	}
	if n := len(files(srv)); n != 16 {
		t.Errorf("%d files, want 16", n)
	}
}

// TestOldestDuplicateFolder: when other processes made two folders of one name, every writer
// uses the oldest.
func TestOldestDuplicateFolder(t *testing.T) {
	ctx := context.Background()
	srv, svc := drivetest.NewTestServer(t, drivetest.Options{})
	var ids []string
	for range 2 {
		f, err := svc.Files.Create(&drive.File{Name: "dup", MimeType: FolderMimeType}).Fields("id").Do()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.Id)
	}
	b := openTestBucket(t, srv, Options{})
	if err := b.WriteAll(ctx, "dup/a.txt", []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	for _, it := range files(srv) {
		if it.Parent != ids[0] {
			t.Errorf("file went into folder %s, want the oldest %s", it.Parent, ids[0])
		}
	}
}

// TestCanceledResumableUpload cancels an upload after chunks were sent: no file appears and an
// existing file keeps its content.
func TestCanceledResumableUpload(t *testing.T) {
	for _, exists := range []bool{false, true} {
		t.Run(fmt.Sprintf("exists=%v", exists), func(t *testing.T) {
			srv := drivetest.NewServer(drivetest.Options{})
			defer srv.Close()
			b := openTestBucket(t, srv, Options{ChunkSize: 256 << 10})
			if exists {
				if err := b.WriteAll(context.Background(), "a/b.bin", []byte("old"), nil); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			w, err := b.NewWriter(ctx, "a/b.bin", &blob.WriterOptions{ContentType: "application/octet-stream"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, randomReader(2, 1<<20)); err != nil {
				t.Fatal(err)
			}
			if srv.Calls("upload.chunk") == 0 {
				t.Fatal("no chunk was sent before the cancel")
			}
			cancel()
			if err := w.Close(); gcerrors.Code(err) != gcerrors.Canceled {
				t.Fatalf("Close after cancel: %v", err)
			}
			got, err := b.ReadAll(context.Background(), "a/b.bin")
			if exists && (err != nil || string(got) != "old") {
				t.Errorf("existing file: %q, %v", got, err)
			}
			if !exists && gcerrors.Code(err) != gcerrors.NotFound {
				t.Errorf("a canceled upload left a file: %v", err)
			}
			if n := len(files(srv)); n != map[bool]int{false: 0, true: 1}[exists] {
				t.Errorf("%d files stored", n)
			}
		})
	}
}

// TestOverwriteReplacesFile: rewriting a key replaces the file whole (a new file, checked, then
// the old one removed: all or nothing) and its metadata.
func TestOverwriteReplacesFile(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	for _, chunk := range []int{256 << 10, DefaultChunkSize} { // resumable and multipart updates
		b := openTestBucket(t, srv, Options{ChunkSize: chunk})
		if err := b.WriteAll(ctx, "k", []byte("one"), &blob.WriterOptions{Metadata: map[string]string{"a": "1", "b": "2"}}); err != nil {
			t.Fatal(err)
		}
		first := files(srv)
		w, err := b.NewWriter(ctx, "k", &blob.WriterOptions{Metadata: map[string]string{"c": "3"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, randomReader(3, 600<<10)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		second := files(srv)
		if len(second) != 1 || second[0].ID == first[0].ID || second[0].Size != 600<<10 {
			t.Fatalf("after overwrite: %+v (before %+v)", second, first)
		}
		a, err := b.Attributes(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Metadata) != 1 || a.Metadata["c"] != "3" {
			t.Errorf("metadata %v, want only c=3", a.Metadata)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeleteModes: trash by default, permanent delete by option.
func TestDeleteModes(t *testing.T) {
	ctx := context.Background()
	for _, permanent := range []bool{false, true} {
		srv := drivetest.NewServer(drivetest.Options{})
		b := openTestBucket(t, srv, Options{PermanentDelete: permanent})
		if err := b.WriteAll(ctx, "x/y", []byte("y"), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "x/y"); err != nil {
			t.Fatal(err)
		}
		var kept []drivetest.Item
		for _, it := range srv.Items() {
			if it.MimeType != FolderMimeType {
				kept = append(kept, it)
			}
		}
		if permanent && len(kept) != 0 || !permanent && (len(kept) != 1 || !kept[0].Trashed) {
			t.Errorf("permanent=%v: left %+v", permanent, kept)
		}
		if err := b.Delete(ctx, "x/y"); gcerrors.Code(err) != gcerrors.NotFound {
			t.Errorf("second delete: %v", err)
		}
		srv.Close()
	}
}

// TestErrorCodes checks the mapping of Drive's refusals once retries are exhausted.
func TestErrorCodes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		status int
		reason string
		want   gcerrors.ErrorCode
	}{
		{429, "", gcerrors.ResourceExhausted},
		{403, "userRateLimitExceeded", gcerrors.ResourceExhausted},
		{403, "rateLimitExceeded", gcerrors.ResourceExhausted},
		{403, "storageQuotaExceeded", gcerrors.ResourceExhausted},
		{403, "insufficientFilePermissions", gcerrors.PermissionDenied},
		{404, "notFound", gcerrors.NotFound},
		{503, "", gcerrors.Internal},
		{400, "invalid", gcerrors.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.reason), func(t *testing.T) {
			srv := drivetest.NewServer(drivetest.Options{})
			defer srv.Close()
			retry := fastRetry
			retry.MaxAttempts = 3
			b := openTestBucket(t, srv, Options{Retry: retry})
			srv.InjectFault(drivetest.Fault{Status: tc.status, Reason: tc.reason, Times: -1})
			_, err := b.Attributes(ctx, "some/key")
			if got := gcerrors.Code(err); got != tc.want {
				t.Errorf("code %v, want %v (%v)", got, tc.want, err)
			}
			if want := map[bool]int{true: 3, false: 1}[retryable(err)]; srv.Calls("files.list") != want {
				t.Errorf("%d attempts, want %d", srv.Calls("files.list"), want)
			}
		})
	}
}

// TestObjectURL returns the webViewLink, optionally after sharing with anyone with the link.
func TestObjectURL(t *testing.T) {
	ctx := context.Background()
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	rt := srv.IssueRefreshToken(drive.DriveFileScope)
	in := &destination.Integration{ID: "i", WorkspaceID: "w", Provider: destination.Drive}
	for _, share := range []bool{false, true} {
		d := NewDriver(DriverOptions{OAuth: srv.OAuthConfig(""), LinkSharing: share,
			Options: Options{Endpoint: srv.Endpoint(), Retry: fastRetry}})
		if got := d.Providers(); len(got) != 1 || got[0] != destination.Drive {
			t.Fatalf("Providers() = %v", got)
		}
		b, err := d.Open(ctx, in, destination.Config{DriveRefreshToken: rt}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("out/share-%v.mp4", share)
		if err := b.WriteAll(ctx, key, []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		link, err := d.ObjectURL(ctx, b, in, key)
		if err != nil || !strings.HasPrefix(link, "https://drive.google.com/file/d/") {
			t.Fatalf("ObjectURL: %q, %v", link, err)
		}
		for _, it := range files(srv) {
			if it.Name == fmt.Sprintf("share-%v.mp4", share) && it.Permissions != map[bool]int{false: 0, true: 1}[share] {
				t.Errorf("share=%v: %d permissions", share, it.Permissions)
			}
		}
		if share {
			srv.DenyLinkSharing(true)
			link, err := d.ObjectURL(ctx, b, in, key)
			if link == "" || gcerrors.Code(err) != gcerrors.PermissionDenied && !strings.Contains(fmt.Sprint(err), "sharing") {
				t.Errorf("refused sharing: %q, %v", link, err)
			}
		}
	}
}

// TestMetadataTooLarge: more metadata than Drive's appProperties hold is InvalidArgument.
func TestMetadataTooLarge(t *testing.T) {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	b := openTestBucket(t, srv, Options{})
	err := b.WriteAll(context.Background(), "k", nil, &blob.WriterOptions{Metadata: map[string]string{"big": strings.Repeat("x", 4000)}})
	if gcerrors.Code(err) != gcerrors.InvalidArgument || !errors.Is(err, ErrMetadataTooLarge) {
		t.Errorf("got %v", err)
	}
}
