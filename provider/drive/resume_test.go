package drive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
)

const resumePart = 5 << 20 // provider.Options' minimum part size, 20 × 256 KiB

// chunkCounter counts the request body bytes the transport reads for resumable chunks (the bytes
// sent), and once armed breaks every chunk request after half its body, as a reset connection.
type chunkCounter struct {
	base  http.RoundTripper
	sent  atomic.Int64
	reset atomic.Bool
}

func (c *chunkCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPut || !strings.Contains(req.URL.RawQuery, "upload_id=") || req.Body == nil || req.ContentLength <= 0 {
		return c.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	body := &countingBody{rc: req.Body, n: &c.sent}
	if c.reset.Load() {
		body.limit = req.ContentLength / 2
	}
	req.Body = body
	if gb := req.GetBody; gb != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			rc, err := gb()
			return &countingBody{rc: rc, n: &c.sent, limit: body.limit}, err
		}
	}
	return c.base.RoundTrip(req)
}

type countingBody struct {
	rc    io.ReadCloser
	n     *atomic.Int64
	read  int64
	limit int64 // > 0: fail with a reset after this many bytes
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.limit > 0 {
		if b.read >= b.limit {
			return 0, syscall.ECONNRESET
		}
		p = p[:min(int64(len(p)), b.limit-b.read)]
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// resumeEnv is a Drive fake and what a worker process would build against it.
type resumeEnv struct {
	srv *drivetest.Server
	in  *destination.Integration
	u   *emulator.Unsealer
}

func newResumeEnv(t *testing.T, opts drivetest.Options) *resumeEnv {
	t.Helper()
	srv := drivetest.NewServer(opts)
	t.Cleanup(srv.Close)
	var u emulator.Unsealer
	in := u.Integration(destination.Drive, destination.Config{DriveRefreshToken: srv.IssueRefreshToken()})
	return &resumeEnv{srv: srv, in: in, u: &u}
}

// client returns a new provider.Client (a new worker) whose chunk bytes cnt counts.
func (e *resumeEnv) client(t *testing.T, cnt *chunkCounter) *provider.Client {
	t.Helper()
	d := NewDriver(DriverOptions{OAuth: e.srv.OAuthConfig(""), Options: Options{Endpoint: e.srv.Endpoint(),
		Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MinInterval: -1}}})
	return emulator.NewClient(t, e.u, provider.Options{PartSize: resumePart, Concurrency: 4, CleanupTimeout: 5 * time.Second,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { cnt.base = rt; return cnt }}, nil, d)
}

// liveFiles returns the fake's files (not folders, not trashed) named name.
func liveFiles(srv *drivetest.Server, name string) []drivetest.Item {
	var out []drivetest.Item
	for _, it := range files(srv) {
		if it.Name == name {
			out = append(out, it)
		}
	}
	return out
}

// checkStored asserts the one live file named name holds data, with its MD5.
func checkStored(t *testing.T, srv *drivetest.Server, name string, data []byte) {
	t.Helper()
	got := liveFiles(srv, name)
	if len(got) != 1 {
		t.Fatalf("%d files named %s, want 1: %+v", len(got), name, got)
	}
	sum := md5.Sum(data)
	if got[0].Size != int64(len(data)) || got[0].MD5 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %d bytes md5 %s, want %d md5 %x", got[0].Size, got[0].MD5, len(data), sum)
	}
	b, _ := srv.Content(got[0].ID)
	if !bytes.Equal(b, data) {
		t.Fatal("stored bytes differ from the file")
	}
}

// heldBytes asks Drive how many bytes the session in cp holds.
func heldBytes(t *testing.T, srv *drivetest.Server, cp destination.Checkpoint) int64 {
	t.Helper()
	raw, _ := cp.Load(context.Background())
	var state struct{ Session []byte }
	var st sessionState
	if json.Unmarshal(raw, &state) != nil || json.Unmarshal(state.Session, &st) != nil {
		t.Fatalf("checkpoint %s", raw)
	}
	up := &session{b: &bucket{hc: srv.Client(), pacer: newPacer(fastRetry)}, uri: st.URI, total: -1}
	if err := up.query(context.Background()); err != nil {
		t.Fatal(err)
	}
	return up.sent
}

// cancelAt is a file that cancels the upload once a read reaches offset at.
type cancelAt struct {
	ra     io.ReaderAt
	at     int64
	cancel func()
}

func (c *cancelAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.at {
		c.cancel()
	}
	return c.ra.ReadAt(p, off)
}

