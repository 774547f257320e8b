package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// browser starts headless Chromium (Debian's chromium) with a fresh profile, or skips with one
// line (fails under CI=true) when it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium not installed (scripts/chromium.sh installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// artifacts is where screenshots go: $OUTPUTS_ARTIFACTS/<test>, else the test's temp dir.
func artifacts(t *testing.T) string {
	dir := t.TempDir()
	if a := os.Getenv("OUTPUTS_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestIntegrationsPage drives Account > Integrations in real headless Chromium: create an S3
// integration against versitygw, test it, make it default, see a failing test's message and a
// field's error next to it, connect Google Drive through the OAuth fake; screenshots are kept.
func TestIntegrationsPage(t *testing.T) {
	srv := emulator.NeedS3(t)
	bucket := srv.Bucket(t).Bucket
	ts, _ := driveServer(t)
	ctx := browser(t)
	shots := artifacts(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot("failed-" + strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			shot("failed-text")
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("text of %s at %s: %v\n%.3000s", sel, loc, err, html)
		}
		return s
	}
	notice := func() string { return text("#notice") }
	// click presses a button that navigates, and waits for the next page's notice (the old one
	// is removed first, so the wait cannot match the page being left).
	click := func(what, sel string) {
		t.Helper()
		do(what, chromedp.Evaluate[chromedp.Void](`document.getElementById("notice")?.remove()`),
			chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	}
	create := func(name, secret string) {
		t.Helper()
		do("fill "+name,
			chromedp.SetValue(chromedp.CSS("#new-s3-provider"), "s3"),
			chromedp.SetValue(chromedp.CSS("#new-s3-name"), name),
			chromedp.SetValue(chromedp.CSS("#new-s3-bucket"), bucket),
			chromedp.SetValue(chromedp.CSS("#new-s3-accessKeyId"), srv.AccessKey),
			chromedp.SetValue(chromedp.CSS("#new-s3-secretAccessKey"), secret),
			chromedp.SetValue(chromedp.CSS("#new-s3-endpoint"), srv.Endpoint),
			chromedp.SetValue(chromedp.CSS("#new-s3-region"), srv.Region))
		click("create "+name, "#new-s3-submit")
	}
	row := func(name string) string { return `tr[data-name="` + name + `"]` }

	do("sign in", chromedp.Navigate(ts.URL+"/account/signin?as=dev-ws1"), chromedp.WaitVisible(chromedp.CSS("#connect-drive")))
	shot("1-empty")

	create("Local S3", srv.SecretKey)
	if n := notice(); n != "Created Local S3." {
		t.Errorf("notice after create: %q", n)
	}
	click("test", `button[aria-label="Test Local S3"]`)
	if n := notice(); !strings.HasPrefix(n, "Test: ok") {
		t.Errorf("test notice: %q", n)
	}
	if lt := text(row("Local S3") + " .last-test"); !strings.HasPrefix(lt, "ok") {
		t.Errorf("last test: %q", lt)
	}
	click("set default", `button[aria-label="Set Local S3 as default"]`)
	if d := text(row("Local S3") + " .default"); d != "yes" {
		t.Errorf("default after Set default: %q", d)
	}
	shot("2-created-tested-default")

	create("Wrong secret", "not-the-secret-key-0000")
	click("failing test", `button[aria-label="Test Wrong secret"]`)
	if lt := text(row("Wrong secret") + " .last-test"); !strings.Contains(lt, "invalid_credentials") {
		t.Errorf("failing test's message: %q", lt)
	}
	shot("3-failing-test")

	// A form with a missing bucket: the error next to its field, the other values kept.
	do("invalid form",
		chromedp.SetValue(chromedp.CSS("#new-s3-name"), "No bucket"),
		chromedp.SetValue(chromedp.CSS("#new-s3-accessKeyId"), "AKIA"),
		chromedp.SetValue(chromedp.CSS("#new-s3-secretAccessKey"), "some-secret-value"),
		chromedp.Click(chromedp.CSS("#new-s3-submit")),
		chromedp.WaitVisible(chromedp.CSS("#new-s3-bucket-error")))
	if e := text("#new-s3-bucket-error"); e == "" {
		t.Error("no error next to the bucket field")
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#new-s3-name").value`)); v != "No bucket" {
		t.Errorf("name not kept: %q", v)
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "some-secret-value") || strings.Contains(html, srv.SecretKey) {
		t.Error("the page shows a secret")
	}
	shot("4-field-error")

	// Edit shows the secret as its masked hint only.
	do("list", chromedp.Navigate(ts.URL+"/account/integrations"), chromedp.WaitVisible(chromedp.CSS("#connect-drive")))
	do("edit", chromedp.Click(chromedp.CSS(row("Local S3")+` a`)), chromedp.WaitVisible(chromedp.CSS("#edit-secretAccessKey")))
	ph, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#edit-secretAccessKey").placeholder + "|" + document.querySelector("#edit-secretAccessKey").value`))
	if !strings.HasPrefix(ph, "••••") || !strings.HasSuffix(ph, "|") {
		t.Errorf("secret field in the edit form: %q", ph)
	}
	do("region", chromedp.SetValue(chromedp.CSS("#edit-region"), "us-east-1"))
	click("save", "#edit-submit")
	click("test after edit", `button[aria-label="Test Local S3"]`)
	if n := notice(); !strings.HasPrefix(n, "Test: ok") {
		t.Errorf("the stored secret was not kept by an edit: %q", n)
	}

	// Connect Google Drive: the consent screen (the fake answers at once) and back.
	click("connect drive", "#connect-drive")
	if n := notice(); n != "Connected Google Drive." {
		t.Errorf("after Connect Google Drive: %q", n)
	}
	if p := text(row("Google Drive") + " td"); p != "drive" {
		t.Errorf("drive row: %q", p)
	}
	shot("5-drive-connected")

	click("deactivate", `button[aria-label="Deactivate Local S3"]`)
	if a, d := text(row("Local S3")+" .active"), text(row("Local S3")+" .default"); a != "no" || d != "no" {
		t.Errorf("after Deactivate: active %q default %q", a, d)
	}
	click("delete", `button[aria-label="Delete Wrong secret"]`)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-name="Wrong secret"]').length`)); n != 0 {
		t.Error("Delete left the row")
	}
	shot("6-final")
	t.Logf("screenshots in %s", shots)
}

// TestPageCSRF: every form POST needs the session's CSRF token (and a same-origin Origin).
func TestPageCSRF(t *testing.T) {
	ts := start(t, config{})
	post := func(path string, form url.Values, session, origin string) int {
		r, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if session != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: session})
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		route, _, err := ts.router.FindRoute(r)
		if err != nil || route.Operation.Responses.Status(resp.StatusCode) == nil {
			t.Errorf("POST %s: %d is not in openapi.yaml (%v)", path, resp.StatusCode, err)
		}
		return resp.StatusCode
	}
	form := url.Values{"provider": {"r2"}, "name": {"x"}}
	good := ts.s.csrfToken("dev-ws1")
	for _, c := range []struct {
		name, session, token, origin string
		want                         int
	}{
		{"no token", "dev-ws1", "", "", 403},
		{"another session's token", "dev-ws1", ts.s.csrfToken("dev-ws2"), "", 403},
		{"cross-site origin", "dev-ws1", good, "https://evil.example", 403},
		{"not signed in", "", good, "", 303},
		{"valid", "dev-ws1", good, ts.URL, 400}, // reaches validation: the form is incomplete
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if c.token != "" {
			f.Set("csrf", c.token)
		}
		for _, path := range []string{"/account/integrations", "/account/integrations/x/delete", "/account/integrations/drive"} {
			want := c.want
			if c.want == 400 && path != "/account/integrations" {
				want = 303
			}
			if got := post(path, f, c.session, c.origin); got != want {
				t.Errorf("%s: POST %s = %d, want %d", c.name, path, got, want)
			}
		}
	}
}
