package delivery_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// tarpit listens on loopback, accepts every connection and never answers nor reads: requests
// hang once the socket buffers are full. It returns "http://127.0.0.1:<port>".
func tarpit(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// TestTarpitIsolation: one workspace delivers to a tarpit endpoint (accepts, never answers)
// while 8 renders of 8 other workspaces deliver to versitygw. The others must not be held up
// beyond a small factor: the tarpit's attempts hold at most its workspace's share of the upload
// slots, and only until the stall watchdog cancels them. The ratio is logged:
//
//	go test -run TestTarpitIsolation -v ./delivery/
func TestTarpitIsolation(t *testing.T) {
	srv := emulator.NeedS3(t)
	const renders, size = 8, 4 << 20
	var cfgs []destination.Config
	for range renders {
		cfgs = append(cfgs, srv.Bucket(t))
	}
	u := &emulator.Unsealer{}
	client := emulator.NewClient(t, u, provider.Options{}, nil, s3Driver())
	store := memstore.New()
	var plans []delivery.Plan
	for i, cfg := range cfgs {
		w := fmt.Sprintf("ws-healthy-%d", i)
		plans = append(plans, delivery.Plan{WorkspaceID: w, RenderID: fmt.Sprint("r", i), FileName: "render.mp4",
			Targets: addS3Targets(t, store, u, w, []destination.Config{cfg})})
	}
	pit := cfgs[0]
	pit.Endpoint, pit.Bucket = tarpit(t), "tarpit"
	var pitCfgs []destination.Config
	for range 8 { // enough to take every slot if nothing capped it
		pitCfgs = append(pitCfgs, pit)
	}
	pitPlan := delivery.Plan{WorkspaceID: "ws-tarpit", RenderID: "r-pit", FileName: "render.mp4",
		Targets: addS3Targets(t, store, u, "ws-tarpit", pitCfgs)}

	var stalls atomic.Int64
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, CDN: newMemCDN(), StallTimeout: 500 * time.Millisecond,
		Retry: delivery.RetryPolicy{MaxAttempts: 8, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second}, Logger: quiet,
		OnEvent: func(e delivery.Event) {
			if e.WorkspaceID == "ws-tarpit" && e.Kind == delivery.EventRetry && e.Code == destination.CodeStalled {
				stalls.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	runAll := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for _, p := range plans {
			wg.Go(func() {
				d, err := eng.Deliver(context.Background(), p, bytesSource(data))
				if err != nil || d.Outputs[0].Status != destination.StatusCompleted {
					t.Errorf("%s: %+v %v", p.WorkspaceID, d, err)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	// The machine is shared: the best of two runs is each side's figure.
	best := func() time.Duration { a, b := runAll(), runAll(); t.Logf("runs %s %s", a, b); return min(a, b) }
	runAll() // warm up connections and buckets
	alone := best()

	// The tarpit workspace delivers again and again for as long as the measurement runs.
	ctx, cancel := context.WithCancel(context.Background())
	pitDone := make(chan struct{})
	var pitDeliveries int
	go func() {
		defer close(pitDone)
		for ctx.Err() == nil {
			d, _ := eng.Deliver(ctx, pitPlan, bytesSource(data))
			pitDeliveries++
			for _, o := range d.Outputs {
				if o.Status != destination.StatusFailed {
					t.Errorf("tarpit output %+v", o)
				}
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the tarpit's attempts take their slots first
	with := best()
	cancel()
	<-pitDone
	if stalls.Load() == 0 {
		t.Error("no tarpit attempt was cancelled as stalled")
	}
	ratio := float64(with) / float64(alone)
	t.Logf("8 healthy renders of %d MiB: alone %s, beside a tarpit %s (%d tarpit deliveries, %d stalled attempts): ratio %.2f", size>>20, alone, with, pitDeliveries, stalls.Load(), ratio)
	if ratio > 10 {
		t.Errorf("the tarpit held the others up %.1f× (sanity bound 10×)", ratio)
	}
}
