package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/leakcheck"
)

// sameJSON reports whether a and b are the same JSON value (numbers compared by their text).
func sameJSON(a, b []byte) bool {
	decode := func(d []byte) (any, bool) {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v) == nil
	}
	va, oka := decode(a)
	vb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(va, vb)
}

func isObject(d []byte) bool { return json.Valid(d) && kind(d) == '{' }

// FuzzMergePatch: mergePatch never panics; a patch that is not an object is returned as is; for a
// target and a patch that are both JSON objects it succeeds with a JSON object where every
// non-null member of the patch has the patch's value, every null member is absent, and every
// other member of the target is kept (RFC 7396 at the top level; duplicate keys count by their
// last occurrence, as encoding/json reads them).
func FuzzMergePatch(f *testing.F) {
	for _, c := range [][2]string{
		{`{"bucket":"a","region":"r"}`, `{"bucket":"b","pathPrefix":"p/"}`},
		{`{"bucket":"a","region":"r"}`, `{"region":null}`},
		{`{"gcsServiceAccountJson":"{}","bucket":"a"}`, `{"gcsServiceAccountJson":{"type":"service_account","x":null}}`},
		{`{"bucket":"a"}`, `"x"`},
		{`{}`, `{"a":1,"a":null}`},
		{`{"a":null}`, ` {"b" : [1,2,{"c":null}], "n":1e400}`},
		{`not json`, `{"bucket":"<b>&"}`},
		{`{"bucket":"a"}`, `{"bucket":`},
		{`[]`, `{"x":"\u00e9\ud800"}`},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		if len(target) > 4096 || len(patch) > 4096 {
			return
		}
		got, err := mergePatch(target, patch)
		if kind(patch) != '{' {
			if err != nil || !bytes.Equal(got, patch) {
				t.Fatalf("mergePatch with a non-object patch = %q, %v; want the patch", got, err)
			}
			return
		}
		if !isObject(target) || !isObject(patch) {
			return
		}
		if err != nil {
			t.Fatalf("mergePatch(%q, %q) of two objects: %v", target, patch, err)
		}
		var tm, pm, rm map[string]json.RawMessage
		if err := json.Unmarshal(target, &tm); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(patch, &pm); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &rm); err != nil || kind(got) != '{' {
			t.Fatalf("mergePatch(%q, %q) = %q: not a JSON object (%v)", target, patch, got, err)
		}
		for k, v := range pm {
			r, ok := rm[k]
			if kind(v) == 'n' {
				if ok {
					t.Fatalf("mergePatch(%q, %q) = %q: null member %q kept", target, patch, got, k)
				}
				continue
			}
			if !ok || !sameJSON(r, v) {
				t.Fatalf("mergePatch(%q, %q) = %q: member %q is %q, want %q", target, patch, got, k, r, v)
			}
		}
		for k, v := range tm {
			if _, patched := pm[k]; patched {
				continue
			}
			if r, ok := rm[k]; !ok || !sameJSON(r, v) {
				t.Fatalf("mergePatch(%q, %q) = %q: target member %q is %q, want %q kept", target, patch, got, k, r, v)
			}
		}
		for k := range rm {
			_, inT := tm[k]
			_, inP := pm[k]
			if !inT && !inP {
				t.Fatalf("mergePatch(%q, %q) = %q: member %q from nowhere", target, patch, got, k)
			}
		}
	})
}

// configSecrets returns the string values of config's secret fields (keys compared
// case-insensitively) and every other string of the body.
func configSecrets(body []byte) (secrets, others []string) {
	var top map[string]any
	if json.Unmarshal(body, &top) != nil {
		return nil, nil
	}
	secretNames := map[string]bool{}
	for _, f := range destination.AllSecretFields() {
		secretNames[strings.ToLower(string(f))] = true
	}
	var walk func(v any, secret bool)
	walk = func(v any, secret bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				others = append(others, k)
				walk(e, secretNames[strings.ToLower(k)])
			}
		case []any:
			for _, e := range v {
				walk(e, false)
			}
		case string:
			if secret {
				secrets = append(secrets, v)
			} else {
				others = append(others, v)
			}
		}
	}
	walk(top, false)
	return secrets, others
}

func checkPatchErr(t *testing.T, step string, body []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ve *destination.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("%s: error %T %v is not a *destination.ValidationError", step, err, err)
	}
	secrets, others := configSecrets(body)
	if q := leakcheck.Quoted(err.Error(), secrets, others); q != "" {
		t.Fatalf("%s: error %q quotes the secret %q", step, err, q)
	}
}

// FuzzPatchBody runs the decoding steps patchIntegration applies to a PATCH body before it calls
// the Service (the handler itself needs a running Service, so the steps are composed here as
// api.go composes them): decodeBody with updateShape, the split of "config" from the rest,
// outputs.DecodeUpdateInput of the rest, mergePatch of the config onto a stored configuration,
// and destination.DecodeConfig of the merge. None panics; every error is a
// *destination.ValidationError that quotes no secret of the body; mergePatch of an object patch
// onto the stored (object) configuration never fails.
func FuzzPatchBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"renamed","config":{"bucket":"b2","region":null}}`,
		`{"version":2,"isActive":false,"isDefault":false}`,
		`{"config":{"secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","endpoint":"https://x.r2.cloudflarestorage.com"}}`,
		`{"config":{"gcsServiceAccountJson":{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----"}}}`,
		`{"config":{"bucket":5,"secretAccessKey":"supersecret1"}}`,
		`{"config":{"Bucket":"b","path_prefix":"p"}}`,
		`{"name":"a","name":"b"}`,
		`{"config":"nope"}`,
		`{"config":{"azureSasToken":["sv=2022&sig=abcdefgh"]}}`,
		`[{"config":{}}]`,
		`{"config":{"bucket":"b"}} trailing`,
	} {
		f.Add([]byte(s))
	}
	stored, _ := json.Marshal(destination.Config{Bucket: "renders", AccessKeyID: "AKIAEXAMPLE", Endpoint: "https://acct.r2.cloudflarestorage.com", PathPrefix: "v/"})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8192 {
			return
		}
		b, err := decodeBody(data, updateShape)
		checkPatchErr(t, "decodeBody", data, err)
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if kind(b) != '{' || json.Unmarshal(b, &top) != nil {
			_, err := outputs.DecodeUpdateInput(b)
			checkPatchErr(t, "DecodeUpdateInput(whole body)", data, err)
			return
		}
		cfgPatch, hasConfig := top["config"]
		delete(top, "config")
		rest, _ := json.Marshal(top)
		_, err = outputs.DecodeUpdateInput(rest)
		checkPatchErr(t, "DecodeUpdateInput(rest)", data, err)
		if err != nil || !hasConfig || kind(cfgPatch) != '{' {
			return
		}
		merged, err := mergePatch(stored, cfgPatch)
		if err != nil {
			t.Fatalf("mergePatch of the config object %q: %v", cfgPatch, err)
		}
		_, err = destination.DecodeConfig(merged)
		checkPatchErr(t, "DecodeConfig(merged)", data, err)
	})
}
