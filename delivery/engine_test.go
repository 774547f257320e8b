package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

const ws = "ws-a"

// fast is a retry policy for unit tests.
var fast = delivery.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

type harness struct {
	store *memstore.Store
	up    *deliverytest.Uploader
	cdn   *deliverytest.CDN
	ev    *events
	eng   *delivery.Engine
}

func newHarness(t testing.TB, mut ...func(*delivery.Options)) *harness {
	t.Helper()
	h := &harness{store: memstore.New(), up: &deliverytest.Uploader{}, cdn: &deliverytest.CDN{}, ev: &events{}}
	opts := delivery.Options{Store: h.store, Uploader: h.up, CDN: h.cdn, CDNKeyPrefix: "cdn/", Retry: fast, OnEvent: h.ev.add, Logger: quiet}
	for _, m := range mut {
		m(&opts)
	}
	var err error
	if h.eng, err = delivery.New(opts); err != nil {
		t.Fatal(err)
	}
	return h
}

// targets creates n active r2 integrations of workspace w and returns a target for each.
func (h *harness) targets(t testing.TB, w string, n int) []destination.Target {
	t.Helper()
	var out []destination.Target
	list, _ := h.store.List(context.Background(), w)
	for i := range n {
		in, err := h.store.Create(context.Background(), &destination.Integration{ID: fmt.Sprintf("%s-int-%d", w, len(list)+i),
			WorkspaceID: w, Provider: destination.R2, Name: "r2", IsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, destination.Target{IntegrationID: in.ID, Provider: in.Provider, Prefix: fmt.Sprintf("renders/t%d/", i), IntegrationVersion: in.Version})
	}
	return out
}

func bytesSource(b []byte) delivery.Source {
	return delivery.Source{ReaderAt: bytes.NewReader(b), Size: int64(len(b))}
}

func TestDeliverFanOut(t *testing.T) {
	h := newHarness(t)
	data := bytes.Repeat([]byte("video-bytes-"), 100000)
	p := delivery.Plan{WorkspaceID: ws, RenderID: "018f-render", FileName: "render.mp4", Targets: h.targets(t, ws, 3)}
	d, err := h.eng.Deliver(context.Background(), p, bytesSource(data))
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "completed" || d.URL != "https://cdn.test/cdn/018f-render/render.mp4" || len(d.Outputs) != 3 {
		t.Fatalf("%+v", d)
	}
	if b, _ := h.cdn.Object("cdn/018f-render/render.mp4"); !bytes.Equal(b, data) {
		t.Fatal("CDN copy differs")
	}
	want := sha256.Sum256(data)
	for i, o := range d.Outputs {
		if o.Status != destination.StatusCompleted || o.OutputSizeBytes != int64(len(data)) || o.OutputKey != fmt.Sprintf("renders/t%d/render.mp4", i) ||
			o.Provider != destination.R2 || o.Checksum == "" {
			t.Errorf("output %d: %+v", i, o)
		}
		if h.up.Sum(o.IntegrationID) != want {
			t.Errorf("output %d: bytes differ", i)
		}
	}
	kinds := map[delivery.EventKind]int{}
	for _, e := range h.ev.all() {
		if e.RenderID != "018f-render" || e.WorkspaceID != ws {
			t.Errorf("event without its render: %+v", e)
		}
		kinds[e.Kind]++
	}
	// 3 targets + the CDN copy.
	if kinds[delivery.EventPending] != 4 || kinds[delivery.EventAttempt] != 4 || kinds[delivery.EventCompleted] != 4 || kinds[delivery.EventProgress] < 3 {
		t.Fatalf("events: %v", kinds)
	}
}

func TestDeliverIsolatesFailures(t *testing.T) {
	h := newHarness(t)
	targets := h.targets(t, ws, 4)
	permanent := &destination.UploadError{Code: "invalid_credentials", Message: "the access key was rejected"}
	transient := func() error {
		return &destination.UploadError{Code: "unavailable", Message: "try again", Transient: true}
	}
	h.up.Fail(targets[0].IntegrationID, permanent)
	h.up.Fail(targets[1].IntegrationID, transient(), transient())
	h.up.Fail(targets[3].IntegrationID, transient(), transient(), transient(), transient(), transient())
	h.up.SetDelay(targets[2].IntegrationID, 200*time.Millisecond)
	d, err := h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r1", FileName: "../../etc/render.mp4", Targets: targets},
		bytesSource([]byte("small video")))
	if err != nil {
		t.Fatal(err)
	}
	o := d.Outputs
	if o[0].Status != destination.StatusFailed || o[0].ErrorCode != "invalid_credentials" || h.up.Attempts(targets[0].IntegrationID) != 1 {
		t.Errorf("permanent: %+v (attempts %d)", o[0], h.up.Attempts(targets[0].IntegrationID))
	}
	if o[1].Status != destination.StatusCompleted || h.up.Attempts(targets[1].IntegrationID) != 3 {
		t.Errorf("transient: %+v", o[1])
	}
	if o[2].Status != destination.StatusCompleted {
		t.Errorf("slow: %+v", o[2])
	}
	if o[3].Status != destination.StatusFailed || o[3].ErrorCode != "unavailable" || h.up.Attempts(targets[3].IntegrationID) != fast.MaxAttempts {
		t.Errorf("exhausted: %+v attempts %d", o[3], h.up.Attempts(targets[3].IntegrationID))
	}
	for _, x := range o {
		if strings.Contains(x.OutputKey, "..") || !strings.HasSuffix(x.OutputKey, "/render.mp4") {
			t.Errorf("unsanitized key %q", x.OutputKey)
		}
	}
	// Every failed attempt that is retried is an event with its reason and wait.
	retries := 0
	for _, e := range h.ev.all() {
		if e.Kind == delivery.EventRetry {
			retries++
			if e.Code != "unavailable" || e.Error == "" || e.Wait <= 0 || e.Attempt < 1 {
				t.Errorf("retry event %+v", e)
			}
		}
	}
	if retries != 2+3 {
		t.Errorf("%d retry events, want 5", retries)
	}
}

