// Package deliverytest provides in-memory test doubles of the delivery engine's storage: an
// Uploader (a destination.Uploader that answers as scripted, per integration and per attempt)
// and a CDN (a destination.CDN that keeps its objects in memory). With memstore they let a host
// unit-test code built on delivery.Engine or outputs.Service without a network, an emulator or
// a cloud SDK: the package imports only package destination and the standard library.
//
// Both are ready to use as their zero value and safe for concurrent use; the engine uploads to
// every target at once. Script them (Uploader.Fail, Uploader.SetDelay, CDN.Fail) before or
// while delivering, and check what they were given (Uploader.Attempts, Uploader.Sum,
// CDN.Object) afterwards. Their checksums are real CRC32Cs of the bytes read, in the format of
// destination.UploadResult.Checksum.
package deliverytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Uploader is a scripted destination.Uploader. An attempt that is not scripted to fail reads
// its source to the end, reports its size to UploadOptions.Progress once, records the SHA-256
// of the bytes read, and succeeds with the requested key, a URL under https://example.test/ and
// the bytes' CRC32C. It ignores UploadOptions.CopyFrom (it always streams) and Checkpoint.
//
// The zero value is ready to use: every upload succeeds and Test reports OK. An Uploader must
// not be copied after first use; embed it (by value or pointer) in a type of your own to
// override Upload or Test and call the Uploader's from there.
type Uploader struct {
	mu       sync.Mutex
	test     *destination.TestResult // nil: OK
	failures map[string][]error
	delays   map[string]time.Duration
	attempts map[string]int
	sums     map[string][32]byte
	last     map[string]*destination.Integration
}

// Fail scripts the next len(errs) attempts of integrationID (after any scripted before) to
// return errs, one per attempt and in order, before reading the source. Later attempts
// succeed. An attempt takes its error when it starts, so one that SetDelay holds until its
// context ends uses its error up. Give *destination.UploadError values with Transient set to exercise the engine's
// retries, without it to fail an output at once.
func (u *Uploader) Fail(integrationID string, errs ...error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failures == nil {
		u.failures = map[string][]error{}
	}
	u.failures[integrationID] = append(u.failures[integrationID], errs...)
}

// SetDelay makes every later attempt of integrationID wait d (or until its context ends, then
// it returns the context's error) before anything else, a scripted failure included. d ≤ 0
// removes the delay.
func (u *Uploader) SetDelay(integrationID string, d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.delays == nil {
		u.delays = map[string]time.Duration{}
	}
	if d <= 0 {
		delete(u.delays, integrationID)
		return
	}
	u.delays[integrationID] = d
}

// SetTestResult sets what Test returns from now on (destination.TestResult{OK: true} until it
// is called).
func (u *Uploader) SetTestResult(res destination.TestResult) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.test = &res
}

// Test returns the result SetTestResult set, or OK. It probes nothing and records nothing.
func (u *Uploader) Test(context.Context, *destination.Integration) destination.TestResult {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.test == nil {
		return destination.TestResult{OK: true}
	}
	return *u.test
}

// Upload counts an attempt of in.ID and records in as its last integration, waits the delay
// SetDelay set, returns the next error Fail scripted, or else reads src to the end and
// succeeds. An error reading src is returned as it is.
func (u *Uploader) Upload(ctx context.Context, in *destination.Integration, key string, src io.Reader, opts destination.UploadOptions) (destination.UploadResult, error) {
	u.mu.Lock()
	if u.attempts == nil {
		u.attempts, u.sums, u.last = map[string]int{}, map[string][32]byte{}, map[string]*destination.Integration{}
	}
	u.attempts[in.ID]++
	u.last[in.ID] = in
	var fail error
	if errs := u.failures[in.ID]; len(errs) > 0 {
		fail, u.failures[in.ID] = errs[0], errs[1:]
	}
	d := u.delays[in.ID]
	u.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return destination.UploadResult{}, ctx.Err()
		}
	}
	if fail != nil {
		return destination.UploadResult{}, fail
	}
	sha, crc := sha256.New(), crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(sha, crc), src)
	if err != nil {
		return destination.UploadResult{}, err
	}
	if opts.Progress != nil {
		opts.Progress(n)
	}
	u.mu.Lock()
	u.sums[in.ID] = [32]byte(sha.Sum(nil))
	u.mu.Unlock()
	return destination.UploadResult{Key: key, URL: joinURL("https://example.test", key), Size: n, Checksum: checksum(crc)}, nil
}

