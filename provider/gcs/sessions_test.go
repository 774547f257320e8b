package gcs_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
)

// TestFailedStreamUploadCancelsSession: a stream upload (storage.Writer) whose last chunk is
// refused fails, and its cleanup cancels the resumable session the writer started (DELETE on
// its upload_id; storage.Writer leaves it open for a week); a stream upload that succeeds
// cancels nothing.
func TestFailedStreamUploadCancelsSession(t *testing.T) {
	cfg := emulator.GCS(t)
	var mu sync.Mutex
	started, deleted := map[string]bool{}, map[string]int{}
	observe := func(r *http.Request, status int) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		switch id := q.Get("upload_id"); {
		case id == "" && q.Get("uploadType") == "resumable":
			started[r.URL.String()] = true
		case id != "" && r.Method == http.MethodDelete:
			deleted[id] = status
		}
	}
	lastChunk := func(r *http.Request) bool {
		cr := r.Header.Get("Content-Range")
		return r.URL.Query().Get("upload_id") != "" && cr != "" && !strings.HasSuffix(cr, "/*")
	}
	for _, tc := range []struct {
		name   string
		faults []faultproxy.Fault
		fails  bool
	}{{"refused", []faultproxy.Fault{faultproxy.Refuse}, true}, {"delivered", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(started)
			clear(deleted)
			mu.Unlock()
			rate := 0.0
			if len(tc.faults) > 0 {
				rate = 1
			}
			p, err := faultproxy.Start(faultproxy.Options{Target: cfg.Endpoint, Rate: rate, Faults: tc.faults, Match: lastChunk, Observe: observe})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			proxied := cfg
			proxied.Endpoint = p.URL
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = uploadStream(ctx, t, proxied, "sessions/")
			if tc.fails {
				if ue := destination.AsUploadError(err); ue == nil || ue.Code != provider.CodePermissionDenied {
					t.Fatalf("upload: %v, want permission_denied", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(started) != 1 {
				t.Fatalf("%d sessions started, want 1: %v", len(started), started)
			}
			switch {
			case tc.fails && len(deleted) != 1:
				t.Errorf("the failed upload's cleanup cancelled %v, want its one session", deleted)
			case !tc.fails && len(deleted) != 0:
				t.Errorf("a delivered upload cancelled %v", deleted)
			}
			for id, status := range deleted {
				if status != 499 && status/100 != 2 {
					t.Errorf("DELETE of session %s answered %d", id, status)
				}
			}
		})
	}
}
