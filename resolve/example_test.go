package resolve_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/resolve"
)

func Example() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{
		ID: "018f3a5c-7b1e-7000-8000-000000000001", WorkspaceID: "ws-1", Provider: destination.R2,
		Name: "Marketing R2", IsActive: true, IsDefault: true,
		Config: destination.Config{Bucket: "ilovevideoeditor-outputs", PathPrefix: "renders/"},
	})

	videoJSON := []byte(`{
	  "name": "Product Promo",
	  "layers": [],
	  "destinations": [
	    {"integrationId": "018f3a5c-7b1e-7000-8000-000000000001", "provider": "r2", "pathPrefix": "campaigns/summer-2026/"}
	  ]
	}`)
	req, err := resolve.ParseVideoJSON(videoJSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	caller := destination.Caller{WorkspaceID: "ws-1", UserID: "user-1"}
	targets, err := resolve.New(store, resolve.Options{}).Resolve(ctx, caller, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		fmt.Println(t.Provider, t.IntegrationID, t.Prefix+"render.mp4")
	}
	// Output:
	// r2 018f3a5c-7b1e-7000-8000-000000000001 renders/campaigns/summer-2026/render.mp4
}

func ExampleResolver_Resolve_errors() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{
		ID: "int-r2", WorkspaceID: "ws-1", Provider: destination.R2, IsActive: true,
	})
	_, _ = store.Create(ctx, &destination.Integration{
		ID: "int-other", WorkspaceID: "ws-2", Provider: destination.S3, IsActive: true,
	})

	req := resolve.Request{Specified: true, Destinations: []destination.Destination{
		{IntegrationID: "int-r2", Provider: destination.S3},
		{IntegrationID: "int-other", Provider: destination.S3}, // another workspace's
		{IntegrationID: "int-r2", Provider: destination.R2, PathPrefix: "../up"},
	}}
	_, err := resolve.New(store, resolve.Options{}).Resolve(ctx, destination.Caller{WorkspaceID: "ws-1"}, req)

	var ve *destination.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Printf("%s %s: %s\n", fe.Field, fe.Code, fe.Message)
		}
	}
	// One kind (a 400): the codes say why.
	fmt.Println(errors.Is(err, destination.ErrInvalid), errors.Is(err, destination.ErrNotFound))
	// Output:
	// destinations[0].provider mismatch: does not match the integration's provider "r2"
	// destinations[1].integrationId not_found: no integration with this ID in the caller's workspace
	// destinations[2].pathPrefix invalid: must not contain "." or ".." segments
	// true false
}

func ExampleResolver_Resolve_omitted() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{
		ID: "int-r2", WorkspaceID: "ws-1", Provider: destination.R2, IsActive: true, IsDefault: true,
		Config: destination.Config{PathPrefix: "renders"},
	})
	r := resolve.New(store, resolve.Options{})

	omitted, _ := resolve.ParseVideoJSON([]byte(`{"name": "No destinations"}`))
	targets, _ := r.Resolve(ctx, destination.Caller{WorkspaceID: "ws-1"}, omitted)
	fmt.Println("omitted:", len(targets), "target,", targets[0].IntegrationID, targets[0].Prefix)

	empty, _ := resolve.ParseVideoJSON([]byte(`{"destinations": []}`))
	targets, _ = r.Resolve(ctx, destination.Caller{WorkspaceID: "ws-1"}, empty)
	fmt.Println("empty:", len(targets), "targets (CDN only)")
	// Output:
	// omitted: 1 target, int-r2 renders/
	// empty: 0 targets (CDN only)
}

func ExampleOptions() {
	ctx := context.Background()
	store := memstore.New()
	_, _ = store.Create(ctx, &destination.Integration{
		ID: "int-r2", WorkspaceID: "ws-1", Provider: destination.R2, IsActive: true,
		Config: destination.Config{PathPrefix: "renders/"},
	})
	req := resolve.Request{Specified: true, Destinations: []destination.Destination{
		{IntegrationID: "int-r2", Provider: destination.R2, PathPrefix: "campaigns/summer-2026"},
	}}
	caller := destination.Caller{WorkspaceID: "ws-1"}

	nested, _ := resolve.New(store, resolve.Options{}).Resolve(ctx, caller, req)
	replaced, _ := resolve.New(store, resolve.Options{ReplacePrefix: true}).Resolve(ctx, caller, req)
	fmt.Println("default: ", nested[0].Prefix)
	fmt.Println("replace: ", replaced[0].Prefix)
	// Output:
	// default:  renders/campaigns/summer-2026/
	// replace:  campaigns/summer-2026/
}

func ExampleParseVideoJSON() {
	for _, videoJSON := range []string{
		`{"name": "a"}`,
		`{"name": "b", "destinations": null}`,
		`{"name": "c", "destinations": []}`,
		`{"name": "d", "destinations": [{"integrationId": "int-r2", "provider": "r2", "future": true}]}`,
		`{"name": "e", "destinations": [{"integrationId": 7, "provider": "r2"}]}`,
	} {
		req, err := resolve.ParseVideoJSON([]byte(videoJSON))
		fmt.Printf("specified=%v entries=%d err=%v\n", req.Specified, len(req.Destinations), err)
	}
	// Output:
	// specified=false entries=0 err=<nil>
	// specified=false entries=0 err=<nil>
	// specified=true entries=0 err=<nil>
	// specified=true entries=1 err=<nil>
	// specified=false entries=0 err=invalid input: destinations[0].integrationId: must be a string, not a number
}
