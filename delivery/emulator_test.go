package delivery_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// s3Targets stores an active s3 integration of workspace ws per config and returns a store
// holding them, their targets and a provider.Client (the real S3 driver, loopback allowed) that
// can open them. The client is closed when the test ends.
func s3Targets(t testing.TB, cfgs []destination.Config, opts provider.Options) (*memstore.Store, []destination.Target, *provider.Client) {
	t.Helper()
	store := memstore.New()
	u := &emulator.Unsealer{}
	client := emulator.NewClient(t, u, opts, nil, s3Driver())
	return store, addS3Targets(t, store, u, ws, cfgs), client
}

// addS3Targets stores an active s3 integration of workspace w per config (its secrets in u).
func addS3Targets(t testing.TB, store destination.Store, u *emulator.Unsealer, w string, cfgs []destination.Config) []destination.Target {
	t.Helper()
	var out []destination.Target
	for _, cfg := range cfgs {
		in := u.Integration(destination.S3, cfg)
		in.WorkspaceID = w
		stored, err := store.Create(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, destination.Target{IntegrationID: stored.ID, Provider: stored.Provider, IntegrationVersion: stored.Version})
	}
	return out
}

// s3Driver is the S3 driver as the engine wants it: one SDK attempt per request.
func s3Driver() provider.Driver { return s3.NewDriver(s3.Options{RetryMaxAttempts: 1}) }

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)