// TestResumeAfterInterruption interrupts a 6-part upload at a random point (its context
// cancelled, a chunk broken after Drive kept part of it, connections reset), then a new
// provider.Client resumes it with the same checkpoint: at most one part is sent again, the
// file is byte-identical with Drive's MD5 verified, it replaced the older file of the key, no
// second file was created, and the checkpoint is cleared.
func TestResumeAfterInterruption(t *testing.T) {
	const size = 6*resumePart - 12345
	f, _ := emulator.DataFile(t, size, 3)
	data, err := io.ReadAll(io.NewSectionReader(f, 0, size))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(10, 20))
	for _, how := range []string{"cancel", "cancel", "cancel", "keepbytes", "keepbytes", "reset", "reset"} {
		// Before the last chunk: a cancelled last chunk may still complete at the server (its
		// body was sent), which commits the file; that race is not what this test is about.
		at := resumePart/2 + rng.Int64N(size-2*resumePart)
		t.Run(fmt.Sprintf("%s-at-%d", how, at), func(t *testing.T) {
			ctx := context.Background()
			e := newResumeEnv(t, drivetest.Options{})
			key := "renders/resume.mp4"
			first, second := &chunkCounter{}, &chunkCounter{}
			c1 := e.client(t, first)
			// An older file of the key, which the upload replaces.
			if _, err := c1.Upload(ctx, e.in, key, strings.NewReader("old render"), destination.UploadOptions{Size: 10}); err != nil {
				t.Fatal(err)
			}
			var cp memstore.Checkpoint
			actx, cancel := context.WithCancel(ctx)
			defer cancel()
			var src io.ReaderAt = f
			switch how {
			case "cancel":
				src = &cancelAt{ra: f, at: at, cancel: cancel}
			case "keepbytes":
				// Every chunk from the one holding offset at on breaks after 600 KiB arrived.
				e.srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Status: 503, KeepBytes: 600 << 10, Times: -1,
					Match: func(r *http.Request) bool {
						var a, b int64
						_, err := fmt.Sscanf(r.Header.Get("Content-Range"), "bytes %d-%d/", &a, &b)
						return err == nil && b >= at
					}})
			case "reset":
				src = &cancelAt{ra: f, at: at, cancel: func() { first.reset.Store(true) }}
			}
			_, err := c1.Upload(actx, e.in, key, emulator.NewFileSource(src, size), destination.UploadOptions{Size: size, Checkpoint: &cp})
			ue := destination.AsUploadError(err)
			if ue == nil || (!ue.Transient && ue.Code != destination.CodeCanceled) {
				t.Fatalf("interrupted upload: %v, want a cancelled or transient failure", err)
			}
			if st, _ := cp.Load(ctx); len(st) == 0 {
				t.Fatal("the interrupted upload left no checkpoint")
			}
			if got := liveFiles(e.srv, "resume.mp4"); len(got) != 1 || got[0].Size != 10 {
				t.Fatalf("after the interruption: %+v, want the old file only", got)
			}
			e.srv.ClearFaults()
			starts := e.srv.Calls("upload.start")
			held := heldBytes(t, e.srv, &cp)

			c2 := e.client(t, second) // another worker
			res, err := c2.Upload(ctx, e.in, key, emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: &cp})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != "md5" || res.Size != size {
				t.Errorf("result %+v, want md5 verified", res)
			}
			if n := e.srv.Calls("upload.start"); n != starts {
				t.Errorf("the resumed upload started %d new sessions", n-starts)
			}
			checkStored(t, e.srv, "resume.mp4", data)
			resent := second.sent.Load() - (size - held)
			t.Logf("interrupted attempt sent %d bytes, Drive kept %d; the resumed one sent %d: %d re-sent",
				first.sent.Load(), held, second.sent.Load(), resent)
			// Negative when the interrupted attempt's last chunk landed after held was read
			// (a cancelled request the fake still finished): fewer bytes to send, and the
			// stored content is checked above.
			if resent > resumePart {
				t.Errorf("%d bytes re-sent, want at most one part (%d)", resent, resumePart)
			}
			if st, _ := cp.Load(ctx); st != nil {
				t.Errorf("checkpoint not cleared: %s", st)
			}
		})
	}
}

