package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/internal/faultproxy"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// resumeSize is the file the resume tests upload: 8 parts and a short ninth.
const resumeSize = 8*partSize + 12345

// concurrency is the parts newClient sends at once: with partSize, the bound on bytes sent
// again after an interruption.
const concurrency = 2

// resumeEnv is a bucket on versitygw reached through a counting proxy.
type resumeEnv struct {
	cfg   destination.Config
	in    *destination.Integration
	u     *emulator.Unsealer
	proxy *faultproxy.Proxy
	raw   *awss3.Client
	file  *os.File
	sum   []byte
	srv   emulator.S3Server
}

func newResumeEnv(t *testing.T, opts faultproxy.Options) *resumeEnv {
	t.Helper()
	srv := emulator.NeedS3(t)
	cfg := srv.Bucket(t)
	opts.Target = srv.Endpoint
	proxy, err := faultproxy.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	e := &resumeEnv{cfg: cfg, proxy: proxy, raw: srv.Client(nil), u: &emulator.Unsealer{}, srv: srv}
	pcfg := cfg
	pcfg.Endpoint = proxy.URL
	e.in = e.u.Integration(destination.S3, pcfg)
	e.file, e.sum = emulator.DataFile(t, resumeSize, 7)
	return e
}

// interrupt uploads key with cp and cancels it once the proxy got between one part and all but
// the last: the session must be kept in cp.
func (e *resumeEnv) interrupt(t *testing.T, key string, cp destination.Checkpoint) {
	t.Helper()
	c := newClient(t, e.u, nil, s3.Options{})
	at := partSize + rand.Int64N(resumeSize-2*partSize)
	base := e.proxy.BodyBytes(http.MethodPut)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil && e.proxy.BodyBytes(http.MethodPut)-base < at {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Upload(ctx, e.in, key, emulator.NewFileSource(e.file, resumeSize), destination.UploadOptions{Size: resumeSize, Checkpoint: cp})
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != destination.CodeCanceled {
		t.Fatalf("interrupted upload: %v, want cancelled", err)
	}
	st, _ := cp.Load(context.Background())
	if len(st) == 0 {
		t.Fatal("an interrupted upload cleared its checkpoint")
	}
	// Let the proxy finish forwarding what the cancelled requests had sent, as a server would
	// before a resume long after.
	for n := int64(-1); n != e.proxy.BodyBytes(http.MethodPut); {
		n = e.proxy.BodyBytes(http.MethodPut)
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("interrupted after %d bytes sent (aimed at %d)", e.proxy.BodyBytes(http.MethodPut)-base, at)
}

// uploads returns the open multipart uploads of the bucket.
func (e *resumeEnv) uploads(t *testing.T) []string {
	t.Helper()
	out, err := e.raw.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(e.cfg.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return ids
}

// checkObject checks key is the file, byte for byte.
func (e *resumeEnv) checkObject(t *testing.T, key string) {
	t.Helper()
	sum, err := e.srv.RawS3(e.cfg).Sum(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sum, e.sum) {
		t.Errorf("%s differs from the file", key)
	}
}

func cleared(t *testing.T, cp destination.Checkpoint) {
	t.Helper()
	if st, _ := cp.Load(context.Background()); st != nil {
		t.Errorf("checkpoint not cleared: %s", st)
	}
}

// TestResume interrupts a checkpointed upload at a random point; a new Client resumes it with
// the checkpoint and sends again at most the parts that were in flight.
func TestResume(t *testing.T) {
	for round := range 3 {
		e := newResumeEnv(t, faultproxy.Options{})
		cp := &memstore.Checkpoint{}
		const key = "resume/render.mp4"
		e.interrupt(t, key, cp)
		first := e.proxy.BodyBytes(http.MethodPut)
		var st struct {
			Session []byte
			Parts   []json.RawMessage
		}
		raw, _ := cp.Load(context.Background())
		if err := json.Unmarshal(raw, &st); err != nil || len(st.Session) == 0 {
			t.Fatalf("checkpoint %s: no session", raw)
		}
		c := newClient(t, e.u, nil, s3.Options{})
		res, err := c.Upload(context.Background(), e.in, key, emulator.NewFileSource(e.file, resumeSize), destination.UploadOptions{Size: resumeSize, Checkpoint: cp})
		if err != nil {
			t.Fatalf("resumed upload: %v", err)
		}
		if res.Checksum != emulator.CRC32C(resumeSize, 7) {
			t.Errorf("checksum %s, want the file's", res.Checksum)
		}
		total := e.proxy.BodyBytes(http.MethodPut)
		resent := total - resumeSize
		t.Logf("round %d: %d parts kept, %d bytes before the interruption, %d after, %d sent again (bound %d)",
			round, len(st.Parts), first, total-first, resent, partSize*concurrency)
		if resent < 0 || resent > partSize*concurrency {
			t.Errorf("%d bytes sent again, want at most %d", resent, partSize*concurrency)
		}
		e.checkObject(t, key)
		if ups := e.uploads(t); len(ups) != 0 {
			t.Errorf("multipart uploads left: %v", ups)
		}
		cleared(t, cp)
	}
}

// TestResumeForgotten resumes a checkpoint whose multipart upload S3 no longer knows (aborted,
// expired): the upload starts afresh and succeeds.
func TestResumeForgotten(t *testing.T) {
	e := newResumeEnv(t, faultproxy.Options{})
	cp := &memstore.Checkpoint{}
	const key = "resume/forgotten.mp4"
	e.interrupt(t, key, cp)
	out, err := e.raw.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(e.cfg.Bucket)})
	if err != nil || len(out.Uploads) != 1 {
		t.Fatalf("uploads %v, %v: want the interrupted one", out, err)
	}
	if _, err := e.raw.AbortMultipartUpload(context.Background(), &awss3.AbortMultipartUploadInput{Bucket: aws.String(e.cfg.Bucket),
		Key: out.Uploads[0].Key, UploadId: out.Uploads[0].UploadId}); err != nil {
		t.Fatal(err)
	}
	before := e.proxy.BodyBytes(http.MethodPut)
	c := newClient(t, e.u, nil, s3.Options{})
	if _, err := c.Upload(context.Background(), e.in, key, emulator.NewFileSource(e.file, resumeSize), destination.UploadOptions{Size: resumeSize, Checkpoint: cp}); err != nil {
		t.Fatalf("upload after the session was forgotten: %v", err)
	}
	if sent := e.proxy.BodyBytes(http.MethodPut) - before; sent != resumeSize {
		t.Errorf("sent %d bytes, want the whole file (%d)", sent, resumeSize)
	}
	e.checkObject(t, key)
	if ups := e.uploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left: %v", ups)
	}
	cleared(t, cp)
}

