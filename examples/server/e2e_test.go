package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

// docCreate is the documentation's "Create an S3/R2 integration" body, placeholders filled in.
const docCreate = `{
    "provider": "r2",
    "name": "Marketing R2",
    "isActive": true,
    "isDefault": true,
    "config": {
      "endpoint": "https://acct.r2.cloudflarestorage.com",
      "region": "auto",
      "bucket": "ilovevideoeditor-outputs",
      "accessKeyId": "AKIAEXAMPLE",
      "secretAccessKey": "` + secret + `",
      "publicUrl": "https://cdn.example.com",
      "pathPrefix": "renders/"
    }
  }`

// checkFields compares the named top-level (or "config.x") fields of a JSON answer.
func checkFields(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		var v any = got
		for _, part := range strings.Split(k, ".") {
			m, _ := v.(map[string]any)
			v = m[part]
		}
		if v != w {
			t.Errorf("%s: %s = %#v, want %#v", what, k, v, w)
		}
	}
}

func noSecret(t *testing.T, ex *exchange) {
	t.Helper()
	if strings.Contains(string(ex.Body), secret) {
		t.Fatalf("answer leaks the secret: %s", ex.Body)
	}
}

// TestDocumentedExamples drives every curl example of the output-destinations documentation that
// needs no storage server, and the render journey to the CDN, with the real curl.
func TestDocumentedExamples(t *testing.T) {
	ts := start(t, config{})
	const tok = "dev-ws1"

	list := ts.do(req{method: "GET", path: "/v1/integrations", token: tok}, 200, "")
	if items, _ := list.JSON()["integrations"].([]any); items == nil || len(items) != 0 {
		t.Fatalf("empty list: %s", list.Body)
	}

	cr := ts.do(req{method: "POST", path: "/v1/integrations", token: tok, body: docCreate}, 201, "")
	noSecret(t, cr)
	v := cr.JSON()
	id, _ := v["id"].(string)
	if id == "" || cr.Header.Get("Location") != "/v1/integrations/"+id {
		t.Fatalf("create: id %q, Location %q", id, cr.Header.Get("Location"))
	}
	want := map[string]any{"provider": "r2", "name": "Marketing R2", "isActive": true, "isDefault": true,
		"workspaceId": "ws1", "version": float64(1),
		"config.endpoint": "https://acct.r2.cloudflarestorage.com", "config.region": "auto",
		"config.bucket": "ilovevideoeditor-outputs", "config.accessKeyId": "AKIAEXAMPLE",
		"config.secretAccessKey": "••••EKEY", "config.publicUrl": "https://cdn.example.com", "config.pathPrefix": "renders/"}
	checkFields(t, "create", v, want)
	checkFields(t, "get", ts.do(req{method: "GET", path: "/v1/integrations/" + id, token: tok}, 200, "").JSON(), want)
	if items, _ := ts.do(req{method: "GET", path: "/v1/integrations", token: tok}, 200, "").JSON()["integrations"].([]any); len(items) != 1 {
		t.Errorf("list after create: %d items", len(items))
	}

	// Destinations in a render (the documentation's example entry).
	dests := `"destinations": [{"integrationId": "` + id + `", "provider": "r2", "pathPrefix": "campaigns/summer-2026/"}]`
	res := ts.do(req{method: "POST", path: "/v1/renders/resolve", token: tok, body: `{"name": "Product Promo", "layers": [], ` + dests + `}`}, 200, "")
	d, _ := res.JSON()["destinations"].([]any)
	if len(d) != 1 {
		t.Fatalf("resolve: %s", res.Body)
	}
	checkFields(t, "resolve", d[0].(map[string]any), map[string]any{"integrationId": id, "provider": "r2", "pathPrefix": "renders/campaigns/summer-2026/"})

	// A render to the CDN only: pending at once, then completed with the CDN url.
	rr := ts.do(req{method: "POST", path: "/v1/renders", token: tok, body: `{"name": "Product Promo", "layers": [], "destinations": []}`}, 201, "")
	rid, _ := rr.JSON()["id"].(string)
	if rid == "" || rr.Header.Get("Location") != "/v1/renders/"+rid || rr.JSON()["status"] != "pending" {
		t.Fatalf("render: %v %s", rr.Header, rr.Body)
	}
	st := ts.waitRender(tok, rid).JSON()
	checkFields(t, "render status", st, map[string]any{"id": rid, "status": "completed",
		"url": ts.URL + "/cdn/renders/" + rid + "/render.mp4"})
	if outs, _ := st["outputs"].([]any); outs == nil || len(outs) != 0 {
		t.Errorf("CDN-only render outputs: %v", st["outputs"])
	}
	resp, err := http.Get(st["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || n != int64(len(ts.s.sample)) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("CDN copy: %d, %d bytes of %d, %s", resp.StatusCode, n, len(ts.s.sample), resp.Header.Get("Content-Type"))
	}
	ts.do(req{method: "GET", path: "/v1/renders/" + rid, token: "dev-ws2"}, 404, "not_found")

	// The backwards-compatible default destination.
	checkFields(t, "GET /v1/destination", ts.do(req{method: "GET", path: "/v1/destination", token: tok}, 200, "").JSON(), map[string]any{"id": id, "isDefault": true})
	put := ts.do(req{method: "PUT", path: "/v1/destination", token: tok, body: docCreate}, 200, "")
	noSecret(t, put)
	checkFields(t, "PUT /v1/destination", put.JSON(), map[string]any{"isDefault": true, "provider": "r2", "config.secretAccessKey": "••••EKEY"})
	ts.do(req{method: "DELETE", path: "/v1/destination", token: tok}, 204, "")
	ts.do(req{method: "GET", path: "/v1/destination", token: tok}, 404, "not_found")
	ts.do(req{method: "POST", path: "/v1/destination/test", token: tok}, 404, "not_found")

	// Drive is not configured on this server.
	ts.do(req{method: "GET", path: "/v1/integrations/drive/auth-url", token: tok}, 501, "unsupported")
	ts.do(req{method: "GET", path: "/v1/integrations/" + id, token: tok}, 404, "not_found") // the legacy DELETE removed it
	other := ts.do(req{method: "POST", path: "/v1/integrations", token: tok, body: docCreate}, 201, "").JSON()["id"].(string)
	ts.do(req{method: "DELETE", path: "/v1/integrations/" + other, token: tok}, 204, "")
	ts.do(req{method: "DELETE", path: "/v1/integrations/" + other, token: tok}, 404, "not_found")

	if strings.Contains(ts.logs.String(), secret) {
		t.Error("the server log shows the secret")
	}

	// The OpenAPI document is served.
	oa := ts.do(req{method: "GET", path: "/v1/openapi.json"}, 200, "")
	if !strings.Contains(string(oa.Body), `"openapi":"3.1.0"`) {
		t.Errorf("openapi.json: %.200s", oa.Body)
	}
}

// TestBadInput sends bad input to every endpoint: the documented error shape, status and code
// (checked against openapi.yaml and the mapping by the harness).
func TestBadInput(t *testing.T) {
	ts := start(t, config{})
	const tok = "dev-ws1"
	id := ts.do(req{method: "POST", path: "/v1/integrations", token: tok, body: docCreate}, 201, "").JSON()["id"].(string)
	rid := ts.do(req{method: "POST", path: "/v1/renders", token: tok, body: `{"destinations":[]}`}, 201, "").JSON()["id"].(string)
	ts.waitRender(tok, rid)
	big := `{"name":"` + strings.Repeat("x", maxIntegrationBody) + `"}`
	bigRender := `{"layers":"` + strings.Repeat("x", maxRenderBody) + `"}`
	withBody := []struct{ method, path string }{
		{"POST", "/v1/integrations"}, {"PATCH", "/v1/integrations/" + id}, {"PUT", "/v1/destination"},
		{"POST", "/v1/renders"}, {"POST", "/v1/renders/resolve"},
	}
	for _, e := range withBody {
		for _, c := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"malformed", `{"provider": "r2",`, 400, "invalid"},
			{"not an object", `[1,2]`, 400, "invalid"},
			{"trailing data", `{} {}`, 400, "invalid"},
		} {
			t.Run(e.method+e.path+"/"+c.name, func(t *testing.T) {
				ts.do(req{method: e.method, path: e.path, token: tok, body: c.body, bad: true}, c.status, c.code)
			})
		}
		oversized := big
		if strings.HasPrefix(e.path, "/v1/renders") {
			oversized = bigRender
		}
		ts.do(req{method: e.method, path: e.path, token: tok, body: oversized, bad: true}, 413, "too_large")
		ts.do(req{method: e.method, path: e.path, body: `{}`, bad: true}, 401, "unauthenticated")
		ts.do(req{method: e.method, path: e.path, token: "dev-", body: `{}`, bad: true}, 401, "unauthenticated")
	}
	for _, c := range []struct {
		r           req
		status      int
		code, field string
	}{
		// wrong types, unknown and misspelled keys, case
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"r2","name":7,"config":{}}`}, 400, "invalid", "name"},
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"ftp","name":"x","config":{}}`}, 400, "invalid", "provider"},
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"r2","Name":"x","config":{}}`}, 400, "invalid", "Name"},
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"r2","name":"x","config":{"path_prefix":"a/"}}`}, 400, "invalid", "config.path_prefix"},
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"r2","name":"x","name":"y","config":{}}`}, 400, "invalid", "name"},
		{req{method: "POST", path: "/v1/integrations", token: tok, body: `{"provider":"r2","name":"x","config":{"bucket":"b"}}`}, 400, "invalid", "config.accessKeyId"},
		{req{method: "PATCH", path: "/v1/integrations/" + id, token: tok, body: `{"isActive":"no"}`}, 400, "invalid", "isActive"},
		{req{method: "PATCH", path: "/v1/integrations/" + id, token: tok, body: `{"config":{"PathPrefix":"x/"}}`}, 400, "invalid", "config.PathPrefix"},
		{req{method: "PATCH", path: "/v1/integrations/" + id, token: tok, body: `{"config":"x"}`}, 400, "invalid", "config"},
		{req{method: "PATCH", path: "/v1/integrations/" + id, token: tok, body: `{"version":99,"name":"x"}`}, 409, "conflict", ""},
		{req{method: "POST", path: "/v1/renders", token: tok, body: `{"destinations":[{"integrationId":"` + id + `","provider":"r2","path_prefix":"x/"}]}`}, 400, "invalid", "destinations[0].path_prefix"},
		{req{method: "POST", path: "/v1/renders", token: tok, body: `{"destinations":[{"integrationId":"` + id + `","provider":"r2","PathPrefix":"x/"}]}`}, 400, "invalid", "destinations[0].PathPrefix"},
		{req{method: "POST", path: "/v1/renders", token: tok, body: `{"Destinations":[]}`}, 400, "invalid", "Destinations"},
		{req{method: "POST", path: "/v1/renders", token: tok, body: `{"destinations":[{"integrationId":"` + id + `","provider":"s3"}]}`}, 400, "invalid", "destinations[0].provider"},
		{req{method: "POST", path: "/v1/renders", token: tok, body: `{"destinations":{}}`}, 400, "invalid", "destinations"},
		// wrong IDs and another workspace's: 404 not_found; as a render's destination, a 400 whose
		// field has the code not_found (the library's table: a body field, not the request target)
		{req{method: "GET", path: "/v1/integrations/nope", token: tok}, 404, "not_found", ""},
		{req{method: "GET", path: "/v1/integrations/" + id, token: "dev-ws2"}, 404, "not_found", ""},
		{req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws2", body: `{"name":"x"}`}, 404, "not_found", ""},
		{req{method: "DELETE", path: "/v1/integrations/" + id, token: "dev-ws2"}, 404, "not_found", ""},
		{req{method: "POST", path: "/v1/integrations/" + id + "/test", token: "dev-ws2"}, 404, "not_found", ""},
		{req{method: "GET", path: "/v1/destination", token: "dev-ws2"}, 404, "not_found", ""},
		{req{method: "POST", path: "/v1/renders", token: "dev-ws2", body: `{"destinations":[{"integrationId":"` + id + `","provider":"r2"}]}`}, 400, "invalid", "destinations[0].integrationId"},
		{req{method: "POST", path: "/v1/renders/resolve", token: "dev-ws2", body: `{"destinations":[{"integrationId":"` + id + `","provider":"r2"}]}`}, 400, "invalid", "destinations[0].integrationId"},
		{req{method: "GET", path: "/v1/renders/" + rid, token: "dev-ws2"}, 404, "not_found", ""},
		{req{method: "GET", path: "/v1/renders/nope", token: tok}, 404, "not_found", ""},
		{req{method: "POST", path: "/v1/renders/" + rid + "/redeliver", token: "dev-ws2"}, 404, "not_found", ""},
		// an API key not linked to a workspace
		{req{method: "GET", path: "/v1/integrations", token: "key-unlinked"}, 403, "no_workspace", ""},
		{req{method: "POST", path: "/v1/integrations", token: "key-unlinked", body: docCreate}, 403, "no_workspace", ""},
		{req{method: "POST", path: "/v1/renders", token: "key-unlinked", body: `{"destinations":[{"integrationId":"` + id + `","provider":"r2"}]}`}, 403, "no_workspace", ""},
		{req{method: "GET", path: "/v1/integrations/drive/auth-url", token: "key-unlinked"}, 403, "no_workspace", ""},
		// missing auth on the body-less endpoints
		{req{method: "GET", path: "/v1/integrations"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/integrations/" + id}, 401, "unauthenticated", ""},
		{req{method: "DELETE", path: "/v1/integrations/" + id}, 401, "unauthenticated", ""},
		{req{method: "POST", path: "/v1/integrations/" + id + "/test"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/integrations/drive/auth-url"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/integrations/drive/callback?state=x&code=y"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/destination"}, 401, "unauthenticated", ""},
		{req{method: "DELETE", path: "/v1/destination"}, 401, "unauthenticated", ""},
		{req{method: "POST", path: "/v1/destination/test"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/renders/" + rid}, 401, "unauthenticated", ""},
		{req{method: "POST", path: "/v1/renders/" + rid + "/redeliver"}, 401, "unauthenticated", ""},
		{req{method: "GET", path: "/v1/integrations", token: "not-a-token"}, 401, "unauthenticated", ""},
		// bad query parameters
		{req{method: "GET", path: "/v1/integrations?limit=0", token: tok}, 400, "invalid", "limit"},
		{req{method: "GET", path: "/v1/integrations?limit=abc", token: tok}, 400, "invalid", "limit"},
		{req{method: "GET", path: "/v1/integrations?cursor=%21%21", token: tok}, 400, "invalid", "cursor"},
		// the router's own answers
		{req{method: "GET", path: "/v1/nope", token: tok}, 404, "not_found", ""},
		{req{method: "PUT", path: "/v1/integrations", token: tok}, 405, "method_not_allowed", ""},
	} {
		r := c.r
		r.bad = true
		ex := ts.do(r, c.status, c.code)
		if c.field != "" && ex.field(c.field) == "" {
			t.Errorf("%s %s: no error for field %s: %s", r.method, r.path, c.field, ex.Body)
		}
		if c.status == 401 && ex.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", r.method, r.path)
		}
		if c.status == 405 && ex.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", r.method, r.path)
		}
	}
	// every problem of a render's destinations at once, indexed
	ex := ts.do(req{method: "POST", path: "/v1/renders", token: tok, bad: true, body: `{"destinations":[` +
		`{"integrationId":"` + id + `","provider":"s3"},{"integrationId":"nope","provider":"r2"},` +
		`{"integrationId":"` + id + `","provider":"r2","pathPrefix":"../x"},{"integrationId":"` + id + `","provider":"r2","path_prefix":"x"}]}`}, 400, "invalid")
	for _, f := range []string{"destinations[0].provider", "destinations[1].integrationId", "destinations[2].pathPrefix", "destinations[3].path_prefix"} {
		if ex.field(f) == "" {
			t.Errorf("render with four bad destinations: %s not reported: %s", f, ex.Body)
		}
	}
	ex = ts.do(req{method: "POST", path: "/v1/integrations", token: "key-unlinked", body: docCreate, bad: true}, 403, "no_workspace")
	if msg := ex.JSON()["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "not linked to a workspace") {
		t.Errorf("no_workspace message: %q", msg)
	}
	if n := len(ts.s.renders.m); n != 1 {
		t.Errorf("refused renders were created: %d renders", n)
	}
	_ = strconv.Itoa
}
