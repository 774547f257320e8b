package gcs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

// TestNoAmbientCredentials: building and using a tenant's client reads no process-wide Google
// credentials. GOOGLE_APPLICATION_CREDENTIALS names a FIFO that records being opened, HOME
// holds a gcloud well-known file path that is the same kind of trap, and GCE_METADATA_HOST
// points at a loopback server that records every hit; after an upload and a test with the
// tenant's key, nothing was opened and nothing was hit. (Google's default-credential
// detection, which storage.NewClient runs unless told not to, reads the first and probes the
// second.)
func TestNoAmbientCredentials(t *testing.T) {
	cfg := emulator.GCS(t)
	dir := t.TempDir()
	trap := filepath.Join(dir, "trap.json")
	opened := fifoTrap(t, trap)
	home := filepath.Join(dir, "home")
	wellKnown := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
	if err := os.MkdirAll(filepath.Dir(wellKnown), 0o700); err != nil {
		t.Fatal(err)
	}
	openedWellKnown := fifoTrap(t, wellKnown)
	var hits atomic.Int64
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Metadata-Flavor", "Google")
		http.Error(w, "trap", http.StatusNotFound)
	}))
	t.Cleanup(meta.Close)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", trap)
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(meta.URL, "http://"))
	t.Setenv("GCE_METADATA_IP", strings.TrimPrefix(meta.URL, "http://"))
	t.Setenv("HOME", home)
	t.Setenv("CLOUDSDK_CONFIG", filepath.Dir(wellKnown))

	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	c := newClient(t, &u, nil)
	if _, err := c.Upload(context.Background(), in, "ambient/r.mp4", strings.NewReader("data"), destination.UploadOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if r := c.Test(context.Background(), in); !r.OK {
		t.Fatalf("Test = %+v", r)
	}
	time.Sleep(50 * time.Millisecond) // let a trap's goroutine record an open that raced the checks
	if opened.Load() || openedWellKnown.Load() {
		t.Errorf("the process's credentials file was opened (GOOGLE_APPLICATION_CREDENTIALS %v, gcloud well-known file %v)", opened.Load(), openedWellKnown.Load())
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the metadata server was hit %d times", n)
	}
}

// fifoTrap makes a FIFO at path and reports whether anyone opened it for reading. A reader gets
// a valid-looking but useless authorized_user credential and then EOF.
func fifoTrap(t *testing.T, path string) *atomic.Bool {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var opened atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(path, os.O_WRONLY, 0) // blocks until a reader opens it
		if err != nil {
			return
		}
		if _, stop := os.Stat(path + ".stop"); stop != nil {
			opened.Store(true)
			_, _ = f.WriteString(`{"type":"authorized_user","client_id":"trap","client_secret":"trap","refresh_token":"trap"}`)
		}
		f.Close()
	}()
	t.Cleanup(func() {
		// Release the writer if nobody opened the trap.
		_ = os.WriteFile(path+".stop", nil, 0o600)
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			<-done
			r.Close()
		}
	})
	return &opened
}
