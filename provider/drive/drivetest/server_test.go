package drivetest_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

// recorder notes every upload chunk's Content-Range through a fault that never fires.
func recorder(srv *drivetest.Server) func() []string {
	var mu sync.Mutex
	var got []string
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Times: -1, Match: func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("Content-Range")+" "+r.Header.Get("X-GUploader-No-308"))
		return false
	}})
	return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

// TestGeneratedClientResumable runs the Go client's own resumable uploads (which send
// X-GUploader-No-308 and "bytes a-b/*" chunks) against the fake, including a size that is an
// exact multiple of the chunk size (an empty final "bytes */N" request) and an update.
func TestGeneratedClientResumable(t *testing.T) {
	srv, svc := drivetest.NewTestServer(t, drivetest.Options{})
	ranges := recorder(srv)
	data := bytes.Repeat([]byte("0123456789abcdef"), 512<<10/16) // 512 KiB: two chunks exactly
	sum := md5.Sum(data)
	f, err := svc.Files.Create(&drive.File{Name: "a.bin"}).Media(bytes.NewReader(data), googleapi.ChunkSize(256<<10)).
		Fields("id,size,md5Checksum").Do()
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || f.Md5Checksum != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %d bytes, md5 %s", f.Size, f.Md5Checksum)
	}
	want := "bytes 0-262143/* yes,bytes 262144-524287/* yes,bytes */524288 yes"
	if got := strings.Join(ranges(), ","); got != want {
		t.Errorf("chunks %s, want %s", got, want)
	}

	// An update through a resumable session, with a 503 on a chunk (the client retries it).
	srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Skip: 4, Status: 503})
	data2 := append(data, "tail"...)
	f2, err := svc.Files.Update(f.Id, &drive.File{}).Media(bytes.NewReader(data2), googleapi.ChunkSize(256<<10)).
		Fields("id,size,version").Do()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := srv.Content(f.Id)
	if f2.Id != f.Id || !bytes.Equal(got, data2) || f2.Version < 2 {
		t.Fatalf("update: %+v, %d bytes", f2, len(got))
	}

	// Ranged download.
	call := svc.Files.Get(f.Id)
	call.Header().Set("Range", "bytes=262140-262147")
	resp, err := call.Download()
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data2[262140:262148]) ||
		resp.Header.Get("Content-Range") != "bytes 262140-262147/524292" {
		t.Errorf("range: %d %q %q", resp.StatusCode, part, resp.Header.Get("Content-Range"))
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d sessions open", n)
	}
}

// TestSharedDriveVisibility: shared-drive items need supportsAllDrives (and, to be listed,
// includeItemsFromAllDrives), as on Drive.
func TestSharedDriveVisibility(t *testing.T) {
	srv, svc := drivetest.NewTestServer(t, drivetest.Options{})
	team := srv.AddSharedDrive("team")
	if _, err := svc.Files.Create(&drive.File{Name: "x", Parents: []string{team}}).Do(); !isCode(err, 404) {
		t.Fatalf("create without supportsAllDrives: %v", err)
	}
	f, err := svc.Files.Create(&drive.File{Name: "x", Parents: []string{team}}).SupportsAllDrives(true).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Files.Get(f.Id).Do(); !isCode(err, 404) {
		t.Errorf("get without supportsAllDrives: %v", err)
	}
	l, err := svc.Files.List().SupportsAllDrives(true).Do()
	if err != nil || len(l.Files) != 0 {
		t.Errorf("list without includeItemsFromAllDrives: %v %v", l, err)
	}
	l, err = svc.Files.List().SupportsAllDrives(true).IncludeItemsFromAllDrives(true).Corpora("drive").DriveId(team).Do()
	if err != nil || len(l.Files) != 1 {
		t.Errorf("list of the shared drive: %v %v", l, err)
	}
}

// TestErrorsAndAuth: Google's error JSON, and 401 without a token when auth is required.
func TestErrorsAndAuth(t *testing.T) {
	_, svc := drivetest.NewTestServer(t, drivetest.Options{RequireAuth: true})
	if _, err := svc.Files.List().Do(); !isCode(err, 401) {
		t.Errorf("no token: %v", err)
	}
	_, svc2 := drivetest.NewTestServer(t, drivetest.Options{})
	_, err := svc2.Files.List().Q("size > 3").Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 400 || ge.Errors[0].Reason != "invalid" {
		t.Errorf("bad query: %v", err)
	}
	_, err = svc2.Files.Get("nope").Do()
	if !errors.As(err, &ge) || ge.Code != 404 || ge.Errors[0].Reason != "notFound" || ge.Message != "File not found: nope." {
		t.Errorf("missing file: %v", err)
	}
}

func isCode(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}
