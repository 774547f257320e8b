package s3_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

func TestProbe(t *testing.T) {
	srv := emulator.NeedS3(t)
	good := srv.Bucket(t)
	const wrongSecret = "wrong-secret-DO-NOT-LEAK-0123456789"
	cases := []struct {
		name  string
		cfg   func(c destination.Config) destination.Config
		allow bool
		code  string
	}{
		{"ok", func(c destination.Config) destination.Config { return c }, true, provider.CodeOK},
		{"wrong secret", func(c destination.Config) destination.Config { c.SecretAccessKey = wrongSecret; return c }, true, provider.CodeInvalidCredentials},
		{"missing bucket", func(c destination.Config) destination.Config { c.Bucket = emulator.Name("missing-"); return c }, true, provider.CodeBucketNotFound},
		{"wrong region", func(c destination.Config) destination.Config { c.Region = "eu-west-3"; return c }, true, provider.CodeWrongRegion},
		{"unreachable", func(c destination.Config) destination.Config { c.Endpoint = emulator.ClosedEndpoint(t); return c }, true, provider.CodeEndpointUnreachable},
		{"loopback refused", func(c destination.Config) destination.Config { return c }, false, provider.CodeEndpointUnreachable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var u emulator.Unsealer
			cfg := tc.cfg(good)
			in := u.Integration(destination.S3, cfg)
			var logs bytes.Buffer
			opts := provider.Options{WrapTransport: (&emulator.Recorder{}).Wrap}
			var accepted func() int64
			if tc.allow {
				opts.AllowedNetworks = emulator.Loopback
			} else {
				cfg.Endpoint, accepted = emulator.Listener(t)
				in = u.Integration(destination.S3, cfg)
			}
			opts.Logger = slogTo(&logs)
			c, err := provider.New(&u, opts, s3.NewDriver(s3.Options{RetryMaxAttempts: 1}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := c.Test(context.Background(), in)
			if r.Code != tc.code || r.OK != (tc.code == provider.CodeOK) {
				t.Fatalf("Test = %+v, want code %s", r, tc.code)
			}
			if r.Message == "" || r.TestedAt.IsZero() {
				t.Errorf("result lacks message or time: %+v", r)
			}
			if accepted != nil && accepted() != 0 {
				t.Errorf("the guard let %d connections through to 127.0.0.1", accepted())
			}
			for _, s := range []string{r.Message, strings.Join(r.Warnings, " "), logs.String()} {
				if strings.Contains(s, cfg.SecretAccessKey) {
					t.Errorf("secret leaked into %q", s)
				}
			}
			t.Logf("%s: %s", r.Code, r.Message)
		})
	}
}