func TestDeliverCancel(t *testing.T) {
	h := newHarness(t)
	targets := h.targets(t, ws, 2)
	h.up.SetDelay(targets[0].IntegrationID, time.Minute)
	h.up.SetDelay(targets[1].IntegrationID, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	d, err := h.eng.Deliver(ctx, delivery.Plan{WorkspaceID: ws, RenderID: "r2", FileName: "a.mp4", Targets: targets}, bytesSource(nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Deliver took %s after its context ended", time.Since(start))
	}
	for _, o := range d.Outputs {
		if o.Status != destination.StatusFailed || o.ErrorCode != destination.CodeCanceled {
			t.Errorf("%+v", o)
		}
	}
}

func TestKeyTemplate(t *testing.T) {
	h := newHarness(t, func(o *delivery.Options) { o.KeyTemplate = "{date}/{renderId}/../{name}-final.{ext}" })
	d, err := h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r9", FileName: "promo.mp4",
		FinishedAt: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), Targets: h.targets(t, ws, 1)}, bytesSource([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Outputs[0].OutputKey; got != "renders/t0/2026-07-01/r9/promo-final.mp4" {
		t.Fatal(got)
	}
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"render.mp4": "render.mp4", "../../x.mp4": "x.mp4", `c:\a\b.mov`: "b.mov", "a\x00b.mp4": "ab.mp4", "": "rid.mp4", "..": "rid.mp4", " . ": "rid.mp4",
	} {
		if got := delivery.SanitizeFileName(in, "rid"); got != want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStoredPlanLeasesIntegrations: a plan stored as JSON is delivered after its integrations
// changed: a deactivated, deleted or moved one fails alone with integration_unavailable; a
// re-keyed one is used with its current credentials.
func TestStoredPlanLeasesIntegrations(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	targets := h.targets(t, ws, 4)
	other := h.targets(t, "ws-b", 1)
	plan := delivery.Plan{WorkspaceID: ws, RenderID: "r-stored", FileName: "render.mp4", Targets: append(targets, other...)}
	stored, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("secret")) {
		t.Fatalf("a stored plan holds a secret: %s", stored)
	}

	// Deactivate 0, delete 1, re-key 2; 3 unchanged; 4 is another workspace's integration.
	in0, _ := h.store.Get(ctx, ws, targets[0].IntegrationID)
	in0.IsActive = false
	if _, err := h.store.Update(ctx, in0); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Delete(ctx, ws, targets[1].IntegrationID); err != nil {
		t.Fatal(err)
	}
	in2, _ := h.store.Get(ctx, ws, targets[2].IntegrationID)
	in2.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: {Ciphertext: []byte("new"), Hint: "••••new1"}}
	if _, err := h.store.Update(ctx, in2); err != nil {
		t.Fatal(err)
	}

	var back delivery.Plan
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	d, err := h.eng.Deliver(ctx, back, bytesSource([]byte("render")))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 4} {
		if o := d.Outputs[i]; o.Status != destination.StatusFailed || o.ErrorCode != delivery.CodeIntegrationUnavailable || o.Error == "" {
			t.Errorf("output %d: %+v", i, o)
		}
		if n := h.up.Attempts(back.Targets[i].IntegrationID); n != 0 {
			t.Errorf("output %d: %d uploads to an unavailable integration", i, n)
		}
	}
	for _, i := range []int{2, 3} {
		if o := d.Outputs[i]; o.Status != destination.StatusCompleted {
			t.Errorf("output %d: %+v", i, o)
		}
	}
	if got := h.up.Integration(targets[2].IntegrationID); got.Version != 2 || got.Secrets[destination.SecretAccessKey].Hint != "••••new1" {
		t.Errorf("re-keyed integration delivered with version %d %v", got.Version, got.Secrets)
	}
}

