package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// outageServer is a loopback HTTP object store that answers 503 to every PUT until its outage
// ends, then stores what it gets.
type outageServer struct {
	*httptest.Server
	until    atomic.Int64 // unix nanoseconds
	mu       sync.Mutex
	objects  map[string][]byte
	refusals atomic.Int64
}

func newOutageServer(t testing.TB) *outageServer {
	s := &outageServer{objects: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Now().UnixNano() < s.until.Load() {
			s.refusals.Add(1)
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.objects[r.URL.Path] = b
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// httpUploader is an Uploader of our own over the outage server: one PUT per attempt, a 5xx or
// a broken connection classified transient, anything else permanent.
type httpUploader struct {
	deliverytest.Uploader
	base string
	hc   *http.Client
}

func (u *httpUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.base+"/"+key, src)
	if err != nil {
		return destination.UploadResult{}, err
	}
	req.ContentLength = opts.Size
	resp, err := u.hc.Do(req)
	if err != nil {
		return destination.UploadResult{}, &destination.UploadError{Code: destination.CodeUnavailable, Message: "the connection failed", Transient: true, Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode >= 500:
		return destination.UploadResult{}, &destination.UploadError{Code: destination.CodeUnavailable, Message: resp.Status, Transient: true}
	case resp.StatusCode >= 300:
		return destination.UploadResult{}, &destination.UploadError{Code: "permission_denied", Message: resp.Status}
	}
	return destination.UploadResult{Key: key, Size: opts.Size}, nil
}

// TestDefaultPolicySurvivesOutage: with the default retry policy, one destination's 30-second
// outage does not fail the delivery. The policy's durations are divided by 100 (a 300 ms outage,
// 10 ms base, 300 ms cap) so the test is fast; the attempt count is the default's. Every
// failed attempt is an event with its reason and wait.
func TestDefaultPolicySurvivesOutage(t *testing.T) {
	const scale = 100
	p := delivery.DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay, p.Budget = p.BaseDelay/scale, p.MaxDelay/scale, p.Budget/scale
	outage := 30 * time.Second / scale

	for run := range 5 { // the waits are random: several runs
		srv := newOutageServer(t)
		up := &httpUploader{base: srv.URL, hc: srv.Client()}
		ev := &events{}
		store := memstore.New()
		eng, err := delivery.New(delivery.Options{Store: store, Uploader: up, CDN: &deliverytest.CDN{}, Retry: p, OnEvent: ev.add, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		h := &harness{store: store}
		targets := h.targets(t, ws, 1)
		data := bytes.Repeat([]byte("x"), 64<<10)
		srv.until.Store(time.Now().Add(outage).UnixNano())
		start := time.Now()
		d, err := eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: fmt.Sprint("r", run), FileName: "render.mp4", Targets: targets}, bytesSource(data))
		if err != nil || d.Outputs[0].Status != destination.StatusCompleted {
			t.Fatalf("run %d: %+v %v", run, d, err)
		}
		var retries int
		var waited time.Duration
		for _, e := range ev.all() {
			if e.Kind == delivery.EventRetry && e.IntegrationID != "" {
				retries++
				waited += e.Wait
				if e.Code != destination.CodeUnavailable || e.Wait <= 0 || e.Error == "" || e.Attempt != retries {
					t.Errorf("run %d: retry event %+v", run, e)
				}
			}
		}
		if retries == 0 || int(srv.refusals.Load()) != retries {
			t.Errorf("run %d: %d retry events for %d refused attempts", run, retries, srv.refusals.Load())
		}
		t.Logf("run %d: delivered after %s, %d refused attempts, %s of waits", run, time.Since(start), retries, waited)
	}
}

// TestOldPolicyWouldFail documents why the defaults changed: the former policy (4 attempts,
// 500 ms base, 10 s cap) gives up within a 30-second outage.
func TestOldPolicyWouldFail(t *testing.T) {
	const scale = 100
	old := delivery.RetryPolicy{MaxAttempts: 4, BaseDelay: 500 * time.Millisecond / scale, MaxDelay: 10 * time.Second / scale}
	srv := newOutageServer(t)
	store := memstore.New()
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: &httpUploader{base: srv.URL, hc: srv.Client()}, CDN: &deliverytest.CDN{}, Retry: old, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: store}
	srv.until.Store(time.Now().Add(30 * time.Second / scale).UnixNano())
	d, err := eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: h.targets(t, ws, 1)}, bytesSource([]byte("x")))
	if err != nil || d.Outputs[0].Status != destination.StatusFailed || d.Outputs[0].ErrorCode != destination.CodeUnavailable {
		t.Fatalf("%+v %v", d, err)
	}
}