// Attempts returns how many times Upload was called for integrationID, failed attempts
// included.
func (u *Uploader) Attempts(integrationID string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.attempts[integrationID]
}

// Sum returns the SHA-256 of the bytes of the last successful upload to integrationID, or the
// zero array when there was none.
func (u *Uploader) Sum(integrationID string) [32]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sums[integrationID]
}

// Integration returns the integration the last attempt of integrationID was given (as the
// engine leased it: its version and sealed secrets), or nil when there was none.
func (u *Uploader) Integration(integrationID string) *destination.Integration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last[integrationID]
}

// CDN is an in-memory destination.CDN. Upload reads its source to the end and commits the
// object only when the source ended cleanly and the context is still live, as provider.NewCDN
// promises; URL is BaseURL plus the key, each segment escaped; Open streams a copy of the
// object back.
//
// The zero value is ready to use. A CDN must not be copied after first use.
type CDN struct {
	// BaseURL is what URL puts before the key; "https://cdn.test" when empty. Set it before
	// first use.
	BaseURL string

	mu      sync.Mutex
	objects map[string][]byte
	fail    []error
}

// Fail scripts the next len(errs) uploads (after any scripted before) to return errs, one per
// upload and in order, without reading their source. Later uploads succeed.
func (c *CDN) Fail(errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = append(c.fail, errs...)
}

// Upload returns the next error Fail scripted, or reads src to the end and stores it under
// key, replacing what was there. A read error fails it with a *destination.UploadError of code
// destination.CodeSourceFailed, and a context that has ended by the end of the source with the
// context's error; neither stores anything. The UploadOptions are ignored.
func (c *CDN) Upload(ctx context.Context, key string, src io.Reader, _ destination.UploadOptions) (destination.UploadResult, error) {
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
	crc := crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(&buf, crc), src)
	if err != nil {
		return destination.UploadResult{}, &destination.UploadError{Code: destination.CodeSourceFailed, Message: "reading the source failed", Err: err}
	}
	if err := ctx.Err(); err != nil {
		return destination.UploadResult{}, err
	}
	c.mu.Lock()
	if c.objects == nil {
		c.objects = map[string][]byte{}
	}
	c.objects[key] = buf.Bytes()
	c.mu.Unlock()
	return destination.UploadResult{Key: key, Size: n, Checksum: checksum(crc)}, nil
}

// URL returns BaseURL (or https://cdn.test) joined with key, each of its segments
// path-escaped, as provider.NewCDN does with a base URL. The object need not exist.
func (c *CDN) URL(_ context.Context, key string) (string, error) {
	base := c.BaseURL
	if base == "" {
		base = "https://cdn.test"
	}
	return joinURL(base, key), nil
}

// Open returns a reader of the object under key and its size; an error matching
// destination.ErrNotFound when there is none.
func (c *CDN) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	b, ok := c.Object(key)
	if !ok {
		return nil, 0, fmt.Errorf("deliverytest: CDN object %q: %w", key, destination.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// Object returns the bytes stored under key and whether there are any. The bytes are shared
// with the CDN: do not modify them.
func (c *CDN) Object(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.objects[key]
	return b, ok
}

// Keys returns the keys of the stored objects, sorted.
func (c *CDN) Keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.objects))
	for k := range c.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Reset removes every stored object (scripted failures are kept).
func (c *CDN) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.objects)
}

var (
	_ destination.Uploader = (*Uploader)(nil)
	_ destination.CDN      = (*CDN)(nil)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum formats a CRC32C as destination.UploadResult.Checksum does.
func checksum(h hash.Hash32) string {
	return "crc32c:" + base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, h.Sum32()))
}

// joinURL is provider.JoinURL (which this package does not import): base, "/", and key with
// each segment path-escaped.
func joinURL(base, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimRight(base, "/") + "/" + strings.Join(segs, "/")
}
