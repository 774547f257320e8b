package emulator

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// Request is what a Recorder kept of one request: never the body, only its length.
type Request struct {
	Method string
	URL    *url.URL
	Host   string
	Header http.Header
	// BodyBytes is how many body bytes were sent (counted while streaming).
	BodyBytes int64
}

// ErrStub is the error a Recorder with Stub set answers every request with.
var ErrStub = errors.New("emulator: request recorded and not sent")

// Recorder records the requests that pass through it. Use Wrap as
// provider.Options.WrapTransport. With Stub set it sends nothing and fails every request with
// ErrStub (to see what a client would send to a host that does not exist here).
type Recorder struct {
	Stub bool

	mu   sync.Mutex
	reqs []*Request
}

// Wrap returns a RoundTripper that records each request and passes it to next.
func (r *Recorder) Wrap(next http.RoundTripper) http.RoundTripper {
	return rtFunc(func(req *http.Request) (*http.Response, error) {
		rec := &Request{Method: req.Method, URL: req.URL, Host: req.Host, Header: req.Header.Clone()}
		if rec.Host == "" {
			rec.Host = req.URL.Host
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, rec)
		r.mu.Unlock()
		if r.Stub {
			if req.Body != nil {
				n, _ := io.Copy(io.Discard, req.Body)
				req.Body.Close()
				r.mu.Lock()
				rec.BodyBytes = n
				r.mu.Unlock()
			}
			return nil, ErrStub
		}
		if req.Body != nil && req.Body != http.NoBody {
			req = req.Clone(req.Context())
			req.Body = &countingBody{rc: req.Body, r: r, rec: rec}
		}
		return next.RoundTrip(req)
	})
}

// Requests returns copies of the recorded requests, in order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, len(r.reqs))
	for i, q := range r.reqs {
		out[i] = *q
	}
	return out
}

// Reset forgets the recorded requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	rc  io.ReadCloser
	r   *Recorder
	rec *Request
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.r.mu.Lock()
	b.rec.BodyBytes += int64(n)
	b.r.mu.Unlock()
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
