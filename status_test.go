package outputs_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

func TestGetDeliveryDocumentedShape(t *testing.T) {
	ctx := context.Background()
	deliveries := memstore.NewDeliveries()
	h := newHarness(t, func(o *outputs.Options) { o.Deliveries = deliveries })
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := &destination.DeliveryRecord{WorkspaceID: wsA.WorkspaceID, RenderID: "r1", CreatedAt: now,
		Outputs: []destination.OutputRecord{
			{IntegrationID: "i1", Provider: destination.R2, CreatedAt: now},
			{IntegrationID: "i2", Provider: destination.S3, CreatedAt: now},
		}}
	if err := deliveries.AddDelivery(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		id string
		t  destination.Transition
	}{
		{"", destination.Transition{Status: destination.StatusCompleted, At: now, Key: "renders/r1/render.mp4",
			URL: "https://cdn.example.com/renders/r1/render.mp4?sig=x", SizeBytes: 2457600}},
		{"i1", destination.Transition{Status: destination.StatusCompleted, At: now, Key: "renders/campaigns/render.mp4",
			URL: "https://cdn.example.com/renders/campaigns/render.mp4", SizeBytes: 2457600, Checksum: "crc32c:AAAAAA=="}},
		{"i2", destination.Transition{Status: destination.StatusFailed, At: now, ErrorCode: "invalid_credentials",
			Error: "the access key was rejected"}},
	} {
		var err error
		if step.id == "" {
			err = deliveries.TransitionRender(ctx, wsA.WorkspaceID, "r1", step.t)
		} else {
			err = deliveries.TransitionOutput(ctx, wsA.WorkspaceID, "r1", step.id, step.t)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	st, err := h.svc.GetDelivery(ctx, wsA, "r1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if k := keys(got); !slices.Equal(k, []string{"id", "outputs", "status", "url"}) {
		t.Fatalf("render status keys = %v", k)
	}
	if got["id"] != "r1" || got["status"] != "completed" || got["url"] != "https://cdn.example.com/renders/r1/render.mp4?sig=x" {
		t.Fatalf("render status = %s", b)
	}
	outs := got["outputs"].([]any)
	want := []map[string]any{
		{"integrationId": "i1", "provider": "r2", "outputKey": "renders/campaigns/render.mp4",
			"outputUrl": "https://cdn.example.com/renders/campaigns/render.mp4", "outputSizeBytes": 2457600.0, "status": "completed",
			"checksum": "crc32c:AAAAAA=="}, // the stored checksum, as Deliver's outputs carry it
		{"integrationId": "i2", "provider": "s3", "outputKey": "", "outputUrl": "", "outputSizeBytes": 0.0,
			"status": "failed", "errorCode": "invalid_credentials", "error": "the access key was rejected"},
	}
	for i, w := range want {
		if !reflect.DeepEqual(outs[i], any(w)) {
			t.Fatalf("output %d = %v, want %v", i, outs[i], w)
		}
	}

	// Workspace-scoped like integrations; validated; unsupported without a store.
	if _, err := h.svc.GetDelivery(ctx, wsB, "r1"); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("GetDelivery from another workspace: %v, want ErrNotFound", err)
	}
	if _, err := h.svc.GetDelivery(ctx, wsA, "missing"); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("GetDelivery of a missing render: %v, want ErrNotFound", err)
	}
	if _, err := h.svc.GetDelivery(ctx, wsA, ""); !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("GetDelivery without render ID: %v, want ErrInvalid", err)
	}
	if _, err := h.svc.GetDelivery(ctx, destination.Caller{APIKeyOnly: true}, "r1"); !errors.Is(err, destination.ErrNoWorkspace) {
		t.Fatalf("GetDelivery without workspace: %v, want ErrNoWorkspace", err)
	}
	if _, err := newHarness(t).svc.GetDelivery(ctx, wsA, "r1"); !errors.Is(err, destination.ErrUnsupported) {
		t.Fatalf("GetDelivery without a delivery store: %v, want ErrUnsupported", err)
	}
}

func keys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}
