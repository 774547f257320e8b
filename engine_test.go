package outputs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
)

func TestResolveThenDeliver(t *testing.T) {
	up := &deliverytest.Uploader{}
	cdn := &deliverytest.CDN{}
	h := newHarness(t, func(o *outputs.Options) { o.Uploader = up; o.Delivery.CDN = cdn })
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
	// The plan is stored with the render (JSON) and delivered later.
	stored, err := json.Marshal(outputs.Plan{WorkspaceID: wsA.WorkspaceID, RenderID: "r", FileName: "render.mp4", Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	var plan outputs.Plan
	if err := json.Unmarshal(stored, &plan); err != nil {
		t.Fatal(err)
	}
	d, err := h.svc.Deliver(ctx, plan, outputs.Source{ReaderAt: bytes.NewReader([]byte("abc")), Size: 3})
	copied, _ := cdn.Object("r/render.mp4")
	if err != nil || d.Status != "completed" || d.Outputs[0].OutputKey != "renders/campaigns/summer-2026/render.mp4" ||
		d.Outputs[0].Status != destination.StatusCompleted || string(copied) != "abc" {
		t.Fatalf("%+v %v", d, err)
	}
	if h.svc.Engine() == nil {
		t.Fatal("no engine")
	}
	// Omitted destinations: the default. Another workspace's ID: not found.
	if targets, err := h.svc.ResolveDestinations(ctx, wsA, []byte(`{"name":"x"}`)); err != nil || len(targets) != 1 || targets[0].IntegrationID != v.ID {
		t.Fatal(targets, err)
	}
	var ve *destination.ValidationError
	if _, err := h.svc.ResolveDestinations(ctx, wsB, []byte(vj)); !errors.As(err, &ve) || ve.Errors[0].Code != destination.CodeNotFound ||
		errors.Is(err, destination.ErrNotFound) {
		t.Fatal(err)
	}
}

// TestDeliverWithoutCDN: the Service composes the engine; without a CDN, Deliver says so.
func TestDeliverWithoutCDN(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Deliver(context.Background(), outputs.Plan{RenderID: "r"}, outputs.Source{ReaderAt: bytes.NewReader(nil)})
	if !errors.Is(err, destination.ErrUnsupported) {
		t.Fatalf("no CDN: %v", err)
	}
	if _, err := outputs.New(outputs.Options{Store: h.store, Keyring: h.kr, Delivery: outputs.DeliveryOptions{CDNKeyPrefix: "/abs"}}); !errors.Is(err, outputs.ErrBadOptions) {
		t.Fatalf("bad delivery options: %v", err)
	}
}
