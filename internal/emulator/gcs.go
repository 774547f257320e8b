package emulator

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// fake-gcs-server does not authenticate, so the GCS tests get their credentials checked by a
// token endpoint of their own: it speaks Google's service-account flow (RFC 7523: a JWT signed
// with the key's private key, POSTed to the key's token_uri) and accepts a JWT only when it is
// signed by a key issued through ServiceAccountJSON for its issuer. A key whose token_uri points
// here must be admitted by gcs.Options.AllowedTokenHosts (TokenHost).
type tokenServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PublicKey // client_email → public key
}

var (
	tokensOnce sync.Once
	tokens     *tokenServer
)

func tokenSrv() *tokenServer {
	tokensOnce.Do(func() {
		tokens = &tokenServer{keys: map[string]*rsa.PublicKey{}}
		tokens.srv = httptest.NewServer(http.HandlerFunc(tokens.serve))
	})
	return tokens
}

// TokenHost returns the host:port of the test token endpoint, for gcs.Options.AllowedTokenHosts.
func TokenHost() string {
	u, _ := url.Parse(tokenSrv().srv.URL)
	return u.Host
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, desc)
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("unsupported request")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("malformed JWT")
		return
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var claims struct {
		Iss string `json:"iss"`
	}
	if err1 != nil || err2 != nil || json.Unmarshal(payload, &claims) != nil {
		fail("malformed JWT")
		return
	}
	ts.mu.Lock()
	pub := ts.keys[claims.Iss]
	ts.mu.Unlock()
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if pub == nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
		fail("Invalid JWT Signature.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"test-token-%s","token_type":"Bearer","expires_in":3600}`, Name(""))
}

// ServiceAccountJSON returns a fresh service-account key for email whose token_uri is the test
// token endpoint. With register false the endpoint does not know the key: every token request
// fails with invalid_grant, as Google answers for a deleted or wrong key.
func ServiceAccountJSON(t testing.TB, email string, register bool) string {
	t.Helper()
	ts := tokenSrv()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if register {
		ts.mu.Lock()
		ts.keys[email] = &key.PublicKey
		ts.mu.Unlock()
	}
	sa := map[string]string{
		"type": "service_account", "project_id": "outputs-test", "private_key_id": Name("k"),
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1234567890", "token_uri": ts.srv.URL + "/token",
	}
	b, _ := json.Marshal(sa)
	return string(b)
}

// NeedGCS returns the endpoint of the running fake-gcs-server, or skips (fails under CI=true).
func NeedGCS(t testing.TB) string {
	t.Helper()
	return testenv.Need(t, "OUTPUTS_TEST_GCS_ENDPOINT", "fake-gcs-server (GCS)")
}

// GCS makes a fresh bucket on fake-gcs-server and returns the config of a "gcs" integration for
// it: endpoint override, and a registered service-account key whose token_uri is TokenHost.
func GCS(t testing.TB) destination.Config {
	t.Helper()
	return gcsBucket(t, NeedGCS(t), http.DefaultClient)
}

// gcsBucket is GCS on the fake-gcs-server at endpoint, reached through hc.
func gcsBucket(t testing.TB, endpoint string, hc *http.Client) destination.Config {
	t.Helper()
	name := Name("outputs-")
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err := hc.Post(endpoint+"/storage/v1/b?project=outputs-test", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("create bucket on fake-gcs-server: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket on fake-gcs-server: %s", resp.Status)
	}
	t.Cleanup(func() { removeGCSBucket(hc, endpoint, name) })
	email := Name("sa-") + "@outputs-test.iam.gserviceaccount.com"
	return destination.Config{Bucket: name, GCSServiceAccountJSON: ServiceAccountJSON(t, email, true),
		GCSProjectID: "outputs-test", Endpoint: endpoint}
}

// removeGCSBucket deletes the bucket's objects (fake-gcs-server keeps them in memory) and the
// bucket, best effort.
func removeGCSBucket(hc *http.Client, endpoint, name string) {
	del := func(u string) {
		req, _ := http.NewRequest(http.MethodDelete, u, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	resp, err := hc.Get(endpoint + "/storage/v1/b/" + name + "/o")
	if err == nil {
		var list struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		for _, it := range list.Items {
			del(endpoint + "/storage/v1/b/" + name + "/o/" + url.PathEscape(it.Name))
		}
	}
	del(endpoint + "/storage/v1/b/" + name)
}
