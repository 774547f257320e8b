package provider_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// gatedDriver opens a bucket only when gate is closed, and honours its context meanwhile, like
// a driver whose open makes a request.
type gatedDriver struct {
	memDriver
	entered chan struct{}
	gate    chan struct{}
}

func (d *gatedDriver) Open(ctx context.Context, in *destination.Integration, cfg destination.Config, hc *http.Client) (*blob.Bucket, error) {
	d.entered <- struct{}{}
	select {
	case <-d.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("the shared open has no deadline of its own")
	}
	return d.memDriver.Open(ctx, in, cfg, hc)
}

// TestSharedOpenSurvivesTheFirstCallersCancel: the caller that starts a bucket's open gives up;
// a concurrent waiter with its own live context still gets the bucket, from the same (single)
// open, and the canceled caller returns at once with its own error.
func TestSharedOpenSurvivesTheFirstCallersCancel(t *testing.T) {
	d := &gatedDriver{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	u := &emulator.Unsealer{}
	c, err := provider.New(u, provider.Options{}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := u.Integration(destination.S3, memCfg)

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, release, err := c.Lease(first, in)
		if err == nil {
			release()
		}
		firstErr <- err
	}()
	<-d.entered // the open is under way, started by the first caller
	second := make(chan error, 1)
	go func() {
		b, release, err := c.Lease(context.Background(), in)
		if err == nil {
			if b == nil {
				err = errors.New("nil bucket")
			}
			release()
		}
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second caller start waiting (no assertion on time)
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want its own context.Canceled", err)
	}
	close(d.gate)
	if err := <-second; err != nil {
		t.Fatalf("the waiter failed with the first caller's cancellation: %v", err)
	}
	if d.opened.Load() != 1 {
		t.Fatalf("%d opens, want 1 shared", d.opened.Load())
	}
}
