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
	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// tarpit listens on loopback, accepts every connection and never answers: it reads nothing
// (requests hang once the socket buffers are full) or, with trickle, one byte every 50 ms. It
// returns "http://127.0.0.1:<port>".
func tarpit(t testing.TB, trickle bool) string {
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
			if trickle {
				go func() {
					b := make([]byte, 1)
					for {
						if _, err := c.Read(b); err != nil {
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
			}
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

// TestTarpitIsolation: one workspace delivers to tarpit endpoints (accept, never answer; one
// reads nothing, one trickles)
// while 8 renders of 8 other workspaces deliver to versitygw. The others must not be held up
// beyond a small factor: the tarpit's attempts hold at most its workspace's share of the upload
// slots, and only until the stall watchdog cancels them. The ratio is logged:
//
//	go test -run TestTarpitIsolation -v ./delivery/
func TestTarpitIsolation(t *testing.T) {
	srv := emulator.NeedS3(t)
	const renders, size = 8, 1 << 20
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
	pit, trickle := cfgs[0], cfgs[0]
	pit.Endpoint, pit.Bucket = tarpit(t, false), "tarpit"
	trickle.Endpoint, trickle.Bucket = tarpit(t, true), "trickle"
	var pitCfgs []destination.Config
	for range 4 { // enough to take every slot if nothing capped it
		pitCfgs = append(pitCfgs, pit, trickle)
	}
	pitPlan := delivery.Plan{WorkspaceID: "ws-tarpit", RenderID: "r-pit", FileName: "render.mp4",
		Targets: addS3Targets(t, store, u, "ws-tarpit", pitCfgs)}

	var stalls atomic.Int64
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: client, CDN: &deliverytest.CDN{}, StallTimeout: 2 * time.Second, // well above a healthy upload's pauses, even under -race on a loaded machine
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
	// Each side's figure is the mean of three runs (the tarpit's attempts come and go).
	mean := func() time.Duration {
		a, b, c := runAll(), runAll(), runAll()
		t.Logf("runs %s %s %s", a, b, c)
		return (a + b + c) / 3
	}
	runAll() // warm up connections and buckets
	alone := mean()

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
	with := mean()
	for deadline := time.Now().Add(10 * time.Second); stalls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // the measurement may end before the first stall
	}
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