// TestResumeIgnoresOtherCheckpoint: a checkpoint of another upload (another key) is ignored:
// the upload starts its own session and stores the file whole.
func TestResumeIgnoresOtherCheckpoint(t *testing.T) {
	ctx := context.Background()
	const size = 3*resumePart + 1
	f, _ := emulator.DataFile(t, size, 4)
	data, _ := io.ReadAll(io.NewSectionReader(f, 0, size))
	e := newResumeEnv(t, drivetest.Options{})
	var cp memstore.Checkpoint
	actx, cancel := context.WithCancel(ctx)
	c := e.client(t, &chunkCounter{})
	_, err := c.Upload(actx, e.in, "renders/a.mp4", emulator.NewFileSource(&cancelAt{ra: f, at: 2 * resumePart, cancel: cancel}, size),
		destination.UploadOptions{Size: size, Checkpoint: &cp})
	cancel()
	if err == nil {
		t.Fatal("the cancelled upload succeeded")
	}
	starts := e.srv.Calls("upload.start")
	if _, err := c.Upload(ctx, e.in, "renders/b.mp4", emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: &cp}); err != nil {
		t.Fatal(err)
	}
	if e.srv.Calls("upload.start") != starts+1 {
		t.Error("the other upload's session was used")
	}
	checkStored(t, e.srv, "b.mp4", data)
	if len(liveFiles(e.srv, "a.mp4")) != 0 {
		t.Error("the interrupted upload left a file")
	}
}

// TestResumeExpiredSession: a session Drive forgot (expired) starts afresh and the file is whole.
func TestResumeExpiredSession(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newResumeEnv(t, drivetest.Options{Clock: clock})
	const size = 3*resumePart + 77
	f, _ := emulator.DataFile(t, size, 5)
	data, _ := io.ReadAll(io.NewSectionReader(f, 0, size))
	var cp memstore.Checkpoint
	actx, cancel := context.WithCancel(ctx)
	_, err := e.client(t, &chunkCounter{}).Upload(actx, e.in, "renders/x.mp4",
		emulator.NewFileSource(&cancelAt{ra: f, at: 2 * resumePart, cancel: cancel}, size), destination.UploadOptions{Size: size, Checkpoint: &cp})
	cancel()
	if err == nil {
		t.Fatal("the cancelled upload succeeded")
	}
	mu.Lock()
	now = now.Add(8 * 24 * time.Hour)
	mu.Unlock()
	starts := e.srv.Calls("upload.start")
	cnt := &chunkCounter{}
	if _, err := e.client(t, cnt).Upload(ctx, e.in, "renders/x.mp4", emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: &cp}); err != nil {
		t.Fatal(err)
	}
	if e.srv.Calls("upload.start") != starts+1 || cnt.sent.Load() != size {
		t.Errorf("%d new sessions, %d bytes sent; want a fresh upload of %d", e.srv.Calls("upload.start")-starts, cnt.sent.Load(), size)
	}
	checkStored(t, e.srv, "x.mp4", data)
	if st, _ := cp.Load(ctx); st != nil {
		t.Error("checkpoint not cleared")
	}
}

// TestAbortCheckpointed: AbortCheckpointed of an interrupted Drive upload clears the
// checkpoint and leaves no file (the session holds nothing visible); a permanent failure
// clears the checkpoint at once.
func TestAbortCheckpointed(t *testing.T) {
	ctx := context.Background()
	e := newResumeEnv(t, drivetest.Options{})
	const size = 3 * resumePart
	f, _ := emulator.DataFile(t, size, 6)
	c := e.client(t, &chunkCounter{})
	var cp memstore.Checkpoint
	actx, cancel := context.WithCancel(ctx)
	_, err := c.Upload(actx, e.in, "renders/y.mp4", emulator.NewFileSource(&cancelAt{ra: f, at: resumePart + 1, cancel: cancel}, size),
		destination.UploadOptions{Size: size, Checkpoint: &cp})
	cancel()
	if err == nil {
		t.Fatal("the cancelled upload succeeded")
	}
	if err := c.AbortCheckpointed(ctx, e.in, "renders/y.mp4", &cp); err != nil {
		t.Fatal(err)
	}
	if st, _ := cp.Load(ctx); st != nil || len(liveFiles(e.srv, "y.mp4")) != 0 {
		t.Errorf("after the abort: checkpoint %q, files %+v", st, liveFiles(e.srv, "y.mp4"))
	}

	// A chunk Drive refuses for good (400): the upload fails permanently and clears its checkpoint.
	e.srv.InjectFault(drivetest.Fault{Op: "upload.chunk", Status: http.StatusBadRequest, Skip: 1})
	_, err = c.Upload(ctx, e.in, "renders/y.mp4", emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: &cp})
	if ue := destination.AsUploadError(err); ue == nil || ue.Transient {
		t.Fatalf("refused chunk: %v, want a permanent failure", err)
	}
	if st, _ := cp.Load(ctx); st != nil || len(liveFiles(e.srv, "y.mp4")) != 0 {
		t.Errorf("after a permanent failure: checkpoint %q, files %d", st, len(liveFiles(e.srv, "y.mp4")))
	}
}

