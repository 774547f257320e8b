package outputs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
)

// fakeUploader is a unit-test double of our own Uploader interface (the provider tests use real
// emulators): it consumes the stream, hashes it, and fails as scripted.
type fakeUploader struct {
	test destination.TestResult
	mu   sync.Mutex
	// failures[integrationID] errors are returned, one per attempt, before success.
	failures map[string][]error
	delay    map[string]time.Duration
	sums     map[string][32]byte
	attempts map[string]int
}

func (f *fakeUploader) Test(context.Context, *destination.Integration) destination.TestResult {
	return f.test
}

func (f *fakeUploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts = map[string]int{}
		f.sums = map[string][32]byte{}
	}
	f.attempts[in.ID]++
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
	return destination.UploadResult{Key: key, URL: "https://example.test/" + key, Size: n}, nil
}

// newStateKeyring is the OAuth state keyset: separate from the secrets keyset.
func newStateKeyring() (*crypto.Keyring, error) { return crypto.NewInsecureDevelopmentKeyring() }

// memCDN is a unit-test double of our own destination.CDN interface, in memory.
type memCDN struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func newMemCDN() *memCDN { return &memCDN{objects: map[string][]byte{}} }

func (c *memCDN) Upload(ctx context.Context, key string, src io.Reader, _ destination.UploadOptions) (destination.UploadResult, error) {
	b, err := io.ReadAll(src)
	if err != nil {
		return destination.UploadResult{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.objects[key] = b
	return destination.UploadResult{Key: key, Size: int64(len(b))}, nil
}

func (c *memCDN) URL(_ context.Context, key string) (string, error) {
	return "https://cdn.test/" + key, nil
}

func (c *memCDN) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.objects[key]
	if !ok {
		return nil, 0, destination.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}
