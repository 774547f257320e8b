package deliverytest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/delivery/deliverytest"
	"github.com/ilovevideoeditor/outputs/destination"
)

var errBroken = errors.New("broken pipe")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func TestUploaderScript(t *testing.T) {
	ctx := context.Background()
	u := &deliverytest.Uploader{}
	in := &destination.Integration{ID: "int-1", Version: 3}
	if res := u.Test(ctx, in); !res.OK {
		t.Errorf("zero Uploader's Test: %+v", res)
	}
	u.SetTestResult(destination.TestResult{Code: "invalid_credentials"})
	if res := u.Test(ctx, in); res.OK || res.Code != "invalid_credentials" {
		t.Errorf("scripted Test: %+v", res)
	}

	first, second := errors.New("first"), errors.New("second")
	u.Fail("int-1", first)
	u.Fail("int-1", second) // appended
	for _, want := range []error{first, second} {
		if _, err := u.Upload(ctx, in, "k", bytes.NewReader([]byte("x")), destination.UploadOptions{}); err != want {
			t.Errorf("err = %v, want %v", err, want)
		}
	}
	if s := u.Sum("int-1"); s != ([32]byte{}) {
		t.Error("a failed attempt recorded a sum")
	}
	var progress int64
	data := []byte("123456789")
	res, err := u.Upload(ctx, in, "renders/a b.mp4", bytes.NewReader(data), destination.UploadOptions{Progress: func(n int64) { progress = n }})
	if err != nil {
		t.Fatal(err)
	}
	// CRC32C("123456789") = 0xE3069283.
	if res.Key != "renders/a b.mp4" || res.URL != "https://example.test/renders/a%20b.mp4" || res.Size != 9 || res.Checksum != "crc32c:4waSgw==" {
		t.Errorf("result %+v", res)
	}
	if progress != 9 || u.Attempts("int-1") != 3 || u.Sum("int-1") != sha256.Sum256(data) || u.Integration("int-1") != in {
		t.Errorf("progress %d, attempts %d, sum ok %v, integration %v", progress, u.Attempts("int-1"), u.Sum("int-1") == sha256.Sum256(data), u.Integration("int-1"))
	}
	if u.Attempts("other") != 0 || u.Integration("other") != nil {
		t.Error("an integration never uploaded to has attempts")
	}
	if _, err := u.Upload(ctx, in, "k", errReader{}, destination.UploadOptions{}); !errors.Is(err, errBroken) {
		t.Errorf("read error: %v", err)
	}
}

func TestUploaderDelay(t *testing.T) {
	u := &deliverytest.Uploader{}
	in := &destination.Integration{ID: "slow"}
	u.SetDelay("slow", time.Minute)
	u.Fail("slow", errors.New("not reached"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := u.Upload(ctx, in, "k", bytes.NewReader(nil), destination.UploadOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the delay outlived its context")
	}
	// The cancelled attempt took the scripted failure with it.
	u.Fail("slow", errors.New("after the delay"))
	u.SetDelay("slow", 10*time.Millisecond)
	if _, err := u.Upload(context.Background(), in, "k", bytes.NewReader(nil), destination.UploadOptions{}); err == nil || err.Error() != "after the delay" {
		t.Fatalf("after the delay, the scripted failure: %v", err)
	}
	u.SetDelay("slow", 0)
	if _, err := u.Upload(context.Background(), in, "k", bytes.NewReader(nil), destination.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCDN(t *testing.T) {
	ctx := context.Background()
	c := &deliverytest.CDN{}
	if u, _ := c.URL(ctx, "renders/r 1/a#b.mp4"); u != "https://cdn.test/renders/r%201/a%23b.mp4" {
		t.Errorf("URL %s", u)
	}
	if _, _, err := c.Open(ctx, "missing"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Open of a missing key: %v", err)
	}
	res, err := c.Upload(ctx, "renders/r/a.mp4", bytes.NewReader([]byte("123456789")), destination.UploadOptions{})
	if err != nil || res.Key != "renders/r/a.mp4" || res.Size != 9 || res.Checksum != "crc32c:4waSgw==" {
		t.Fatalf("%+v %v", res, err)
	}
	rc, n, err := c.Open(ctx, "renders/r/a.mp4")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if n != 9 || string(b) != "123456789" {
		t.Errorf("Open: %d %q", n, b)
	}

	// Nothing is stored from a failed source, a cancelled upload or a scripted failure.
	scripted := &destination.UploadError{Code: destination.CodeUnavailable, Transient: true}
	c.Fail(scripted)
	if _, err := c.Upload(ctx, "scripted", bytes.NewReader(nil), destination.UploadOptions{}); err != scripted {
		t.Errorf("scripted: %v", err)
	}
	_, err = c.Upload(ctx, "broken", io.MultiReader(bytes.NewReader([]byte("part")), errReader{}), destination.UploadOptions{})
	if ue := destination.AsUploadError(err); ue == nil || ue.Code != destination.CodeSourceFailed || !errors.Is(err, errBroken) {
		t.Errorf("read error: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Upload(cctx, "cancelled", bytes.NewReader([]byte("x")), destination.UploadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if keys := c.Keys(); !slices.Equal(keys, []string{"renders/r/a.mp4"}) {
		t.Errorf("keys %v", keys)
	}
	c.Reset()
	if _, ok := c.Object("renders/r/a.mp4"); ok || len(c.Keys()) != 0 {
		t.Error("Reset kept objects")
	}

	other := &deliverytest.CDN{BaseURL: "https://media.example.com/dl/"}
	if u, _ := other.URL(ctx, "a/b.mp4"); u != "https://media.example.com/dl/a/b.mp4" {
		t.Errorf("URL with BaseURL %s", u)
	}
}

// TestConcurrent: scripting, uploading and reading back from many goroutines at once (run with
// -race).
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	u, c := &deliverytest.Uploader{}, &deliverytest.CDN{}
	var wg sync.WaitGroup
	for i := range 16 {
		id := fmt.Sprint("int-", i%4)
		wg.Go(func() {
			in := &destination.Integration{ID: id}
			u.Fail(id, errors.New("once"))
			u.SetDelay(id, time.Microsecond)
			_, _ = u.Upload(ctx, in, "k", bytes.NewReader([]byte(id)), destination.UploadOptions{})
			_ = u.Attempts(id)
			_ = u.Sum(id)
			_ = u.Integration(id)
			_ = u.Test(ctx, in)
			c.Fail(errors.New("once"))
			_, _ = c.Upload(ctx, fmt.Sprint("k", i), bytes.NewReader([]byte(id)), destination.UploadOptions{})
			_, _ = c.Object(fmt.Sprint("k", i))
			_ = c.Keys()
		})
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		total += u.Attempts(fmt.Sprint("int-", i))
	}
	if total != 16 {
		t.Errorf("%d attempts, want 16", total)
	}
}
