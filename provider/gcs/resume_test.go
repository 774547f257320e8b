package gcs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/gcs/gcstest"
)

const resumePart = 5 << 20 // the smallest part size: twenty 256 KiB units

// cancelAt cancels when a read reaches at, mid-chunk, and holds that read until the request
// was cut off (aborted, see aborted), so the rest of the chunk is not sent.
type cancelAt struct {
	ra     io.ReaderAt
	at     int64
	cancel func()
	once   sync.Once
}

func (c *cancelAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.at {
		c.once.Do(func() {
			c.cancel()
			select {
			case <-aborted:
			case <-time.After(10 * time.Second):
			}
		})
	}
	return c.ra.ReadAt(p, off)
}

// aborted receives when a request cancelled by its context has returned.
var aborted = make(chan struct{}, 1)

// signalAborted is a transport wrapper feeding aborted.
func signalAborted(next http.RoundTripper) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if r.Context().Err() != nil {
			select {
			case aborted <- struct{}{}:
			default:
			}
		}
		return resp, err
	})
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// chunkBytes sums the body bytes sent to upload sessions.
func chunkBytes(rec *emulator.Recorder) (n int64) {
	for _, r := range rec.Requests() {
		if r.URL.Query().Get("upload_id") != "" {
			n += r.BodyBytes
		}
	}
	return n
}

func countMethod(rec *emulator.Recorder, method string) (n int) {
	for _, r := range rec.Requests() {
		if r.Method == method && r.URL.Query().Get("upload_id") != "" {
			n++
		}
	}
	return n
}

// resumeClient is a new provider.Client (a new worker) with its own recorder.
func resumeClient(t *testing.T, u destination.Unsealer, d *gcs.Driver, wrap func(http.RoundTripper) http.RoundTripper) (*provider.Client, *emulator.Recorder) {
	rec := &emulator.Recorder{}
	if wrap == nil {
		wrap = signalAborted
	}
	w := func(next http.RoundTripper) http.RoundTripper { return rec.Wrap(wrap(next)) }
	return emulator.NewClient(t, u, provider.Options{PartSize: resumePart, Concurrency: 2, WrapTransport: w}, nil, d), rec
}

func checkCleared(t *testing.T, cp *memstore.Checkpoint) {
	t.Helper()
	if b, _ := cp.Load(context.Background()); len(b) != 0 {
		t.Errorf("checkpoint not cleared: %s", b)
	}
}