// TestStoredPlanRefused: every field of a (possibly tampered) stored plan and the source are
// checked at Deliver: the error names the field and nothing is uploaded.
func TestStoredPlanRefused(t *testing.T) {
	h := newHarness(t)
	good := h.targets(t, ws, 1)[0]
	src := bytesSource([]byte("x"))
	var typedNil *bytes.Reader
	cases := []struct {
		name  string
		p     delivery.Plan
		src   delivery.Source
		field string
	}{
		{"empty render ID", delivery.Plan{WorkspaceID: ws}, src, "renderId"},
		{"dot", delivery.Plan{WorkspaceID: ws, RenderID: "."}, src, "renderId"},
		{"dot dot", delivery.Plan{WorkspaceID: ws, RenderID: ".."}, src, "renderId"},
		{"slash", delivery.Plan{WorkspaceID: ws, RenderID: "a/b"}, src, "renderId"},
		{"backslash", delivery.Plan{WorkspaceID: ws, RenderID: `a\b`}, src, "renderId"},
		{"control", delivery.Plan{WorkspaceID: ws, RenderID: "a\nb"}, src, "renderId"},
		{"long", delivery.Plan{WorkspaceID: ws, RenderID: strings.Repeat("r", 129)}, src, "renderId"},
		{"file name control", delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "a\x00.mp4"}, src, "fileName"},
		{"file name UTF-8", delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "a\xff.mp4"}, src, "fileName"},
		{"content type", delivery.Plan{WorkspaceID: ws, RenderID: "r", ContentType: "video/mp4\r\nX-Evil: 1"}, src, "contentType"},
		{"prefix escapes", delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{{IntegrationID: good.IntegrationID, Provider: good.Provider, Prefix: "../../x/"}}}, src, "targets[0].prefix"},
		{"prefix absolute", delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{{IntegrationID: good.IntegrationID, Provider: good.Provider, Prefix: "/etc/"}}}, src, "targets[0].prefix"},
		{"prefix not normalized", delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{{IntegrationID: good.IntegrationID, Provider: good.Provider, Prefix: "renders"}}}, src, "targets[0].prefix"},
		{"no integration", delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{{Provider: good.Provider}}}, src, "targets[0].integrationId"},
		{"bad provider", delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{{IntegrationID: good.IntegrationID, Provider: "ftp"}}}, src, "targets[0].provider"},
		{"no workspace", delivery.Plan{RenderID: "r", Targets: []destination.Target{good}}, src, "workspaceId"},
		{"nil source", delivery.Plan{WorkspaceID: ws, RenderID: "r"}, delivery.Source{}, "source"},
		{"typed nil ReaderAt", delivery.Plan{WorkspaceID: ws, RenderID: "r"}, delivery.Source{ReaderAt: typedNil, Size: 1}, "source"},
		{"both", delivery.Plan{WorkspaceID: ws, RenderID: "r"}, delivery.Source{ReaderAt: bytes.NewReader(nil), Open: func(context.Context) (io.ReadCloser, error) { return nil, nil }}, "source"},
		{"negative size", delivery.Plan{WorkspaceID: ws, RenderID: "r"}, delivery.Source{ReaderAt: bytes.NewReader(nil), Size: -1}, "source.size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.eng.Deliver(context.Background(), tc.p, tc.src)
			var ve *destination.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if _, ok := ve.Field(tc.field); !ok {
				t.Errorf("err %v does not name %s", err, tc.field)
			}
			if len(tc.p.Targets) > 0 {
				o := h.eng.DeliverTarget(context.Background(), tc.p, 0, tc.src)
				if o.Status != destination.StatusFailed || o.ErrorCode != delivery.CodeInvalid {
					t.Errorf("DeliverTarget: %+v", o)
				}
			}
		})
	}
	if h.up.Attempts(good.IntegrationID) != 0 || len(h.cdn.Keys()) != 0 {
		t.Fatal("an invalid plan was delivered")
	}
	if o := h.eng.DeliverTarget(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: []destination.Target{good}}, 1, src); o.ErrorCode != delivery.CodeInvalid {
		t.Errorf("out of range: %+v", o)
	}
	if _, err := delivery.New(delivery.Options{}); !errors.Is(err, delivery.ErrBadOptions) {
		t.Errorf("no store: %v", err)
	}
	if _, err := delivery.New(delivery.Options{Store: h.store, CDNKeyPrefix: "../x"}); !errors.Is(err, delivery.ErrBadOptions) {
		t.Errorf("bad CDN prefix: %v", err)
	}
	noCDN, _ := delivery.New(delivery.Options{Store: h.store})
	if _, err := noCDN.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r"}, src); !errors.Is(err, destination.ErrUnsupported) {
		t.Errorf("no CDN: %v", err)
	}
}

