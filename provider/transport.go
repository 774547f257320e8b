package provider

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// errBodyReleased is what a request body reads after its RoundTrip returned.
var errBodyReleased = errors.New("provider: request body read after the response was returned")

// releaseTransport returns a response only once the request body can no longer be read: every
// body it hands to the transport underneath is guarded, and before RoundTrip returns (with a
// response or an error) the guard is closed, waiting for a Read in progress to finish; later
// Reads fail without touching the caller's body.
//
// net/http may keep reading a request body after RoundTrip returned when the server answered
// before reading it all (a 403 or 307 sent early), while the caller, seeing the response,
// reuses or frees the buffer behind the body: azblob does, and the process crashes
// (Azure/azure-sdk-for-go#21555). With this transport the caller's buffer is never read once it
// has the response; net/http's write fails instead and the connection is dropped.
type releaseTransport struct {
	base http.RoundTripper
}

func (t releaseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.base.RoundTrip(req)
	}
	g := &bodyGuard{}
	r := *req // RoundTrip may not modify the caller's request
	r.Body = g.wrap(req.Body)
	if req.GetBody != nil {
		getBody := req.GetBody
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return g.wrap(b), nil
		}
	}
	resp, err := t.base.RoundTrip(&r)
	g.release()
	return resp, err
}

// bodyGuard serializes the reads of one request's bodies with their release.
type bodyGuard struct {
	mu       sync.Mutex
	released bool
}

func (g *bodyGuard) wrap(rc io.ReadCloser) io.ReadCloser { return &guardedBody{g: g, rc: rc} }

func (g *bodyGuard) release() {
	g.mu.Lock()
	g.released = true
	g.mu.Unlock()
}

type guardedBody struct {
	g      *bodyGuard
	rc     io.ReadCloser
	closed bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	if b.g.released || b.closed {
		return 0, errBodyReleased
	}
	return b.rc.Read(p)
}

// Close stops further reads; the caller's body is closed only while the request is in flight
// (after the response it belongs to the caller again).
func (b *guardedBody) Close() error {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.g.released {
		return nil
	}
	return b.rc.Close()
}
