package outputs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

func cdnBucket(t *testing.T) *blob.Bucket {
	t.Helper()
	base, _ := url.Parse("https://cdn.test/dl")
	b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{URLSigner: fileblob.NewURLSignerHMAC(base, []byte("test-signing-key"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func targetsFor(t *testing.T, h *harness, n int) []destination.Target {
	t.Helper()
	var out []destination.Target
	for i := 0; i < n; i++ {
		v, err := h.svc.CreateIntegration(context.Background(), wsA, r2Input(false))
		if err != nil {
			t.Fatal(err)
		}
		in, _ := h.store.Get(context.Background(), "ws-a", v.ID)
		out = append(out, destination.Target{Integration: in, Prefix: fmt.Sprintf("renders/t%d/", i)})
	}
	return out
}

func TestDeliverFanOut(t *testing.T) {
	up := &fakeUploader{}
	var evMu sync.Mutex
	var events []outputs.Event
	cdn := cdnBucket(t)
	h := newHarness(t, func(o *outputs.Options) {
		o.Uploader = up
		o.Delivery = outputs.DeliveryOptions{CDN: cdn, CDNKeyPrefix: "cdn/", OnEvent: func(e outputs.Event) {
			evMu.Lock()
			events = append(events, e)
			evMu.Unlock()
		}}
	})
	targets := targetsFor(t, h, 3)
	data := bytes.Repeat([]byte("video-bytes-"), 100000)
	d, err := h.svc.Deliver(context.Background(), outputs.Render{ID: "018f-render", FileName: "render.mp4",
		Source: outputs.Source{ReaderAt: bytes.NewReader(data), Size: int64(len(data))}}, targets)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "completed" || !strings.HasPrefix(d.URL, "https://cdn.test/dl?") || len(d.Outputs) != 3 {
		t.Fatalf("%+v", d)
	}
	got, err := cdn.ReadAll(context.Background(), "cdn/018f-render/render.mp4")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal("CDN copy differs", err)
	}
	want := sha256.Sum256(data)
	for i, o := range d.Outputs {
		if o.Status != destination.StatusCompleted || o.OutputSizeBytes != int64(len(data)) || o.OutputKey != fmt.Sprintf("renders/t%d/render.mp4", i) || o.Provider != destination.R2 {
			t.Errorf("output %d: %+v", i, o)
		}
		if up.sums[o.IntegrationID] != want {
			t.Errorf("output %d: bytes differ", i)
		}
	}
	statuses := map[destination.OutputStatus]int{}
	for _, e := range events {
		if e.IntegrationID != "" {
			statuses[e.Status]++
		}
	}
	if statuses[destination.StatusPending] != 3 || statuses[destination.StatusCompleted] != 3 || statuses[destination.StatusUploading] < 3 {
		t.Fatalf("events: %v", statuses)
	}
}

func TestDeliverIsolatesFailures(t *testing.T) {
	up := &fakeUploader{}
	h := newHarness(t, func(o *outputs.Options) {
		o.Uploader = up
		o.Delivery = outputs.DeliveryOptions{CDN: cdnBucket(t), Retry: outputs.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
			Classify: func(err error) provider.Classification {
				if errors.Is(err, errPermanent) {
					return provider.Classification{Code: "invalid_credentials", Message: "the access key was rejected"}
				}
				return provider.Classification{Code: "unavailable", Message: "try again", Transient: true}
			}}
	})
	targets := targetsFor(t, h, 4)
	up.failures = map[string][]error{
		targets[0].Integration.ID: {errPermanent},
		targets[1].Integration.ID: {errors.New("503"), errors.New("reset")},
		targets[3].Integration.ID: {errors.New("503"), errors.New("503"), errors.New("503"), errors.New("503"), errors.New("503")},
	}
	up.delay = map[string]time.Duration{targets[2].Integration.ID: 200 * time.Millisecond}
	data := []byte("small video")
	start := time.Now()
	d, err := h.svc.Deliver(context.Background(), outputs.Render{ID: "r1", FileName: "../../etc/render.mp4",
		Source: outputs.Source{ReaderAt: bytes.NewReader(data), Size: int64(len(data))}}, targets)
	if err != nil {
		t.Fatal(err)
	}
	_ = start
	o := d.Outputs
	if o[0].Status != destination.StatusFailed || o[0].ErrorCode != "invalid_credentials" || up.attempts[targets[0].Integration.ID] != 1 {
		t.Errorf("permanent: %+v (attempts %d)", o[0], up.attempts[targets[0].Integration.ID])
	}
	if o[1].Status != destination.StatusCompleted || up.attempts[targets[1].Integration.ID] != 3 {
		t.Errorf("transient: %+v", o[1])
	}
	if o[2].Status != destination.StatusCompleted {
		t.Errorf("slow: %+v", o[2])
	}
	if o[3].Status != destination.StatusFailed || up.attempts[targets[3].Integration.ID] != 4 {
		t.Errorf("exhausted: %+v attempts %d", o[3], up.attempts[targets[3].Integration.ID])
	}
	for _, x := range o {
		if strings.Contains(x.OutputKey, "..") || !strings.HasSuffix(x.OutputKey, "/render.mp4") {
			t.Errorf("unsanitized key %q", x.OutputKey)
		}
	}
}

func TestDeliverCancel(t *testing.T) {
	up := &fakeUploader{}
	h := newHarness(t, func(o *outputs.Options) {
		o.Uploader = up
		o.Delivery = outputs.DeliveryOptions{CDN: memblob.OpenBucket(nil)}
	})
	targets := targetsFor(t, h, 2)
	up.delay = map[string]time.Duration{targets[0].Integration.ID: time.Minute, targets[1].Integration.ID: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d, err := h.svc.Deliver(ctx, outputs.Render{ID: "r2", FileName: "a.mp4", Source: outputs.Source{ReaderAt: bytes.NewReader(nil), Size: 0}}, targets)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	for _, o := range d.Outputs {
		if o.Status != destination.StatusFailed {
			t.Errorf("%+v", o)
		}
	}
}

func TestDeliverBadInput(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.Deliver(context.Background(), outputs.Render{ID: "x"}, nil); !errors.Is(err, destination.ErrUnsupported) {
		t.Fatalf("no CDN: %v", err)
	}
	h = newHarness(t, func(o *outputs.Options) { o.Delivery.CDN = memblob.OpenBucket(nil) })
	for _, r := range []outputs.Render{{ID: ""}, {ID: "a/b", Source: outputs.Source{ReaderAt: bytes.NewReader(nil)}}, {ID: "ok"}} {
		if _, err := h.svc.Deliver(context.Background(), r, nil); !errors.Is(err, destination.ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	// CDN failure is reported, outputs still filled.
	b := memblob.OpenBucket(nil)
	b.Close()
	h = newHarness(t, func(o *outputs.Options) { o.Delivery.CDN = b })
	_, err := h.svc.Deliver(context.Background(), outputs.Render{ID: "r", Source: outputs.Source{ReaderAt: bytes.NewReader(nil)}}, nil)
	if !errors.Is(err, outputs.ErrCDN) {
		t.Fatalf("closed CDN: %v", err)
	}
	_ = gcerrors.OK
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"render.mp4": "render.mp4", "../../x.mp4": "x.mp4", `c:\a\b.mov`: "b.mov", "a\x00b.mp4": "ab.mp4", "": "rid.mp4", "..": "rid.mp4", " . ": "rid.mp4",
	} {
		if got := outputs.SanitizeFileName(in, "rid"); got != want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyTemplate(t *testing.T) {
	up := &fakeUploader{}
	h := newHarness(t, func(o *outputs.Options) {
		o.Uploader = up
		o.Delivery = outputs.DeliveryOptions{CDN: memblob.OpenBucket(nil), KeyTemplate: "{date}/{renderId}/../{name}-final.{ext}"}
	})
	targets := targetsFor(t, h, 1)
	d, err := h.svc.Deliver(context.Background(), outputs.Render{ID: "r9", FileName: "promo.mp4", FinishedAt: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
		Source: outputs.Source{ReaderAt: bytes.NewReader([]byte("x")), Size: 1}}, targets)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Outputs[0].OutputKey; got != "renders/t0/2026-07-01/r9/promo-final.mp4" {
		t.Fatal(got)
	}
}

func TestResolveThenDeliver(t *testing.T) {
	up := &fakeUploader{}
	h := newHarness(t, func(o *outputs.Options) { o.Uploader = up; o.Delivery.CDN = memblob.OpenBucket(nil) })
	ctx := context.Background()
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(true))
	if err != nil {
		t.Fatal(err)
	}
	vj := fmt.Sprintf(`{"name":"Product Promo","layers":[],"destinations":[{"integrationId":%q,"provider":"r2","pathPrefix":"campaigns/summer-2026/"}]}`, v.ID)
	targets, err := h.svc.ResolveDestinations(ctx, wsA, []byte(vj))
	if err != nil || len(targets) != 1 {
		t.Fatal(targets, err)
	}
	d, err := h.svc.Deliver(ctx, outputs.Render{ID: "r", FileName: "render.mp4", Source: outputs.Source{ReaderAt: bytes.NewReader([]byte("abc")), Size: 3}}, targets)
	if err != nil || d.Outputs[0].OutputKey != "renders/campaigns/summer-2026/render.mp4" {
		t.Fatalf("%+v %v", d, err)
	}
	// Omitted destinations: the default. Another workspace's ID: not found.
	if targets, err := h.svc.ResolveDestinations(ctx, wsA, []byte(`{"name":"x"}`)); err != nil || len(targets) != 1 || targets[0].Integration.ID != v.ID {
		t.Fatal(targets, err)
	}
	var ve *destination.ValidationError
	if _, err := h.svc.ResolveDestinations(ctx, wsB, []byte(vj)); !errors.As(err, &ve) || ve.Errors[0].Code != destination.CodeNotFound ||
		errors.Is(err, destination.ErrNotFound) {
		t.Fatal(err)
	}
}
