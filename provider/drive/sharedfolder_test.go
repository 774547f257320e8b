package drive

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

// gateTransport holds the first folder lookup (a files.list for a folder) until gate is closed,
// honouring the request's context meanwhile.
type gateTransport struct {
	base    http.RoundTripper
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (g *gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Query().Get("q"), FolderMimeType) {
		held := false
		g.once.Do(func() { held = true })
		if held {
			g.entered <- struct{}{}
			select {
			case <-g.gate:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return g.base.RoundTrip(r)
}

// TestSharedFolderLookupSurvivesTheFirstCallersCancel: two writes under one new folder share its
// lookup; the caller that started it gives up, and the other still writes.
func TestSharedFolderLookupSurvivesTheFirstCallersCancel(t *testing.T) {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	gt := &gateTransport{base: srv.Client().Transport, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	if gt.base == nil {
		gt.base = http.DefaultTransport
	}
	b, err := OpenBucket(context.Background(), &http.Client{Transport: gt}, "", &Options{Endpoint: srv.Endpoint(), Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { firstErr <- b.WriteAll(first, "shared/one.mp4", []byte("one"), nil) }()
	<-gt.entered // the folder lookup is under way, started by the first caller
	second := make(chan error, 1)
	go func() { second <- b.WriteAll(context.Background(), "shared/two.mp4", []byte("two"), nil) }()
	time.Sleep(20 * time.Millisecond) // let the second caller join the lookup (no assertion on time)
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want its own context.Canceled", err)
	}
	close(gt.gate)
	if err := <-second; err != nil {
		t.Fatalf("the other caller failed with the first caller's cancellation: %v", err)
	}
	if got, err := b.ReadAll(context.Background(), "shared/two.mp4"); err != nil || string(got) != "two" {
		t.Fatalf("read back: %q %v", got, err)
	}
}