// TestResumeFakeGCS interrupts file uploads at random points on fake-gcs-server (the context
// cancelled mid-chunk; the connection reset mid-chunk by faultproxy) and resumes each with a
// new client and the same checkpoint, from the checkpoint's offset (fake-gcs-server cannot
// answer the status query): the object is byte-identical, at most one chunk is sent again,
// the checkpoint is cleared.
func TestResumeFakeGCS(t *testing.T) {
	cfg := emulator.GCS(t)
	raw := emulator.RawGCS(cfg)
	const size = 4*resumePart + 12345
	f, sum := emulator.DataFile(t, size, 7)
	rng := rand.New(rand.NewPCG(rand.Uint64(), 3)) // the points are logged
	for round := range 4 {
		reset := round%2 == 1
		t.Run(map[bool]string{false: "cancel", true: "reset"}[reset], func(t *testing.T) {
			var u emulator.Unsealer
			key := "resume/" + emulator.Name("f") + ".mp4"
			at := int64(rng.IntN(3*resumePart)) + resumePart/2
			cp := &memstore.Checkpoint{}
			direct := cfg
			var proxy *faultproxy.Proxy
			if reset {
				var puts atomic.Int64
				after := at / resumePart
				var err error
				proxy, err = faultproxy.Start(faultproxy.Options{Target: cfg.Endpoint, Rate: 1, Faults: []faultproxy.Fault{faultproxy.Reset},
					Match: func(r *http.Request) bool {
						return r.Method == http.MethodPut && r.URL.Query().Get("upload_id") != "" && puts.Add(1) == after+1
					}})
				if err != nil {
					t.Fatal(err)
				}
				defer proxy.Close()
				direct.Endpoint = proxy.URL
			}
			in := u.Integration(destination.GCS, direct)
			c1, rec1 := resumeClient(t, &u, driver(), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var src io.Reader = emulator.NewFileSource(f, size)
			if !reset {
				src = emulator.NewFileSource(&cancelAt{ra: f, at: at, cancel: cancel}, size)
			}
			_, err := c1.Upload(ctx, in, key, src, destination.UploadOptions{Size: size, Checkpoint: cp})
			ue := destination.AsUploadError(err)
			if ue == nil || !(ue.Transient || ue.Code == destination.CodeCanceled) {
				t.Fatalf("interrupted upload: %v, want a cancelled or transient failure", err)
			}
			if b, _ := cp.Load(context.Background()); len(b) == 0 {
				t.Fatal("the interrupted upload kept no checkpoint")
			}
			sent1 := chunkBytes(rec1)
			c2, rec2 := resumeClient(t, &u, driver(), nil)
			res, err := c2.Upload(context.Background(), in, key, emulator.NewFileSource(f, size), destination.UploadOptions{Size: size, Checkpoint: cp})
			if err != nil {
				t.Fatalf("resumed upload: %v", err)
			}
			sent2 := chunkBytes(rec2)
			if res.Verified != "crc32c" || res.Size != size {
				t.Errorf("result %+v, want verified crc32c, size %d", res, size)
			}
			if got, err := raw.Sum(context.Background(), key); err != nil || !bytes.Equal(got, sum) {
				t.Errorf("stored object differs (err %v)", err)
			}
			if resent := sent1 + sent2 - size; resent > resumePart {
				t.Errorf("sent %d + %d bytes for %d: %d sent again, want ≤ one chunk (%d)", sent1, sent2, size, resent, resumePart)
			}
			t.Logf("interrupted at %d: first attempt sent %d, the resumed one %d (%d again)", at, sent1, sent2, sent1+sent2-size)
			checkCleared(t, cp)
		})
	}
}

// TestResumeOtherUpload: a checkpoint of another upload (another key, another size) is ignored.
func TestResumeOtherUpload(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	const size = 3*resumePart + 1
	f, sum := emulator.DataFile(t, size, 9)
	cp := &memstore.Checkpoint{}
	c1, _ := resumeClient(t, &u, driver(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c1.Upload(ctx, in, "other/a.mp4", emulator.NewFileSource(&cancelAt{ra: f, at: resumePart + 100, cancel: cancel}, size),
		destination.UploadOptions{Size: size, Checkpoint: cp})
	cancel()
	if err == nil {
		t.Fatal("interrupted upload succeeded")
	}
	for _, tc := range []struct {
		key  string
		size int64
	}{{"other/b.mp4", size}, {"other/a.mp4", size - 1}} {
		c, rec := resumeClient(t, &u, driver(), nil)
		_, err := c.Upload(context.Background(), in, tc.key, io.NewSectionReader(f, 0, tc.size), destination.UploadOptions{Size: tc.size, Checkpoint: cp})
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		if n := chunkBytes(rec); n != tc.size {
			t.Errorf("%s: sent %d bytes, want all %d", tc.key, n, tc.size)
		}
		checkCleared(t, cp)
		// The first checkpoint is gone with the first of them; make another for the second.
		ctx, cancel := context.WithCancel(context.Background())
		_, _ = c.Upload(ctx, in, "other/a.mp4", emulator.NewFileSource(&cancelAt{ra: f, at: resumePart + 100, cancel: cancel}, size),
			destination.UploadOptions{Size: size, Checkpoint: cp})
		cancel()
	}
	if got, err := emulator.RawGCS(cfg).Sum(context.Background(), "other/b.mp4"); err != nil || !bytes.Equal(got, sum) {
		t.Errorf("other/b.mp4 differs (err %v)", err)
	}
}

// TestResumeAbort: a failed output's kept session is cancelled by AbortCheckpointed (DELETE on
// the session; fake-gcs-server answers 499 and keeps it, nothing is visible either way).
func TestResumeAbort(t *testing.T) {
	cfg := emulator.GCS(t)
	var u emulator.Unsealer
	in := u.Integration(destination.GCS, cfg)
	const size = 3 * resumePart
	f, _ := emulator.DataFile(t, size, 5)
	cp := &memstore.Checkpoint{}
	c, rec := resumeClient(t, &u, driver(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Upload(ctx, in, "abort/a.mp4", emulator.NewFileSource(&cancelAt{ra: f, at: resumePart + 100, cancel: cancel}, size),
		destination.UploadOptions{Size: size, Checkpoint: cp})
	cancel()
	if err == nil {
		t.Fatal("interrupted upload succeeded")
	}
	if n := countMethod(rec, http.MethodDelete); n != 0 {
		t.Fatalf("%d DELETEs of the session after a cancellation, want it kept", n)
	}
	if err := c.AbortCheckpointed(context.Background(), in, "abort/a.mp4", cp); err != nil {
		t.Fatal(err)
	}
	if n := countMethod(rec, http.MethodDelete); n != 1 {
		t.Errorf("%d DELETEs of the session, want 1", n)
	}
	checkCleared(t, cp)
	if _, ok, _ := emulator.RawGCS(cfg).Head(context.Background(), "abort/a.mp4"); ok {
		t.Error("an object is visible after the abort")
	}
}

// fakeIntegration is an integration on a gcstest server.
func fakeIntegration(t *testing.T, u *emulator.Unsealer, srv *gcstest.Server) *destination.Integration {
	email := emulator.Name("sa-") + "@outputs-test.iam.gserviceaccount.com"
	return u.Integration(destination.GCS, destination.Config{Bucket: "videos", Endpoint: srv.URL(),
		GCSServiceAccountJSON: emulator.ServiceAccountJSON(t, email, true), GCSProjectID: "outputs-test"})
}

func queryDriver() *gcs.Driver {
	return gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}, Resume: gcs.ResumeQuery})
}

func checkContent(t *testing.T, srv *gcstest.Server, key string, want []byte) {
	t.Helper()
	got, ok := srv.Content("videos", key)
	if !ok || sha256.Sum256(got) != sha256.Sum256(want) {
		t.Errorf("%s: stored %d bytes (found %v), want the %d of the file", key, len(got), ok, len(want))
	}
}

// TestResumeQuery runs the status query on gcstest: after an answer lost on the way back (the
// session holds a chunk the checkpoint does not), the resumed upload sends none of what it
// holds; after a chunk the session persisted only in part, it sends the rest.
func TestResumeQuery(t *testing.T) {
	const size = 5*resumePart + 777
	data, _ := io.ReadAll(emulator.NewData(size, 3))
	for _, tc := range []struct {
		name  string
		fault gcstest.Fault
	}{
		{"answer lost", gcstest.Fault{Skip: 2, LoseAnswer: true}},
		{"chunk kept in part", gcstest.Fault{Skip: 2, KeepBytes: 300 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := gcstest.NewServer()
			defer srv.Close()
			var u emulator.Unsealer
			in := fakeIntegration(t, &u, srv)
			srv.InjectFault(tc.fault)
			cp := &memstore.Checkpoint{}
			c1, _ := resumeClient(t, &u, queryDriver(), nil)
			_, err := c1.Upload(context.Background(), in, "q/a.mp4", bytes.NewReader(data), destination.UploadOptions{Size: size, Checkpoint: cp})
			if tc.fault.KeepBytes > 0 {
				// The driver sends the rest of a chunk the session kept in part: no failure.
				if err != nil {
					t.Fatal(err)
				}
				checkContent(t, srv, "q/a.mp4", data)
				if again := srv.Received() - size; again != resumePart-256<<10 {
					t.Errorf("%d bytes sent again, want %d (the rest of the part the session did not keep)", again, resumePart-256<<10)
				}
				return
			}
			if err == nil {
				t.Fatal("upload with a lost answer succeeded")
			}
			before := srv.Received()
			c2, _ := resumeClient(t, &u, queryDriver(), nil)
			if _, err := c2.Upload(context.Background(), in, "q/a.mp4", bytes.NewReader(data), destination.UploadOptions{Size: size, Checkpoint: cp}); err != nil {
				t.Fatal(err)
			}
			if srv.Queries() != 1 {
				t.Errorf("%d status queries, want 1", srv.Queries())
			}
			if again := before + (srv.Received() - before) - size; again != 0 {
				t.Errorf("%d bytes sent again, want 0 (the session said what it holds)", again)
			}
			checkContent(t, srv, "q/a.mp4", data)
			checkCleared(t, cp)
			if srv.Sessions() != 0 {
				t.Errorf("%d sessions left", srv.Sessions())
			}
		})
	}
}

// TestResumeForgotten: a session the service forgot (cancelled, expired) starts afresh, asked
// (the query answers 404) or not (the first chunk does: the next attempt sends it all again).
func TestResumeForgotten(t *testing.T) {
	const size = 3*resumePart + 5
	data, _ := io.ReadAll(emulator.NewData(size, 4))
	for _, query := range []bool{true, false} {
		srv := gcstest.NewServer()
		defer srv.Close()
		var u emulator.Unsealer
		in := fakeIntegration(t, &u, srv)
		d := func() *gcs.Driver {
			if query {
				return queryDriver()
			}
			return gcs.NewDriver(gcs.Options{AllowedTokenHosts: []string{emulator.TokenHost()}, Resume: gcs.ResumeCheckpoint})
		}
		cp := &memstore.Checkpoint{}
		c1, _ := resumeClient(t, &u, d(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := c1.Upload(ctx, in, "f/a.mp4", emulator.NewFileSource(&cancelAt{ra: bytes.NewReader(data), at: 2*resumePart + 9, cancel: cancel}, size),
			destination.UploadOptions{Size: size, Checkpoint: cp})
		cancel()
		if err == nil {
			t.Fatal("interrupted upload succeeded")
		}
		// Forget the session behind the client's back.
		b, _ := cp.Load(context.Background())
		var st struct{ Session []byte }
		var sess struct{ URI string }
		if json.Unmarshal(b, &st) != nil || json.Unmarshal(st.Session, &sess) != nil || sess.URI == "" {
			t.Fatalf("checkpoint %s holds no session", b)
		}
		req, _ := http.NewRequest(http.MethodDelete, sess.URI, nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 499 {
			t.Fatalf("DELETE the session: %v %v", resp, err)
		}
		c2, _ := resumeClient(t, &u, d(), nil)
		_, err = c2.Upload(context.Background(), in, "f/a.mp4", bytes.NewReader(data), destination.UploadOptions{Size: size, Checkpoint: cp})
		if !query {
			if ue := destination.AsUploadError(err); ue == nil || !ue.Transient {
				t.Fatalf("trusted checkpoint of a forgotten session: %v, want a transient failure", err)
			}
			c3, _ := resumeClient(t, &u, d(), nil)
			_, err = c3.Upload(context.Background(), in, "f/a.mp4", bytes.NewReader(data), destination.UploadOptions{Size: size, Checkpoint: cp})
		}
		if err != nil {
			t.Fatalf("query %v: %v", query, err)
		}
		checkContent(t, srv, "f/a.mp4", data)
		checkCleared(t, cp)
	}
}

// TestResumePermanentFailure: a permanent failure (the source ends early) cancels the session
// and clears the checkpoint.
func TestResumePermanentFailure(t *testing.T) {
	srv := gcstest.NewServer()
	defer srv.Close()
	var u emulator.Unsealer
	in := fakeIntegration(t, &u, srv)
	const size = 3 * resumePart
	data, _ := io.ReadAll(emulator.NewData(size, 6))
	cp := &memstore.Checkpoint{}
	c, rec := resumeClient(t, &u, queryDriver(), nil)
	short := &shortAt{ra: bytes.NewReader(data), end: 2*resumePart + 10}
	_, err := c.Upload(context.Background(), in, "p/a.mp4", io.NewSectionReader(short, 0, size), destination.UploadOptions{Size: size, Checkpoint: cp})
	if ue := destination.AsUploadError(err); ue == nil || ue.Transient {
		t.Fatalf("upload of a short source: %v, want a permanent failure", err)
	}
	if n := countMethod(rec, http.MethodDelete); n != 1 {
		t.Errorf("%d DELETEs of the session, want 1", n)
	}
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions left", srv.Sessions())
	}
	checkCleared(t, cp)
}

// shortAt ends at end although its section says more.
type shortAt struct {
	ra  io.ReaderAt
	end int64
}

func (s *shortAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.end {
		return 0, io.EOF
	}
	if rem := s.end - off; int64(len(p)) > rem {
		n, _ := s.ra.ReadAt(p[:rem], off)
		return n, io.EOF
	}
	return s.ra.ReadAt(p, off)
}