type panicReaderAt struct{ after int64 }

func (p panicReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.after {
		panic("disk on fire")
	}
	n := min(int64(len(b)), p.after-off)
	return int(n), nil
}

type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("EIO") }

type panicUploader struct{ deliverytest.Uploader }

func (*panicUploader) Upload(context.Context, *destination.Integration, string, io.Reader, destination.UploadOptions) (destination.UploadResult, error) {
	panic("uploader bug")
}

// TestSourceFaults: a short, long, failing or panicking source fails its outputs (never the
// process) with a clear code and commits nothing; a zero-byte source is delivered.
func TestSourceFaults(t *testing.T) {
	h := newHarness(t)
	targets := h.targets(t, ws, 1)
	plan := delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "render.mp4", Targets: targets}
	openOf := func(b []byte) func(context.Context) (io.ReadCloser, error) {
		return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	cases := []struct {
		name string
		src  delivery.Source
		code string
	}{
		{"short", delivery.Source{ReaderAt: bytes.NewReader(make([]byte, 10)), Size: 24}, destination.CodeSourceSizeMismatch},
		{"short open", delivery.Source{Open: openOf(make([]byte, 10)), Size: 24}, destination.CodeSourceSizeMismatch},
		{"long open", delivery.Source{Open: openOf(make([]byte, 30)), Size: 24}, destination.CodeSourceSizeMismatch},
		{"read error", delivery.Source{ReaderAt: errReaderAt{}, Size: 24}, destination.CodeSourceFailed},
		{"panicking ReaderAt", delivery.Source{ReaderAt: panicReaderAt{after: 5}, Size: 24}, destination.CodeSourceFailed},
		{"panicking Open", delivery.Source{Open: func(context.Context) (io.ReadCloser, error) { panic("open bug") }, Size: 24}, destination.CodeSourceFailed},
		{"Open error", delivery.Source{Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("gone") }, Size: 24}, destination.CodeSourceFailed},
		{"Open nil", delivery.Source{Open: func(context.Context) (io.ReadCloser, error) { return nil, nil }, Size: 24}, destination.CodeSourceFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.cdn.Reset()
			d, err := h.eng.Deliver(context.Background(), plan, tc.src)
			if !errors.Is(err, delivery.ErrCDN) {
				t.Errorf("err = %v, want ErrCDN", err)
			}
			if o := d.Outputs[0]; o.Status != destination.StatusFailed || o.ErrorCode != tc.code {
				t.Errorf("output %+v, want %s", o, tc.code)
			}
			if len(h.cdn.Keys()) != 0 {
				t.Error("the CDN committed a bad source")
			}
		})
	}
	d, err := h.eng.Deliver(context.Background(), plan, delivery.Source{ReaderAt: bytes.NewReader(nil), Size: 0})
	if err != nil || d.Outputs[0].Status != destination.StatusCompleted || d.Outputs[0].OutputSizeBytes != 0 {
		t.Errorf("zero bytes: %+v %v", d, err)
	}

	ph := newHarness(t, func(o *delivery.Options) { o.Uploader = &panicUploader{} })
	d, err = ph.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: ph.targets(t, ws, 1)}, bytesSource([]byte("x")))
	if err != nil || d.Outputs[0].ErrorCode != delivery.CodeInternal {
		t.Errorf("panicking uploader: %+v %v", d, err)
	}
}