// TestResumeOtherUpload gives an upload of another key (and one of another size) the checkpoint
// of an interrupted one: it is ignored, and the upload sends the whole file.
func TestResumeOtherUpload(t *testing.T) {
	e := newResumeEnv(t, faultproxy.Options{})
	cp := &memstore.Checkpoint{}
	e.interrupt(t, "resume/a.mp4", cp)
	saved, _ := cp.Load(context.Background())
	c := newClient(t, e.u, nil, s3.Options{})
	before := e.proxy.BodyBytes(http.MethodPut)
	if _, err := c.Upload(context.Background(), e.in, "resume/b.mp4", emulator.NewFileSource(e.file, resumeSize), destination.UploadOptions{Size: resumeSize, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if sent := e.proxy.BodyBytes(http.MethodPut) - before; sent != resumeSize {
		t.Errorf("another key: sent %d bytes, want the whole file (%d)", sent, resumeSize)
	}
	e.checkObject(t, "resume/b.mp4")
	cleared(t, cp)

	// The same key, another size.
	_ = cp.Save(context.Background(), saved)
	const short = resumeSize - partSize
	before = e.proxy.BodyBytes(http.MethodPut)
	if _, err := c.Upload(context.Background(), e.in, "resume/a.mp4", emulator.NewFileSource(e.file, short), destination.UploadOptions{Size: short, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if sent := e.proxy.BodyBytes(http.MethodPut) - before; sent != short {
		t.Errorf("another size: sent %d bytes, want the whole file (%d)", sent, short)
	}
	cleared(t, cp)
	// The interrupted upload of a is still there (nobody resumed it): its owner aborts it.
	_ = cp.Save(context.Background(), saved)
	if err := c.AbortCheckpointed(context.Background(), e.in, "resume/a.mp4", cp); err != nil {
		t.Fatal(err)
	}
	if ups := e.uploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left: %v", ups)
	}
	cleared(t, cp)
}

// failingAt fails every ReadAt that reaches offset at.
type failingAt struct {
	ra io.ReaderAt
	at int64
}

func (f failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, errors.New("disk read failed")
	}
	return f.ra.ReadAt(p, off)
}

// TestResumePermanentFailure resumes an interrupted upload whose source then fails for good
// (the file cannot be read): the cleanup aborts the resumed multipart upload and the checkpoint is cleared. And
// AbortCheckpointed removes a kept session.
func TestResumePermanentFailure(t *testing.T) {
	e := newResumeEnv(t, faultproxy.Options{})
	cp := &memstore.Checkpoint{}
	const key = "resume/refused.mp4"
	e.interrupt(t, key, cp)
	if ups := e.uploads(t); len(ups) != 1 {
		t.Fatalf("uploads %v, want the interrupted one", ups)
	}
	c := newClient(t, e.u, nil, s3.Options{})
	src := io.NewSectionReader(failingAt{e.file, resumeSize - 1}, 0, resumeSize)
	_, err := c.Upload(context.Background(), e.in, key, src, destination.UploadOptions{Size: resumeSize, Checkpoint: cp})
	if ue := destination.AsUploadError(err); ue == nil || ue.Transient {
		t.Fatalf("upload with refused parts: %v, want a permanent failure", err)
	}
	if ups := e.uploads(t); len(ups) != 0 {
		t.Errorf("multipart uploads left after a permanent failure: %v", ups)
	}
	cleared(t, cp)

	// AbortCheckpointed on a kept session.
	e.interrupt(t, key, cp)
	id := sessionUploadID(t, cp)
	if err := c.AbortCheckpointed(context.Background(), e.in, key, cp); err != nil {
		t.Fatal(err)
	}
	// Only the session's upload is AbortCheckpointed's to remove. A part of the failed upload
	// above that was still on its way through the proxy when its cleanup ended can be stored
	// after all (S3 documents that an abort may have to be repeated; the janitor sweeps such
	// uploads): versitygw then keeps it under the aborted upload, unlisted until another upload
	// of the key begins, as this one did.
	for _, up := range e.uploads(t) {
		if k, upID, _ := strings.Cut(up, " "); upID == id {
			t.Errorf("the session's multipart upload is left after AbortCheckpointed: %v", up)
		} else {
			t.Logf("an earlier upload's late part brought back %s", up)
			_, _ = e.raw.AbortMultipartUpload(context.Background(), &awss3.AbortMultipartUploadInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k), UploadId: aws.String(upID)})
		}
	}
	cleared(t, cp)
	// Aborting again (nothing saved, or a session S3 forgot) is not an error.
	if err := c.AbortCheckpointed(context.Background(), e.in, key, cp); err != nil {
		t.Errorf("AbortCheckpointed of nothing: %v", err)
	}
	var _ provider.SessionAborter = s3.NewDriver(s3.Options{})
}

