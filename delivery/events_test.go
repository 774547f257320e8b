package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
)

// memCDN is a unit-test double of our own destination.CDN interface: it keeps objects in memory
// and commits one only when its source ended cleanly (as the provider's CDN adapter promises).
type memCDN struct {
	mu      sync.Mutex
	objects map[string][]byte
	// fail, when set, is returned by the first len(fail) uploads.
	fail []error
}

func newMemCDN() *memCDN { return &memCDN{objects: map[string][]byte{}} }

func (c *memCDN) Upload(ctx context.Context, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	c.mu.Lock()
	var fail error
	if len(c.fail) > 0 {
		fail, c.fail = c.fail[0], c.fail[1:]
	}
	c.mu.Unlock()
	if fail != nil {
		return destination.UploadResult{}, fail
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, src)
	if err != nil {
		return destination.UploadResult{}, &destination.UploadError{Code: destination.CodeSourceFailed, Message: "reading failed", Err: err}
	}
	if err := ctx.Err(); err != nil {
		return destination.UploadResult{}, err
	}
	c.mu.Lock()
	c.objects[key] = buf.Bytes()
	c.mu.Unlock()
	return destination.UploadResult{Key: key, Size: n}, nil
}

func (c *memCDN) URL(_ context.Context, key string) (string, error) {
	return "https://cdn.test/" + url.PathEscape(key), nil
}

func (c *memCDN) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.objects[key]
	if !ok {
		return nil, 0, fmt.Errorf("memCDN: %s: %w", key, destination.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (c *memCDN) get(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[key]
}

// fakeUploader is a unit-test double of our own Uploader interface (real storage is exercised
// with the emulators): it consumes the stream, hashes it, and fails as scripted.
type fakeUploader struct {
	mu sync.Mutex
	// failures[integrationID] errors are returned, one per attempt, before success.
	failures map[string][]error
	// delay[integrationID] is waited (or ctx) before reading.
	delay    map[string]time.Duration
	sums     map[string][32]byte
	attempts map[string]int
	got      map[string]*destination.Integration // the integration of the last attempt
}

func (f *fakeUploader) Test(context.Context, *destination.Integration) destination.TestResult {
	return destination.TestResult{OK: true}
}

func (f *fakeUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts, f.sums, f.got = map[string]int{}, map[string][32]byte{}, map[string]*destination.Integration{}
	}
	f.attempts[in.ID]++
	f.got[in.ID] = in
	var fail error
	if errs := f.failures[in.ID]; len(errs) > 0 {
		fail, f.failures[in.ID] = errs[0], errs[1:]
	}
	d := f.delay[in.ID]
	f.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return destination.UploadResult{}, ctx.Err()
		}
	}
	if fail != nil {
		return destination.UploadResult{}, fail
	}
	h := sha256.New()
	n, err := io.Copy(h, src)
	if err != nil {
		return destination.UploadResult{}, err
	}
	if opts.Progress != nil {
		opts.Progress(n)
	}
	f.mu.Lock()
	f.sums[in.ID] = [32]byte(h.Sum(nil))
	f.mu.Unlock()
	return destination.UploadResult{Key: key, URL: "https://example.test/" + key, Size: n, Checksum: "crc32c:AAAAAA=="}, nil
}

func (f *fakeUploader) attemptsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[id]
}

// events records the engine's events.
type events struct {
	mu   sync.Mutex
	list []delivery.Event
}

func (e *events) add(ev delivery.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) all() []delivery.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]delivery.Event(nil), e.list...)
}