// stallUploader reads a little, then hangs (as on a tarpit) until its context ends, for the
// first stalls attempts.
type stallUploader struct {
	deliverytest.Uploader
	stalls atomic.Int32
}

func (s *stallUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	if s.stalls.Add(-1) >= 0 {
		_, _ = src.Read(make([]byte, 1))
		<-ctx.Done()
		return destination.UploadResult{}, ctx.Err()
	}
	return s.Uploader.Upload(ctx, in, key, src, opts)
}

// TestStallRetried: an attempt that makes no progress for StallTimeout is cancelled and
// retried as transient "stalled".
func TestStallRetried(t *testing.T) {
	up := &stallUploader{}
	up.stalls.Store(2)
	h := newHarness(t, func(o *delivery.Options) { o.Uploader = up; o.StallTimeout = 50 * time.Millisecond })
	d, err := h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: h.targets(t, ws, 1)}, bytesSource([]byte("abc")))
	if err != nil || d.Outputs[0].Status != destination.StatusCompleted {
		t.Fatalf("%+v %v", d, err)
	}
	var stalled int
	for _, e := range h.ev.all() {
		if e.Kind == delivery.EventRetry && e.Code == destination.CodeStalled {
			stalled++
		}
	}
	if stalled != 2 {
		t.Errorf("%d stalled retries, want 2", stalled)
	}
}

// concUploader records the attempts in flight, per workspace and in all.
type concUploader struct {
	deliverytest.Uploader
	hold           time.Duration
	mu             chan struct{}
	now, peak      map[string]int
	nowAll, peakAl int
}

func newConcUploader(hold time.Duration) *concUploader {
	return &concUploader{hold: hold, mu: make(chan struct{}, 1), now: map[string]int{}, peak: map[string]int{}}
}

func (c *concUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	c.mu <- struct{}{}
	c.now[in.WorkspaceID]++
	c.nowAll++
	c.peak[in.WorkspaceID] = max(c.peak[in.WorkspaceID], c.now[in.WorkspaceID])
	c.peakAl = max(c.peakAl, c.nowAll)
	<-c.mu
	defer func() {
		c.mu <- struct{}{}
		c.now[in.WorkspaceID]--
		c.nowAll--
		<-c.mu
	}()
	time.Sleep(c.hold)
	return c.Uploader.Upload(ctx, in, key, src, opts)
}

// TestWorkspaceCap: one workspace never holds more than its share of the upload slots, and
// another workspace's delivery is not queued behind it.
func TestWorkspaceCap(t *testing.T) {
	up := newConcUploader(30 * time.Millisecond)
	h := newHarness(t, func(o *delivery.Options) { o.Uploader = up; o.MaxConcurrentUploads = 4; o.MaxUploadsPerWorkspace = 2 })
	big := delivery.Plan{WorkspaceID: ws, RenderID: "big", Targets: h.targets(t, ws, 8)}
	small := delivery.Plan{WorkspaceID: "ws-b", RenderID: "small", Targets: h.targets(t, "ws-b", 1)}
	done := make(chan time.Duration, 2)
	start := time.Now()
	for _, p := range []delivery.Plan{big, small} {
		go func() {
			if _, err := h.eng.Deliver(context.Background(), p, bytesSource([]byte("x"))); err != nil {
				t.Error(err)
			}
			done <- time.Since(start)
		}()
	}
	first, second := <-done, <-done
	if up.peak[ws] > 2 || up.peakAl > 4 {
		t.Errorf("peaks: workspace %d (cap 2), all %d (cap 4)", up.peak[ws], up.peakAl)
	}
	t.Logf("small workspace done after %s, big after %s", first, second)
}

