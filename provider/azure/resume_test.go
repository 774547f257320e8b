package azure_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// The driver removes what a kept session holds (the SIGKILL harness detects resuming drivers
// by it).
var _ provider.SessionAborter = (*azure.Driver)(nil)

const (
	resumeSize = 8*blockSize + 12345 // 9 blocks
	resumeConc = 2
	// resendBound is what an interrupted upload may have to send again: the blocks in flight.
	resendBound = blockSize * resumeConc
)

// blockMeter counts the body bytes of Put Block requests as the transport reads them (what
// was sent, or at least handed to the connection), and calls cut once they reach cutAt.
type blockMeter struct {
	sent  atomic.Int64
	cutAt int64 // 0: never
	cut   func()
	once  sync.Once
}

func (m *blockMeter) wrap(next http.RoundTripper) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		if isPutBlock(r) && r.Body != nil && r.Body != http.NoBody {
			r = r.Clone(r.Context())
			r.Body = &meteredBody{ReadCloser: r.Body, m: m}
		}
		return next.RoundTrip(r)
	})
}

type meteredBody struct {
	io.ReadCloser
	m *blockMeter
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if total := b.m.sent.Add(int64(n)); b.m.cutAt > 0 && total >= b.m.cutAt {
		b.m.once.Do(b.m.cut)
	}
	return n, err
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func isPutBlock(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("comp") == "block"
}

// resumeRig is one container on Azurite with a render file of resumeSize bytes.
type resumeRig struct {
	t   *testing.T
	srv emulator.AzureServer
	cfg destination.Config
	raw emulator.Raw
	u   emulator.Unsealer
	in  *destination.Integration
	f   *os.File
	sum []byte
}

func newResumeRig(t *testing.T, seed byte) *resumeRig {
	srv := emulator.NeedAzure(t)
	r := &resumeRig{t: t, srv: srv, cfg: srv.Container(t)}
	r.raw = srv.RawAzure(t, r.cfg)
	r.in = r.u.Integration(destination.Azure, r.cfg)
	r.f, r.sum = emulator.DataFile(t, resumeSize, seed)
	return r
}

// client returns a new provider.Client (a fresh process, as far as the driver can tell) whose
// Put Block bytes m counts; endpoint, when set, replaces the integration's (a faultproxy).
func (r *resumeRig) client(m *blockMeter, endpoint string) (*provider.Client, *destination.Integration) {
	opts := provider.Options{PartSize: blockSize, Concurrency: resumeConc, CleanupTimeout: 20 * time.Second}
	if m != nil {
		opts.WrapTransport = m.wrap
	}
	in := r.in
	if endpoint != "" {
		cfg := r.cfg
		cfg.Endpoint = endpoint
		in = r.u.Integration(destination.Azure, cfg)
	}
	return emulator.NewClient(r.t, &r.u, opts, nil, azure.NewDriver(azure.Options{})), in
}

// upload uploads the rig's file (or f) as key through c with cp.
func (r *resumeRig) upload(ctx context.Context, c *provider.Client, in *destination.Integration, key string, f io.ReaderAt, cp destination.Checkpoint) (destination.UploadResult, error) {
	if f == nil {
		f = r.f
	}
	return c.Upload(ctx, in, key, emulator.NewFileSource(f, resumeSize), destination.UploadOptions{Size: resumeSize, Checkpoint: cp})
}

// interrupt uploads key with cp through a new client and cancels it once cutAt bytes of blocks
// were sent; it returns the bytes sent. The session must be kept.
func (r *resumeRig) interrupt(key string, f io.ReaderAt, cp *memstore.Checkpoint, cutAt int64) int64 {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &blockMeter{cutAt: cutAt, cut: cancel}
	c, in := r.client(m, "")
	_, err := r.upload(ctx, c, in, key, f, cp)
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != destination.CodeCanceled {
		r.t.Fatalf("interrupted upload: %v, want cancelled", err)
	}
	if st, _ := cp.Load(context.Background()); st == nil {
		r.t.Fatal("a cancelled upload cleared its checkpoint")
	}
	return m.sent.Load()
}

// checkDone checks that key holds want (SHA-256) whole, that no uncommitted block is left under
// it and that cp is cleared.
func (r *resumeRig) checkDone(key string, want []byte, cp *memstore.Checkpoint) {
	r.t.Helper()
	ctx := context.Background()
	got, err := r.raw.Sum(ctx, key)
	if err != nil || !bytes.Equal(got, want) {
		r.t.Errorf("%s: sha256 %x, %v; want %x", key, got, err, want)
	}
	r.checkClean(key, cp)
}

// checkClean checks that no uncommitted block is left under key and that cp is cleared.
func (r *resumeRig) checkClean(key string, cp *memstore.Checkpoint) {
	r.t.Helper()
	ctx := context.Background()
	if n, err := r.raw.Leftovers(ctx, key); n != 0 || err != nil {
		r.t.Errorf("%s: %d uncommitted blocks left (%v)", key, n, err)
	}
	if st, err := cp.Load(ctx); st != nil || err != nil {
		r.t.Errorf("%s: checkpoint not cleared: %q, %v", key, st, err)
	}
}

// cutPoint returns a random point within the upload's block bytes.
func cutPoint() int64 { return 1 + rand.Int64N(resumeSize-1) }

// TestResumeAfterCancel interrupts uploads at random points by cancelling them; a new Client
// with the same checkpoint resumes each: only the blocks that were in flight are sent again,
// the blob is byte-identical, its checksum is the whole file's, nothing is left uncommitted
// and the checkpoint is cleared.
func TestResumeAfterCancel(t *testing.T) {
	r := newResumeRig(t, 3)
	for run := range 4 {
		key := fmt.Sprintf("resume/cancel-%d.mp4", run)
		cp := &memstore.Checkpoint{}
		cutAt := cutPoint()
		first := r.interrupt(key, nil, cp, cutAt)
		m := &blockMeter{}
		c, in := r.client(m, "")
		res, err := r.upload(context.Background(), c, in, key, nil, cp)
		if err != nil {
			t.Fatalf("run %d: resumed upload: %v", run, err)
		}
		resent := first + m.sent.Load() - resumeSize
		t.Logf("run %d: cancelled after %d block bytes (%d sent), resumed with %d: %d bytes re-sent (bound %d)",
			run, cutAt, first, m.sent.Load(), resent, resendBound)
		if resent > resendBound {
			t.Errorf("run %d: %d bytes re-sent, more than %d", run, resent, resendBound)
		}
		if m.sent.Load() >= resumeSize && first >= blockSize*(resumeConc+1) {
			t.Errorf("run %d: the resumed upload sent all %d bytes again", run, m.sent.Load())
		}
		if res.Size != resumeSize || res.Checksum != emulator.CRC32C(resumeSize, 3) {
			t.Errorf("run %d: result %d bytes %s; want %d, %s", run, res.Size, res.Checksum, resumeSize, emulator.CRC32C(resumeSize, 3))
		}
		r.checkDone(key, r.sum, cp)
	}
}

// resetBlock returns a proxy before Azurite that resets the nth Put Block request (from 1)
// halfway through its body, and lets every other request through.
func resetBlock(t *testing.T, target string, nth int64) *faultproxy.Proxy {
	var seen atomic.Int64
	p, err := faultproxy.Start(faultproxy.Options{Target: target, Rate: 1, Faults: []faultproxy.Fault{faultproxy.Reset},
		Match: func(r *http.Request) bool { return isPutBlock(r) && seen.Add(1) == nth }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestResumeAfterReset: the connection of a random Put Block is reset mid-body (a transient
// failure: the session is kept); a new Client resumes it.
func TestResumeAfterReset(t *testing.T) {
	r := newResumeRig(t, 4)
	for run := range 3 {
		key := fmt.Sprintf("resume/reset-%d.mp4", run)
		nth := 1 + rand.Int64N(9)
		p := resetBlock(t, r.srv.Endpoint, nth)
		cp := &memstore.Checkpoint{}
		m1 := &blockMeter{}
		c, in := r.client(m1, p.URL)
		_, err := r.upload(context.Background(), c, in, key, nil, cp)
		if ue := destination.AsUploadError(err); ue == nil || !ue.Transient || p.Count(faultproxy.Reset) != 1 {
			t.Fatalf("run %d: upload through a reset: %v (%d resets), want a transient failure", run, err, p.Count(faultproxy.Reset))
		}
		if st, _ := cp.Load(context.Background()); st == nil {
			t.Fatalf("run %d: a transient failure cleared the checkpoint", run)
		}
		m2 := &blockMeter{}
		c2, in2 := r.client(m2, p.URL)
		if _, err := r.upload(context.Background(), c2, in2, key, nil, cp); err != nil {
			t.Fatalf("run %d: resumed upload: %v", run, err)
		}
		resent := m1.sent.Load() + m2.sent.Load() - resumeSize
		t.Logf("run %d: block %d reset; %d + %d block bytes sent: %d re-sent (bound %d)", run, nth, m1.sent.Load(), m2.sent.Load(), resent, resendBound)
		if resent > resendBound {
			t.Errorf("run %d: %d bytes re-sent, more than %d", run, resent, resendBound)
		}
		r.checkDone(key, r.sum, cp)
	}
}

// TestResumeOtherUploads: a checkpoint of another key is ignored; of two interrupted uploads
// of one key (other bytes), each resumes only its own blocks, and the one whose blocks the
// other's commit dropped starts afresh.
func TestResumeOtherUploads(t *testing.T) {
	r := newResumeRig(t, 5)
	ctx := context.Background()

	cp := &memstore.Checkpoint{}
	r.interrupt("resume/a.mp4", nil, cp, 3*blockSize)
	m := &blockMeter{}
	c, in := r.client(m, "")
	if _, err := r.upload(ctx, c, in, "resume/b.mp4", nil, cp); err != nil {
		t.Fatal(err)
	}
	if m.sent.Load() != resumeSize {
		t.Errorf("upload of another key with a's checkpoint sent %d bytes, want all %d", m.sent.Load(), resumeSize)
	}
	r.checkDone("resume/b.mp4", r.sum, cp)

	// Two uploads of one key, other contents, both interrupted: the second stages more blocks.
	f2, sum2 := emulator.DataFile(t, resumeSize, 6)
	const key = "resume/same.mp4"
	cp1, cp2 := &memstore.Checkpoint{}, &memstore.Checkpoint{}
	sent1 := r.interrupt(key, nil, cp1, 2*blockSize+1)
	r.interrupt(key, f2, cp2, 6*blockSize+1)
	m1 := &blockMeter{}
	c1, in1 := r.client(m1, "")
	if _, err := r.upload(ctx, c1, in1, key, nil, cp1); err != nil {
		t.Fatal(err)
	}
	if resent := sent1 + m1.sent.Load() - resumeSize; resent > resendBound {
		t.Errorf("the first upload re-sent %d bytes, more than %d", resent, resendBound)
	}
	r.checkDone(key, r.sum, cp1)
	// Its commit dropped the second upload's blocks: that one starts afresh.
	m2 := &blockMeter{}
	c2, in2 := r.client(m2, "")
	if _, err := r.upload(ctx, c2, in2, key, f2, cp2); err != nil {
		t.Fatal(err)
	}
	if m2.sent.Load() != resumeSize {
		t.Errorf("the upload whose blocks were dropped sent %d bytes, want all %d", m2.sent.Load(), resumeSize)
	}
	r.checkDone(key, sum2, cp2)
}

// TestResumeBlocksGone: the blob was committed by someone else meanwhile (which drops every
// uncommitted block); the resumed upload starts afresh and replaces it.
func TestResumeBlocksGone(t *testing.T) {
	r := newResumeRig(t, 7)
	const key = "resume/gone.mp4"
	cp := &memstore.Checkpoint{}
	r.interrupt(key, nil, cp, 4*blockSize)
	bb := r.srv.ContainerClient(t, r.cfg.AzureContainerName).NewBlockBlobClient(key)
	// Azurite may store a Put Block the cancel interrupted after the cancel: commit until the
	// blocks settled and none is left.
	for round := 1; ; round++ {
		if _, err := bb.CommitBlockList(context.Background(), nil, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		bl, err := bb.GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(bl.BlockList.UncommittedBlocks) == 0 {
			break
		}
		names := ""
		for _, b := range bl.BlockList.UncommittedBlocks {
			id, _ := base64.StdEncoding.DecodeString(*b.Name)
			names += fmt.Sprintf(" %s(%d)", id, *b.Size)
		}
		t.Logf("commit %d: blocks stored after it:%s", round, names)
		if round == 10 {
			t.Fatal("blocks keep appearing")
		}
	}
	m := &blockMeter{}
	c, in := r.client(m, "")
	if _, err := r.upload(context.Background(), c, in, key, nil, cp); err != nil {
		t.Fatal(err)
	}
	if m.sent.Load() != resumeSize {
		t.Errorf("sent %d bytes, want all %d", m.sent.Load(), resumeSize)
	}
	r.checkDone(key, r.sum, cp)
}

// TestResumePermanentFailure: a resumed upload refused for good (403 on Put Block) discards
// the blocks and clears the checkpoint.
func TestResumePermanentFailure(t *testing.T) {
	r := newResumeRig(t, 8)
	const key = "resume/refused.mp4"
	cp := &memstore.Checkpoint{}
	r.interrupt(key, nil, cp, 3*blockSize)
	p, err := faultproxy.Start(faultproxy.Options{Target: r.srv.Endpoint, Rate: 1, Faults: []faultproxy.Fault{faultproxy.Refuse}, Match: isPutBlock})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, in := r.client(nil, p.URL)
	_, err = r.upload(context.Background(), c, in, key, nil, cp)
	if ue := destination.AsUploadError(err); ue == nil || ue.Transient || p.Count(faultproxy.Refuse) == 0 {
		t.Fatalf("refused upload: %v, want a permanent failure", err)
	}
	r.checkClean(key, cp)
	if _, ok, err := r.raw.Head(context.Background(), key); ok || err != nil {
		t.Errorf("a blob was left (%v)", err)
	}
}

// TestAbortCheckpointed: Client.AbortCheckpointed removes the blocks a kept session holds
// (AbortSession) and clears the checkpoint; a second call has nothing to do.
func TestAbortCheckpointed(t *testing.T) {
	r := newResumeRig(t, 9)
	const key = "resume/abort.mp4"
	cp := &memstore.Checkpoint{}
	r.interrupt(key, nil, cp, 5*blockSize)
	if n, _ := r.raw.Leftovers(context.Background(), key); n == 0 {
		t.Fatal("the interrupted upload left no block to abort")
	}
	c, in := r.client(nil, "")
	for range 2 {
		if err := c.AbortCheckpointed(context.Background(), in, key, cp); err != nil {
			t.Fatal(err)
		}
		r.checkClean(key, cp)
	}
	if _, ok, err := r.raw.Head(context.Background(), key); ok || err != nil {
		t.Errorf("a blob was left (%v)", err)
	}
}

// engine returns a delivery.Engine over c and a plan with one target: in, stored in a new
// store.
func engine(t *testing.T, c *provider.Client, in *destination.Integration, retry delivery.RetryPolicy, attempts *atomic.Int64) (*delivery.Engine, delivery.Plan) {
	store := memstore.New()
	stored, err := store.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	plan := delivery.Plan{WorkspaceID: stored.WorkspaceID, RenderID: "render-1", FileName: "render.mp4",
		Targets: []destination.Target{{IntegrationID: stored.ID, Provider: stored.Provider, IntegrationVersion: stored.Version, Prefix: "engine/"}}}
	eng, err := delivery.New(delivery.Options{Store: store, Uploader: c, Retry: retry, Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(ev delivery.Event) {
			if ev.Kind == delivery.EventAttempt && attempts != nil {
				attempts.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return eng, plan
}

var fastRetry = delivery.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

// TestEngineResume: DeliverTarget with a checkpointed file source, cancelled at a random
// point, is resumed by another engine (a new Client); one whose Put Block connection is reset
// resumes within its own retries; one that keeps failing transiently until its attempts run
// out has its session aborted by the engine.
func TestEngineResume(t *testing.T) {
	r := newResumeRig(t, 10)
	const key = "engine/render.mp4"
	src := func(cp destination.Checkpoint) delivery.Source {
		return delivery.Source{ReaderAt: r.f, Size: resumeSize, Checkpoint: cp}
	}

	t.Run("cancel", func(t *testing.T) {
		cp := &memstore.Checkpoint{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cutAt := cutPoint()
		m1 := &blockMeter{cutAt: cutAt, cut: cancel}
		c1, in := r.client(m1, "")
		eng1, plan := engine(t, c1, in, fastRetry, nil)
		out := eng1.DeliverTarget(ctx, plan, 0, src(cp))
		if out.Status != destination.StatusFailed || out.ErrorCode != destination.CodeCanceled {
			t.Fatalf("cancelled delivery: %s %s, want failed canceled", out.Status, out.ErrorCode)
		}
		if st, _ := cp.Load(context.Background()); st == nil {
			t.Fatal("the cancelled delivery cleared its checkpoint")
		}
		m2 := &blockMeter{}
		c2, _ := r.client(m2, "")
		eng2, _ := engine(t, c2, in, fastRetry, nil)
		out = eng2.DeliverTarget(context.Background(), plan, 0, src(cp))
		if out.Status != destination.StatusCompleted || out.OutputKey != key || out.OutputSizeBytes != resumeSize ||
			out.Checksum != emulator.CRC32C(resumeSize, 10) {
			t.Fatalf("resumed delivery: %+v", out)
		}
		resent := m1.sent.Load() + m2.sent.Load() - resumeSize
		t.Logf("engine: cancelled after %d block bytes (%d sent), resumed with %d: %d re-sent (bound %d)", cutAt, m1.sent.Load(), m2.sent.Load(), resent, resendBound)
		if resent > resendBound {
			t.Errorf("%d bytes re-sent, more than %d", resent, resendBound)
		}
		r.checkDone(key, r.sum, cp)
	})

	t.Run("reset", func(t *testing.T) {
		p := resetBlock(t, r.srv.Endpoint, 1+rand.Int64N(9))
		cp := &memstore.Checkpoint{}
		m := &blockMeter{}
		c, in := r.client(m, p.URL)
		var attempts atomic.Int64
		eng, plan := engine(t, c, in, fastRetry, &attempts)
		out := eng.DeliverTarget(context.Background(), plan, 0, src(cp))
		if out.Status != destination.StatusCompleted || out.Checksum != emulator.CRC32C(resumeSize, 10) || p.Count(faultproxy.Reset) != 1 {
			t.Fatalf("delivery through a reset: %+v (%d resets)", out, p.Count(faultproxy.Reset))
		}
		resent := m.sent.Load() - resumeSize
		t.Logf("engine: one reset, %d attempts, %d block bytes sent: %d re-sent (bound %d)", attempts.Load(), m.sent.Load(), resent, resendBound)
		if resent > resendBound || attempts.Load() != 2 {
			t.Errorf("%d bytes re-sent in %d attempts; want at most %d in 2", resent, attempts.Load(), resendBound)
		}
		r.checkDone(key, r.sum, cp)
	})

	t.Run("abort", func(t *testing.T) {
		// The blob holds the earlier deliveries' bytes: remove them, so that all that is left
		// after this one is what it made.
		if _, err := r.srv.ContainerClient(t, r.cfg.AzureContainerName).NewBlobClient(key).Delete(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		cp := &memstore.Checkpoint{}
		r.interrupt(key, nil, cp, 4*blockSize)
		p, err := faultproxy.Start(faultproxy.Options{Target: r.srv.Endpoint, Rate: 1, Faults: []faultproxy.Fault{faultproxy.ServerError}, Match: isPutBlock})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		c, in := r.client(nil, p.URL)
		var attempts atomic.Int64
		eng, plan := engine(t, c, in, fastRetry, &attempts)
		out := eng.DeliverTarget(context.Background(), plan, 0, src(cp))
		if out.Status != destination.StatusFailed || attempts.Load() != int64(fastRetry.MaxAttempts) {
			t.Fatalf("delivery failing transiently: %s %s after %d attempts", out.Status, out.ErrorCode, attempts.Load())
		}
		r.checkClean(key, cp)
		if _, ok, err := r.raw.Head(context.Background(), key); ok || err != nil {
			t.Errorf("a blob was left (%v)", err)
		}
	})
}

// TestResumeTwice: an upload interrupted, resumed, interrupted again and resumed again sends
// again only what was in flight at each interruption.
func TestResumeTwice(t *testing.T) {
	r := newResumeRig(t, 11)
	const key = "resume/twice.mp4"
	cp := &memstore.Checkpoint{}
	first := r.interrupt(key, nil, cp, 3*blockSize+1)
	second := r.interrupt(key, nil, cp, 3*blockSize+1)
	m := &blockMeter{}
	c, in := r.client(m, "")
	if _, err := r.upload(context.Background(), c, in, key, nil, cp); err != nil {
		t.Fatal(err)
	}
	resent := first + second + m.sent.Load() - resumeSize
	t.Logf("interrupted twice: %d + %d + %d block bytes sent: %d re-sent (bound %d)", first, second, m.sent.Load(), resent, 2*resendBound)
	if resent > 2*resendBound {
		t.Errorf("%d bytes re-sent, more than %d", resent, 2*resendBound)
	}
	r.checkDone(key, r.sum, cp)
}