// TestResumeCompletedSession: the worker died after Drive completed the file but before the
// upload settled (the older file still there, the last part not stored in the checkpoint): the
// next attempt finds the file through the session, reads the missing parts locally for the
// checksum, sends nothing, and replaces the older file.
func TestResumeCompletedSession(t *testing.T) {
	ctx := context.Background()
	e := newResumeEnv(t, drivetest.Options{})
	const size = 2*resumePart + 999
	f, _ := emulator.DataFile(t, size, 8)
	data, _ := io.ReadAll(io.NewSectionReader(f, 0, size))
	c := e.client(t, &chunkCounter{})
	key := "renders/z.mp4"
	if _, err := c.Upload(ctx, e.in, key, strings.NewReader("old"), destination.UploadOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	// The checkpoint as a killed worker left it: saves fail once the last chunk was sent.
	cp := &failingCheckpoint{}
	cp.armed.Store(true)
	_, err := c.Upload(ctx, e.in, key, emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: cp})
	if err == nil {
		t.Fatal("the upload succeeded without saving its last part")
	}
	if n := len(liveFiles(e.srv, "z.mp4")); n != 2 {
		t.Fatalf("%d files after the completed session, want the old and the new", n)
	}
	cnt := &chunkCounter{}
	cp.armed.Store(false)
	if _, err := e.client(t, cnt).Upload(ctx, e.in, key, emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if cnt.sent.Load() != 0 {
		t.Errorf("%d bytes sent again, want 0", cnt.sent.Load())
	}
	checkStored(t, e.srv, "z.mp4", data)
}

// failingCheckpoint is a memstore.Checkpoint that, while armed, refuses to save part 2.
type failingCheckpoint struct {
	memstore.Checkpoint
	armed atomic.Bool
}

func (c *failingCheckpoint) Save(ctx context.Context, st []byte) error {
	if c.armed.Load() && bytes.Contains(st, []byte(`"i":2,`)) {
		return errors.New("checkpoint store down")
	}
	return c.Checkpoint.Save(ctx, st)
}

// TestHeapOfFileUpload measures (OUTPUTS_DRIVE_HEAP=1) a 256 MiB upload from a file through
// provider.Client: read as a stream (the bucket's writer, one chunk buffer; what every file
// source did before UploadParts) and part by part from the file. It reports the bytes the
// process allocated and its peak heap, less the fake's copy of the file (one byte per byte).
//
//	OUTPUTS_DRIVE_HEAP=1 go test -count=1 -v -run TestHeapOfFileUpload ./provider/drive/
//
// OUTPUTS_BENCH_FILE_MIB sets another size (the fake keeps the file in memory: mind 1 GiB).
func TestHeapOfFileUpload(t *testing.T) {
	if os.Getenv("OUTPUTS_DRIVE_HEAP") == "" {
		t.Skip("a measurement: set OUTPUTS_DRIVE_HEAP=1")
	}
	size := emulator.BenchFileSize(t, 256<<20)
	f, _ := emulator.DataFile(t, size, 9)
	ctx := context.Background()
	for _, how := range []string{"stream", "file"} {
		e := newResumeEnv(t, drivetest.Options{})
		d := NewDriver(DriverOptions{OAuth: e.srv.OAuthConfig(""), Options: Options{Endpoint: e.srv.Endpoint(), PermanentDelete: true, Retry: fastRetry}})
		c := emulator.NewClient(t, e.u, provider.Options{}, nil, d) // default 8 MiB parts and chunks
		var src io.Reader = emulator.NewFileSource(f, size)
		if how == "stream" {
			src = struct{ io.Reader }{io.NewSectionReader(f, 0, size)}
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		res, err := c.Upload(ctx, e.in, "renders/heap.mp4", src, destination.UploadOptions{Size: size})
		close(stop)
		<-sampled
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		const mib = 1 << 20
		t.Logf("%s: verified %s; allocated %.1f MiB, peak heap %.1f MiB above the start (both less the fake's %d MiB copy)",
			how, res.Verified, (float64(after.TotalAlloc-before.TotalAlloc)-float64(size))/mib,
			(float64(peak.Load())-float64(before.HeapInuse)-float64(size))/mib, size/mib)
		e.srv.Close()
	}
}