// TestBudgetExcludesSlotWait: time spent queueing for a slot does not count against the retry
// budget.
func TestBudgetExcludesSlotWait(t *testing.T) {
	up := newConcUploader(150 * time.Millisecond)
	h := newHarness(t, func(o *delivery.Options) {
		o.Uploader = up
		o.MaxConcurrentUploads = 1
		o.Retry = delivery.RetryPolicy{MaxAttempts: 1, Budget: time.Second}
	})
	// Eleven outputs one at a time (the CDN copy and ten targets, 150 ms each): the last waits
	// ≥ 1.5 s for its slot, beyond the budget, and still succeeds. The budget is several times
	// one upload so that a loaded machine does not make the upload itself exceed it.
	d, err := h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "r", Targets: h.targets(t, ws, 10)}, bytesSource([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range d.Outputs {
		if o.Status != destination.StatusCompleted {
			t.Errorf("output %d: %+v", i, o)
		}
	}
}

// TestRedeliverFromCDN: a render whose file is gone is redelivered from its CDN copy, each
// attempt streaming it afresh.
func TestRedeliverFromCDN(t *testing.T) {
	h := newHarness(t)
	targets := h.targets(t, ws, 1)
	h.up.Fail(targets[0].IntegrationID, &destination.UploadError{Code: "unavailable", Transient: true})
	data := []byte("the render, from the CDN")
	p := delivery.Plan{WorkspaceID: ws, RenderID: "r", FileName: "render.mp4", Targets: targets}
	if _, _, err := h.eng.DeliverCDN(context.Background(), p, bytesSource(data)); err != nil {
		t.Fatal(err)
	}
	src, err := delivery.CDNSource(context.Background(), h.cdn, "cdn/r/render.mp4")
	if err != nil {
		t.Fatal(err)
	}
	o := h.eng.DeliverTarget(context.Background(), p, 0, src)
	if o.Status != destination.StatusCompleted || h.up.Sum(targets[0].IntegrationID) != sha256.Sum256(data) || h.up.Attempts(targets[0].IntegrationID) != 2 {
		t.Fatalf("%+v", o)
	}
}

// TestSlotFreedDuringBackoff: an output waiting for its next attempt holds no upload slot: with
// one slot in all, another workspace's delivery runs while the first one backs off.
func TestSlotFreedDuringBackoff(t *testing.T) {
	h := newHarness(t, func(o *delivery.Options) {
		o.MaxConcurrentUploads = 1
		o.Retry = delivery.RetryPolicy{MaxAttempts: 2, BaseDelay: 2 * time.Second, MaxDelay: 2 * time.Second}
	})
	flaky := h.targets(t, ws, 1)
	h.up.Fail(flaky[0].IntegrationID, &destination.UploadError{Code: "unavailable", Transient: true})
	first := make(chan struct{})
	go func() {
		defer close(first)
		_, _ = h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: ws, RenderID: "flaky", Targets: flaky}, bytesSource([]byte("x")))
	}()
	// Wait until the flaky target is backing off, then deliver for another workspace.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if slices.ContainsFunc(h.ev.all(), func(e delivery.Event) bool { return e.Kind == delivery.EventRetry }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no retry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	other := h.targets(t, "ws-b", 1)
	start := time.Now()
	d, err := h.eng.Deliver(context.Background(), delivery.Plan{WorkspaceID: "ws-b", RenderID: "other", Targets: other}, bytesSource([]byte("y")))
	if err != nil || d.Outputs[0].Status != destination.StatusCompleted {
		t.Fatalf("%+v %v", d, err)
	}
	select {
	case <-first:
		t.Fatalf("the other delivery (%s) waited for the flaky one's backoff", time.Since(start))
	default:
	}
	<-first
}
