package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/internal/pgtest"
)

// TestRequestIDs: X-Request-Id in and out, and in every log line of the request (the library's too).
func TestRequestIDs(t *testing.T) {
	ts := start(t, config{})
	ex := ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: docCreate, headers: []string{"X-Request-Id: trace-abc.123"}}, 201, "")
	if got := ex.Header.Get("X-Request-Id"); got != "trace-abc.123" {
		t.Errorf("echoed request ID %q", got)
	}
	ex = ts.do(req{method: "GET", path: "/v1/integrations", token: "dev-ws1", headers: []string{"X-Request-Id: bad id\twith spaces"}}, 200, "")
	if got := ex.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("malformed request ID kept: %q", got)
	}
	var sawLibrary bool
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(line, "trace-abc.123") && strings.Contains(line, "integration created") {
			sawLibrary = true
		}
		if strings.Contains(line, "msg=request ") && !strings.Contains(line, "request_id=") {
			t.Errorf("access log line without request ID: %s", line)
		}
	}
	if !sawLibrary {
		t.Errorf("the library's log line of the request does not carry its ID:\n%s", ts.logs.String())
	}
}

// TestPagination: 7 integrations in pages of 3, in creation order, the cursor opaque and stable
// across a deletion.
func TestPagination(t *testing.T) {
	ts := start(t, config{})
	var ids []string
	for i := range 7 {
		body := strings.Replace(docCreate, "Marketing R2", fmt.Sprintf("R2 %d", i), 1)
		ids = append(ids, ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: body}, 201, "").JSON()["id"].(string))
	}
	var got []string
	path := "/v1/integrations?limit=3"
	for pages := 0; path != ""; pages++ {
		ex := ts.do(req{method: "GET", path: path, token: "dev-ws1"}, 200, "")
		var p struct {
			Integrations []struct{ ID string }
			NextCursor   string
		}
		_ = json.Unmarshal(ex.Body, &p)
		if len(p.Integrations) > 3 || pages > 3 {
			t.Fatalf("page %d: %d items", pages, len(p.Integrations))
		}
		for _, in := range p.Integrations {
			got = append(got, in.ID)
		}
		if pages == 0 { // delete an item of the first page: the next pages do not shift
			ts.do(req{method: "DELETE", path: "/v1/integrations/" + ids[1], token: "dev-ws1"}, 204, "")
		}
		path = ""
		if p.NextCursor != "" {
			path = "/v1/integrations?limit=3&cursor=" + p.NextCursor
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("pages gave %v, want %v", got, ids)
	}
	if ex := ts.do(req{method: "GET", path: "/v1/integrations", token: "dev-ws2"}, 200, ""); strings.Contains(string(ex.Body), ids[0]) {
		t.Error("another workspace's list shows ws1's integrations")
	}
}

// TestMergePatch: PATCH config is an RFC 7396 merge patch; secrets stay write-only.
func TestMergePatch(t *testing.T) {
	ts := start(t, config{})
	id := ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: docCreate}, 201, "").JSON()["id"].(string)
	ex := ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"pathPrefix":"videos/"}}`}, 200, "")
	noSecret(t, ex)
	checkFields(t, "partial config", ex.JSON(), map[string]any{"config.region": "auto", "config.bucket": "ilovevideoeditor-outputs",
		"config.endpoint": "https://acct.r2.cloudflarestorage.com", "config.secretAccessKey": "••••EKEY", "config.pathPrefix": "videos/", "version": float64(2)})
	// The library's rule: a change of where the secret goes needs the secret again.
	ex = ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"region":"us-east-1"}}`}, 400, "invalid")
	if ex.field("config.secretAccessKey") != "secret_required" {
		t.Errorf("region without the secret: %s", ex.Body)
	}
	ex = ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"region":"us-east-1","secretAccessKey":"` + secret + `"}}`}, 200, "")
	noSecret(t, ex)
	checkFields(t, "region with the secret", ex.JSON(), map[string]any{"config.region": "us-east-1", "config.pathPrefix": "videos/", "config.bucket": "ilovevideoeditor-outputs"})
	ex = ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"publicUrl":null,"secretAccessKey":"newsecretvalueNEWK"}}`}, 200, "")
	noSecret(t, ex)
	cfg := ex.JSON()["config"].(map[string]any)
	if _, ok := cfg["publicUrl"]; ok || cfg["secretAccessKey"] != "••••NEWK" || cfg["region"] != "us-east-1" {
		t.Errorf("null removes, a new secret replaces: %v", cfg)
	}
	ex = ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"secretAccessKey":null}}`}, 200, "")
	if ex.JSON()["config"].(map[string]any)["secretAccessKey"] != "••••NEWK" {
		t.Errorf("a null secret is kept: %s", ex.Body)
	}
	ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"config":{"bucket":null}}`}, 400, "invalid")
	// An object where a value belongs is refused, however deep (a hostile tenant's 60 KB patch).
	deep := `{"config":{"bucket":` + strings.Repeat(`{"a":`, 9998) + "1" + strings.Repeat("}", 9998) + `}}`
	if ex := ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: deep, bad: true}, 400, "invalid"); ex.field("config.bucket") != "invalid" {
		t.Errorf("a nested bucket: %.300s", ex.Body)
	}
}

