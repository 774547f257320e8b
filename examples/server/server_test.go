package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func TestRESTAPI(t *testing.T) {
	kr, _ := crypto.NewInsecureDevelopmentKeyring()
	svc, err := outputs.New(outputs.Options{Store: memstore.New(), Keyring: kr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(newHandler(svc, devAuth, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s %s leaks the secret: %s", method, path, b)
		}
		return resp.StatusCode, string(b)
	}
	create := `{"provider":"r2","name":"Marketing R2","isActive":true,"isDefault":true,"config":{
		"endpoint":"https://acct.r2.cloudflarestorage.com","region":"auto","bucket":"ilovevideoeditor-outputs",
		"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"` + secret + `","publicUrl":"https://cdn.example.com","pathPrefix":"renders/"}}`
	st, body := call("POST", "/v1/integrations", "dev-ws1", create)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, body)
	}
	var v struct {
		ID     string         `json:"id"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID == "" || v.Config["secretAccessKey"] != "••••EKEY" {
		t.Fatalf("create body: %s", body)
	}
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/v1/integrations", "", "", 401},
		{"GET", "/v1/integrations", "dev-ws1", "", 200},
		{"GET", "/v1/integrations/" + v.ID, "dev-ws1", "", 200},
		{"GET", "/v1/integrations/" + v.ID, "dev-ws2", "", 404},
		{"PATCH", "/v1/integrations/" + v.ID, "dev-ws1", `{"name":"Renamed"}`, 200},
		{"PATCH", "/v1/integrations/" + v.ID, "dev-ws1", `{"version":1,"name":"Stale"}`, 409},
		{"PATCH", "/v1/integrations/" + v.ID, "dev-ws1", `{"config":{"pathPrefix":"../x"}}`, 400},
		{"POST", "/v1/integrations", "dev-ws1", `{"provider":"ftp"}`, 400},
		{"POST", "/v1/integrations", "key-unlinked", create, 403},
		{"POST", "/v1/integrations/" + v.ID + "/test", "dev-ws1", "", 501},
		{"GET", "/v1/destination", "dev-ws1", "", 200},
		{"POST", "/v1/renders/resolve", "dev-ws1", `{"destinations":[{"integrationId":"` + v.ID + `","provider":"r2","pathPrefix":"campaigns/summer-2026/"}]}`, 200},
		{"POST", "/v1/renders/resolve", "dev-ws2", `{"destinations":[{"integrationId":"` + v.ID + `","provider":"r2"}]}`, 400},
		{"GET", "/v1/integrations/drive/auth-url", "dev-ws1", "", 501},
		{"GET", "/v1/integrations/drive/callback?state=s&code=c", "", "", 401}, // the callback is authenticated
		{"DELETE", "/v1/destination", "dev-ws1", "", 204},
		{"GET", "/v1/destination", "dev-ws1", "", 404},
		{"PUT", "/v1/destination", "dev-ws1", create, 200},
	} {
		if st, body := call(c.method, c.path, c.token, c.body); st != c.want {
			t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, c.token, st, c.want, body)
		}
	}
}

// failingKeyring cannot seal: a server fault.
type failingKeyring struct{ outputs.Keyring }

func (failingKeyring) SealSecret(context.Context, *destination.Integration, destination.SecretField, string) (destination.Sealed, error) {
	return destination.Sealed{}, errors.New("kms unavailable")
}

// TestServerFaultIs500: a server fault (sealing fails) is a 500 "internal", never a 400.
func TestServerFaultIs500(t *testing.T) {
	kr, _ := crypto.NewInsecureDevelopmentKeyring()
	svc, err := outputs.New(outputs.Options{Store: memstore.New(), Keyring: failingKeyring{kr}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(newHandler(svc, devAuth, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/v1/integrations", strings.NewReader(`{"provider":"r2","name":"R2","config":{
		"endpoint":"https://acct.r2.cloudflarestorage.com","bucket":"outputs","accessKeyId":"AKIAEXAMPLE","secretAccessKey":"`+secret+`"}}`))
	req.Header.Set("Authorization", "Bearer dev-ws1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), `"internal"`) || strings.Contains(string(b), "kms") {
		t.Fatalf("sealing failure: %d %s", resp.StatusCode, b)
	}
}
