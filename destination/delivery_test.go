package destination_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
)

// TestTargetIsStorable: a resolved target survives JSON (a host stores it with its render row or
// enqueues it) and is data only: no pointer, map, interface, func or channel a secret could hide in.
func TestTargetIsStorable(t *testing.T) {
	in := []destination.Target{
		{IntegrationID: "018f3a5c-7b1e-7000-8000-000000000001", Provider: destination.R2, Prefix: "renders/campaigns/", IntegrationVersion: 7},
		{IntegrationID: "018f3a5c-7b1e-7000-8000-000000000002", Provider: destination.Drive},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"integrationId":"018f3a5c-7b1e-7000-8000-000000000001","provider":"r2","prefix":"renders/campaigns/","integrationVersion":7},` +
		`{"integrationId":"018f3a5c-7b1e-7000-8000-000000000002","provider":"drive","prefix":""}]`
	if string(data) != want {
		t.Errorf("JSON\n got %s\nwant %s", data, want)
	}
	var out []destination.Target
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	typ := reflect.TypeFor[destination.Target]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.String, reflect.Int64:
		default:
			t.Errorf("Target.%s is a %s: a target must be plain data", f.Name, f.Type.Kind())
		}
	}
}
