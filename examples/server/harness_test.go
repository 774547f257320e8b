package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// testServer is the server on a loopback port, driven by the real curl binary; every exchange is
// validated against openapi.yaml.
type testServer struct {
	t      *testing.T
	URL    string
	s      *server
	router routers.Router
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

var (
	docOnce sync.Once
	doc     *openapi3.T
	docErr  error
)

func loadDoc(t *testing.T) *openapi3.T {
	docOnce.Do(func() {
		doc, docErr = openapi3.NewLoader().LoadFromData(openapiYAML)
		if docErr == nil {
			docErr = doc.Validate(context.Background())
			// Each test's server listens on its own port: match paths whatever the host.
			doc.Servers = openapi3.Servers{{URL: "/"}}
		}
	})
	if docErr != nil {
		t.Fatalf("openapi.yaml: %v", docErr)
	}
	return doc
}

// start runs the server with c (Addr, PublicURL and Sample filled in when empty) until the test ends.
func start(t *testing.T, c config) *testServer {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the e2e suite needs the curl binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + ln.Addr().String()
	}
	if c.Store == "" {
		c.Store = "memory"
	}
	if c.Sample == "" {
		c.Sample = "../../testdata/render.mp4"
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = 5*time.Second, 10*time.Second, 30*time.Second, 30*time.Second
	}
	logs := &syncBuffer{}
	log := slog.New(logHandler{slog.NewTextHandler(logs, nil)})
	s, cleanup, err := newServer(context.Background(), c, log)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := newHTTPServer(c, s.handler())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		cleanup()
	})
	router, err := gorillamux.NewRouter(loadDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{t: t, URL: c.PublicURL, s: s, router: router, logs: logs}
}

// exchange is one curl call and its answer.
type exchange struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (e *exchange) JSON() map[string]any {
	var v map[string]any
	_ = json.Unmarshal(e.Body, &v)
	return v
}

// errCode returns error.code of an error answer.
func (e *exchange) errCode() string {
	er, _ := e.JSON()["error"].(map[string]any)
	s, _ := er["code"].(string)
	return s
}

// field returns the first error.fields entry named name ("" code when absent).
func (e *exchange) field(name string) (code string) {
	er, _ := e.JSON()["error"].(map[string]any)
	fs, _ := er["fields"].([]any)
	for _, f := range fs {
		m, _ := f.(map[string]any)
		if m["field"] == name {
			return m["code"].(string)
		}
	}
	return ""
}

// req describes a curl call: method, path, bearer token ("" for none), JSON body ("" for none),
// extra headers and whether the request itself must conform to the document (bad-input tests
// send requests that do not).
type req struct {
	method, path, token, body string
	headers                   []string
	bad                       bool
}

// curl runs the real curl binary and validates the exchange against the OpenAPI document: the
// request (unless r.bad) and always the response, status included.
func (ts *testServer) curl(r req) *exchange {
	ts.t.Helper()
	args := []string{"-sS", "-i", "--raw", "-X", r.method, ts.URL + r.path, "-H", "Expect:"}
	if r.token != "" {
		args = append(args, "-H", "Authorization: Bearer "+r.token)
	}
	if r.body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", "@-")
	}
	for _, h := range r.headers {
		args = append(args, "-H", h)
	}
	cmd := exec.Command("curl", args...)
	cmd.Stdin = strings.NewReader(r.body)
	out, err := cmd.Output()
	if err != nil {
		ts.t.Fatalf("curl %s %s: %v", r.method, r.path, err)
	}
	hreq, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), hreq)
	if err != nil {
		ts.t.Fatalf("curl %s %s: unreadable answer %q: %v", r.method, r.path, out, err)
	}
	body, _ := io.ReadAll(resp.Body)
	ex := &exchange{Status: resp.StatusCode, Header: resp.Header, Body: body}
	ts.validate(r, ex)
	return ex
}

func (ts *testServer) validate(r req, ex *exchange) {
	ts.t.Helper()
	hreq, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
	if r.body != "" {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+r.token)
	}
	route, params, err := ts.router.FindRoute(hreq)
	if err != nil {
		if ex.Status == http.StatusNotFound || ex.Status == http.StatusMethodNotAllowed {
			ts.checkErrorShape(r, ex) // the router's own answers: not in the document's paths
			return
		}
		ts.t.Errorf("%s %s: not in openapi.yaml: %v", r.method, r.path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: hreq, PathParams: params, Route: route, Options: opts}
	if !r.bad {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			ts.t.Errorf("%s %s: request does not match openapi.yaml: %v", r.method, r.path, err)
		}
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: ex.Status, Header: ex.Header, Body: io.NopCloser(bytes.NewReader(ex.Body)), Options: opts,
	}); err != nil {
		ts.t.Errorf("%s %s: answer %d does not match openapi.yaml: %v\n%s", r.method, r.path, ex.Status, err, ex.Body)
	}
	if ex.Status >= 400 {
		ts.checkErrorShape(r, ex)
	}
}

// checkErrorShape checks the one error shape and the request ID of an error answer.
func (ts *testServer) checkErrorShape(r req, ex *exchange) {
	ts.t.Helper()
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(ex.Body))
	dec.DisallowUnknownFields()
	if ex.Header.Get("Content-Type") != "application/json" || dec.Decode(&e) != nil || e.Error.Code == "" || e.Error.Message == "" {
		ts.t.Errorf("%s %s: %d is not the JSON error shape: %q", r.method, r.path, ex.Status, ex.Body)
	}
	if id := ex.Header.Get("X-Request-Id"); id == "" || e.Error.RequestID != id {
		ts.t.Errorf("%s %s: request ID %q in the header, %q in the body", r.method, r.path, id, e.Error.RequestID)
	}
	if st := codeStatus[e.Error.Code]; st != ex.Status {
		ts.t.Errorf("%s %s: code %s answered %d, the documented mapping says %d", r.method, r.path, e.Error.Code, ex.Status, st)
	}
}

// expect fails the test unless the exchange has status (and, for errors, code).
func (ts *testServer) expect(ex *exchange, r req, status int, code string) {
	ts.t.Helper()
	if ex.Status != status || (code != "" && ex.errCode() != code) {
		ts.t.Errorf("%s %s as %q: %d %s, want %d %s: %s", r.method, r.path, r.token, ex.Status, ex.errCode(), status, code, ex.Body)
	}
}

// do runs r and checks its status and error code.
func (ts *testServer) do(r req, status int, code string) *exchange {
	ts.t.Helper()
	ex := ts.curl(r)
	ts.expect(ex, r, status, code)
	return ex
}

// waitRender polls a render until it is no longer pending.
func (ts *testServer) waitRender(token, id string) *exchange {
	ts.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ex := ts.do(req{method: "GET", path: "/v1/renders/" + id, token: token}, 200, "")
		if ex.JSON()["status"] != renderPending || time.Now().After(deadline) {
			return ex
		}
		time.Sleep(50 * time.Millisecond)
	}
}