// sessionUploadID returns the multipart upload ID of the session cp keeps.
func sessionUploadID(t *testing.T, cp destination.Checkpoint) string {
	t.Helper()
	raw, err := cp.Load(context.Background())
	var st struct {
		Session []byte `json:"session"`
	}
	var sess struct {
		UploadID string `json:"uploadId"`
	}
	if err != nil || json.Unmarshal(raw, &st) != nil || json.Unmarshal(st.Session, &sess) != nil || sess.UploadID == "" {
		t.Fatalf("no session in the checkpoint (%v)", err)
	}
	return sess.UploadID
}

// lostClear is a checkpoint whose clear is lost, as when the worker dies between the commit and
// the clear.
type lostClear struct{ memstore.Checkpoint }

func (c *lostClear) Save(ctx context.Context, state []byte) error {
	if state == nil {
		return nil
	}
	return c.Checkpoint.Save(ctx, state)
}

// TestResumeAlreadyCommitted: an upload whose commit happened but whose checkpoint was not
// cleared is found committed by the next attempt: nothing is sent again, nothing committed
// twice, the object verified.
func TestResumeAlreadyCommitted(t *testing.T) {
	e := newResumeEnv(t, faultproxy.Options{})
	cp := &lostClear{}
	const key = "resume/committed.mp4"
	c := newClient(t, e.u, nil, s3.Options{})
	src := func() io.Reader { return emulator.NewFileSource(e.file, resumeSize) }
	if _, err := c.Upload(context.Background(), e.in, key, src(), destination.UploadOptions{Size: resumeSize, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cp.Load(context.Background()); st == nil {
		t.Fatal("the checkpoint was cleared; the test needs it kept")
	}
	before, posts := e.proxy.BodyBytes(http.MethodPut), e.proxy.BodyBytes(http.MethodPost)
	res, err := newClient(t, e.u, nil, s3.Options{}).Upload(context.Background(), e.in, key, src(), destination.UploadOptions{Size: resumeSize, Checkpoint: &cp.Checkpoint})
	if err != nil {
		t.Fatal(err)
	}
	if sent := e.proxy.BodyBytes(http.MethodPut) - before; sent != 0 {
		t.Errorf("sent %d bytes again, want 0", sent)
	}
	if p := e.proxy.BodyBytes(http.MethodPost) - posts; p != 0 {
		t.Errorf("sent %d bytes of POSTs (a second commit?), want 0", p)
	}
	if res.Size != resumeSize {
		t.Errorf("result %+v", res)
	}
	e.checkObject(t, key)
	cleared(t, &cp.Checkpoint)
}
