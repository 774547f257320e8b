package emulator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// ProbeCase is one connection test: a change to a working config and the code Test must report.
type ProbeCase struct {
	Name   string
	Mutate func(destination.Config) destination.Config
	Code   string
	// Blocked points the endpoint at http://localhost:<port> (a loopback listener) and leaves
	// the SSRF allow-list empty: the test must fail before any connection is made.
	Blocked bool
}

// StandardProbeCases are the cases every provider family shares: the working config, an
// unreachable endpoint, and an endpoint on 127.0.0.1 without the allow-list.
func StandardProbeCases(t *testing.T) []ProbeCase {
	closed := ClosedEndpoint(t)
	return []ProbeCase{
		{Name: "ok", Code: provider.CodeOK},
		{Name: "unreachable", Code: provider.CodeEndpointUnreachable,
			Mutate: func(c destination.Config) destination.Config { c.Endpoint = closed; return c }},
		{Name: "loopback refused", Code: provider.CodeEndpointUnreachable, Blocked: true},
	}
}

// NewClient returns a provider.Client over drivers that may reach loopback (unless blocked),
// logging at debug level into logs (when non-nil). It is closed when the test ends.
func NewClient(t testing.TB, u destination.Unsealer, opts provider.Options, logs *bytes.Buffer, drivers ...provider.Driver) *provider.Client {
	t.Helper()
	if opts.AllowedNetworks == nil {
		opts.AllowedNetworks = Loopback
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := provider.New(u, opts, drivers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CheckProbes runs Client.Test for each case against an integration of provider p built from
// good, and checks the code, that a message and time are set, that a blocked endpoint saw no
// connection, and that no secret of the config appears in the result or the logs.
func CheckProbes(t *testing.T, p destination.Provider, good destination.Config, cases []ProbeCase, drivers ...provider.Driver) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := good
			if tc.Mutate != nil {
				cfg = tc.Mutate(cfg)
			}
			// The failing cases' upload cleanups retry against an endpoint that refuses them:
			// bound them so the table stays fast.
			opts := provider.Options{CleanupTimeout: time.Second}
			var accepted func() int64
			if tc.Blocked {
				// A host name that resolves to loopback: the guard checks resolved addresses.
				cfg.Endpoint, accepted = Listener(t)
				cfg.Endpoint = strings.Replace(cfg.Endpoint, "127.0.0.1", "localhost", 1)
				opts.AllowedNetworks = []netip.Prefix{}
			}
			var u Unsealer
			in := u.Integration(p, cfg)
			var logs bytes.Buffer
			c := NewClient(t, &u, opts, &logs, drivers...)
			r := c.Test(context.Background(), in)
			if r.Code != tc.Code || r.OK != (tc.Code == provider.CodeOK) {
				t.Fatalf("Test = %+v, want code %s", r, tc.Code)
			}
			if r.Message == "" || r.TestedAt.IsZero() {
				t.Errorf("result lacks message or time: %+v", r)
			}
			if accepted != nil && accepted() != 0 {
				t.Errorf("the SSRF guard let %d connections through to 127.0.0.1", accepted())
			}
			outputs := []string{r.Message, strings.Join(r.Warnings, "\n"), logs.String()}
			if !r.OK {
				// The same failure through Upload: its error and classification are secret-free too.
				_, err := c.Upload(context.Background(), in, "probe/upload.mp4", strings.NewReader("x"), destination.UploadOptions{Size: -1})
				if err == nil {
					t.Fatal("Upload succeeded where Test failed")
				}
				if cl := provider.Classify(err); cl.Code != tc.Code {
					t.Errorf("Upload error classified %s, Test %s", cl.Code, tc.Code)
				}
				outputs = append(outputs, err.Error(), fmt.Sprintf("%+v %#v", err, err), provider.Classify(err).Message)
			}
			NoSecrets(t, cfg, p, outputs...)
			t.Logf("%s: %s", r.Code, r.Message)
		})
	}
}

// NoSecrets fails the test when any secret of cfg (or any long line of one, such as a line of
// a PEM key) appears in any of outputs.
func NoSecrets(t testing.TB, cfg destination.Config, p destination.Provider, outputs ...string) {
	t.Helper()
	for _, f := range destination.SecretFields(p) {
		secret := cfg.Secret(f)
		if secret == "" {
			continue
		}
		needles := []string{secret}
		for _, line := range strings.Split(secret, "\\n") {
			for _, l := range strings.Split(line, "\n") {
				if l = strings.TrimSpace(l); len(l) >= 24 && !strings.Contains(l, "PRIVATE KEY") {
					needles = append(needles, l)
				}
			}
		}
		for _, out := range outputs {
			for _, n := range needles {
				if strings.Contains(out, n) {
					t.Errorf("secret field %s leaked into output %.200q", f, out)
				}
			}
		}
	}
}