// TestDeactivateDefault: deactivating the default is refused (409 is_default) unless the same
// patch gives up the default; a non-default deactivates freely.
func TestDeactivateDefault(t *testing.T) {
	ts := start(t, config{})
	id := ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: docCreate}, 201, "").JSON()["id"].(string)
	ex := ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"isActive":false}`}, 409, "is_default")
	if ex.field("isActive") != "is_default" {
		t.Errorf("refusal names isActive: %s", ex.Body)
	}
	ts.do(req{method: "GET", path: "/v1/destination", token: "dev-ws1"}, 200, "")
	ex = ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"isActive":false,"isDefault":false}`}, 200, "")
	checkFields(t, "deactivated", ex.JSON(), map[string]any{"isActive": false, "isDefault": false})
	ts.do(req{method: "GET", path: "/v1/destination", token: "dev-ws1"}, 404, "not_found")
	ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: "dev-ws1", body: `{"isDefault":true}`}, 400, "invalid")
}

// TestServiceAccountKey: the GCS key as a JSON string or as the object itself, up to a 70 KB key.
func TestServiceAccountKey(t *testing.T) {
	ts := start(t, config{})
	key := map[string]string{"type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
		"private_key":  "-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("QUJD\n", 14000) + "-----END PRIVATE KEY-----\n",
		"client_email": "svc@proj-1.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}
	obj, _ := json.Marshal(key)
	if len(obj) < 70_000 {
		t.Fatalf("key is %d bytes", len(obj))
	}
	str, _ := json.Marshal(string(obj))
	for name, v := range map[string]string{"object": string(obj), "string": string(str)} {
		body := `{"provider":"gcs","name":"GCS ` + name + `","config":{"bucket":"my-bucket","gcsServiceAccountJson":` + v + `}}`
		ex := ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: body}, 201, "")
		checkFields(t, name, ex.JSON(), map[string]any{"config.gcsProjectId": "proj-1", "config.bucket": "my-bucket"})
		if strings.Contains(string(ex.Body), "QUJD") {
			t.Fatalf("the key leaks: %.300s", ex.Body)
		}
	}
	ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", bad: true,
		body: `{"provider":"gcs","name":"x","config":{"bucket":"my-bucket","gcsServiceAccountJson":{"type":"user"}}}`}, 400, "invalid")
}

// TestStalledBody: a client that stops sending its body is cut off by the read timeout.
func TestStalledBody(t *testing.T) {
	ts := start(t, config{ReadHeaderTimeout: time.Second, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 5 * time.Second, IdleTimeout: time.Second})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/integrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dev-ws1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"provider\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server still holds the stalled connection after 5 s")
			}
			return // closed by the server
		}
	}
}

// TestStoreFlag: -store sqlite:PATH keeps integrations across restarts; postgres:DSN when the
// test PostgreSQL runs.
func TestStoreFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outputs.db")
	id := start(t, config{Store: "sqlite:" + path}).do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: docCreate}, 201, "").JSON()["id"].(string)
	checkFields(t, "after restart", start(t, config{Store: "sqlite:" + path}).do(req{method: "GET", path: "/v1/integrations/" + id, token: "dev-ws1"}, 200, "").JSON(),
		map[string]any{"id": id, "name": "Marketing R2"})
	if _, _, err := openStore(context.Background(), "mysql:x"); err == nil {
		t.Error("an unknown store kind is accepted")
	}
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t, "server")
		ws := fmt.Sprintf("dev-ws%d", time.Now().UnixNano())
		ts := start(t, config{Store: "postgres:" + dsn})
		id := ts.do(req{method: "POST", path: "/v1/integrations", token: ws, body: docCreate}, 201, "").JSON()["id"].(string)
		ts.do(req{method: "GET", path: "/v1/integrations/" + id, token: ws}, 200, "")
		ts.do(req{method: "DELETE", path: "/v1/integrations/" + id, token: ws}, 204, "")
	})
}
