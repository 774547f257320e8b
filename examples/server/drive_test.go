package main

import (
	"bufio"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// browse plays the user's browser with curl -L: it opens u with the session cookie and follows
// every redirect (to the fake Google and back to the callback); the final answer is validated
// against the document like every other.
func (ts *testServer) browse(u, session string) *exchange {
	ts.t.Helper()
	out := filepath.Join(ts.t.TempDir(), "body")
	hdrs := filepath.Join(ts.t.TempDir(), "headers")
	args := []string{"-sS", "-L", "-o", out, "-D", hdrs, "-w", "%{http_code} %{url_effective}", u}
	if session != "" {
		args = append(args, "-b", "session="+session)
	}
	res, err := exec.Command("curl", args...).Output()
	if err != nil {
		ts.t.Fatalf("curl -L %s: %v", u, err)
	}
	code, final, _ := strings.Cut(string(res), " ")
	body, _ := os.ReadFile(out)
	st, _ := strconv.Atoi(code)
	ex := &exchange{Status: st, Header: lastHeaders(ts.t, hdrs), Body: body}
	fu, _ := url.Parse(final)
	if !strings.HasPrefix(final, ts.URL) || fu.Path != "/v1/integrations/drive/callback" {
		ts.t.Fatalf("the browser ended at %s, not the callback", final)
	}
	ts.validate(req{method: "GET", path: fu.RequestURI(), token: ""}, ex)
	return ex
}

// lastHeaders parses the headers of the last answer of a curl -D dump (one block per redirect).
func lastHeaders(t *testing.T, name string) http.Header {
	dump, _ := os.ReadFile(name)
	blocks := strings.Split(strings.TrimSpace(string(dump)), "\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(blocks[len(blocks)-1]+"\r\n\r\n")), nil)
	if err != nil {
		t.Fatalf("headers %q: %v", dump, err)
	}
	return resp.Header
}

func driveServer(t *testing.T) (*testServer, *drivetest.Server) {
	fake := drivetest.NewServer(drivetest.Options{RequireAuth: true})
	t.Cleanup(fake.Close)
	ep := fake.OAuthEndpoint()
	ts := start(t, config{AllowLocal: true, GoogleClientID: "fake-client-id", GoogleClientSecret: "fake-client-secret",
		GoogleAuthURL: ep.AuthURL, GoogleTokenURL: ep.TokenURL, DriveAPI: fake.Endpoint()})
	return ts, fake
}

// TestDriveFlow connects Google Drive through the OAuth fake with the real curl, browser
// redirects included: the callback completes only for the user and workspace that started the
// flow; the connected integration tests and receives a render.
func TestDriveFlow(t *testing.T) {
	ts, fake := driveServer(t)
	authURL := func(tok string) string {
		u, _ := ts.do(req{method: "GET", path: "/v1/integrations/drive/auth-url", token: tok}, 200, "").JSON()["url"].(string)
		if !strings.HasPrefix(u, fake.OAuthEndpoint().AuthURL) {
			t.Fatalf("auth url %q", u)
		}
		return u
	}

	// Another user of the workspace, another workspace, nobody signed in: refused, nothing stored.
	ts.browse(authURL("dev-ws1"), "dev-ws1.mallory").expectCode(t, 403, "forbidden")
	ts.browse(authURL("dev-ws1"), "dev-ws2").expectCode(t, 403, "forbidden")
	ts.browse(authURL("dev-ws1"), "").expectCode(t, 401, "unauthenticated")
	for _, tok := range []string{"dev-ws1", "dev-ws2"} {
		if items := ts.do(req{method: "GET", path: "/v1/integrations", token: tok}, 200, "").JSON()["integrations"].([]any); len(items) != 0 {
			t.Fatalf("a refused callback stored an integration in %s: %v", tok, items)
		}
	}

	// The user who started it: connected, even with a link another user opened first (the
	// refusal does not spend the state).
	u := authURL("dev-ws1")
	ts.browse(u, "dev-ws1.mallory").expectCode(t, 403, "forbidden")
	ex := ts.browse(u, "dev-ws1")
	ex.expectCode(t, 200, "")
	v := ex.JSON()
	checkFields(t, "drive", v, map[string]any{"provider": "drive", "name": "Google Drive", "isActive": true, "workspaceId": "ws1"})
	if strings.Contains(string(ex.Body), "1//") {
		t.Fatalf("the refresh token leaks: %s", ex.Body)
	}
	id := v["id"].(string)
	ts.browse(u, "dev-ws1").expectCode(t, 400, "authorization_failed") // the state is single-use

	// Denied consent.
	fake.SetConsent(drivetest.Consent{Deny: true})
	ts.browse(authURL("dev-ws1"), "dev-ws1").expectCode(t, 400, "authorization_failed")
	fake.SetConsent(drivetest.Consent{})

	checkFields(t, "drive test", ts.do(req{method: "POST", path: "/v1/integrations/" + id + "/test", token: "dev-ws1"}, 200, "").JSON(), map[string]any{"ok": true})
	rid := ts.do(req{method: "POST", path: "/v1/renders", token: "dev-ws1", body: `{"destinations":[{"integrationId":"` + id + `","provider":"drive","pathPrefix":"promo/"}]}`}, 201, "").JSON()["id"].(string)
	o := ts.waitRender("dev-ws1", rid).JSON()["outputs"].([]any)[0].(map[string]any)
	checkFields(t, "drive output", o, map[string]any{"provider": "drive", "status": "completed", "outputKey": "promo/render.mp4", "outputSizeBytes": float64(len(ts.s.sample))})

	// Reconnecting keeps the one integration.
	ts.browse(authURL("dev-ws1"), "dev-ws1").expectCode(t, 200, "")
	if items := ts.do(req{method: "GET", path: "/v1/integrations", token: "dev-ws1"}, 200, "").JSON()["integrations"].([]any); len(items) != 1 {
		t.Errorf("after reconnecting: %d integrations", len(items))
	}
}

func (e *exchange) expectCode(t *testing.T, status int, code string) {
	t.Helper()
	if e.Status != status || (code != "" && e.errCode() != code) {
		t.Errorf("callback: %d %s, want %d %s: %s", e.Status, e.errCode(), status, code, e.Body)
	}
}
