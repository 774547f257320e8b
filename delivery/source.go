package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// errSource marks a failure of the render's source (as opposed to the destination's).
var errSource = errors.New("delivery: the source failed")

// guard is one attempt's view of the source: it hands out exactly size bytes, then io.EOF. A
// source that ends early or has more to give fails the read (so the uploader aborts instead of
// committing), a read error or a panic in the source becomes a failed read, and reads stop as
// soon as the attempt's context ends. lastRead feeds the stall watchdog.
type guard struct {
	ctx      context.Context
	r        io.Reader
	at       *atGuard  // the ReaderAt view of a ReaderAt source (see source)
	closer   io.Closer // the Open reader, closed once with the attempt
	lazy     *Source   // a source to Open on the first Read (see openLazily)
	size, n  int64
	lastRead atomic.Int64 // unix nanoseconds of the last read that gave bytes

	mu  sync.Mutex
	err *destination.UploadError // the source's own failure, if any
}

// newGuard returns the guard of one attempt; open gives it its reader.
func newGuard(ctx context.Context, size int64) *guard {
	g := &guard{ctx: ctx, size: size}
	g.lastRead.Store(time.Now().UnixNano())
	return g
}

// open prepares the source for the attempt: a section of the ReaderAt, or a fresh reader from
// Open (a panic, an error or a nil reader is the source's failure).
func (g *guard) open(src Source) (err error) {
	if src.ReaderAt != nil {
		g.r, g.at = io.NewSectionReader(src.ReaderAt, 0, src.Size), &atGuard{guard: g, ra: src.ReaderAt}
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = sourceFailure("the source's Open panicked", fmt.Errorf("panic: %v", v))
		}
	}()
	rc, err := src.Open(g.ctx)
	switch {
	case err != nil && g.ctx.Err() != nil:
		return context.Cause(g.ctx)
	case err != nil:
		return sourceFailure("the source could not be opened", err)
	case isNil(rc):
		return sourceFailure("the source's Open returned no reader", nil)
	}
	g.r, g.closer = rc, rc
	return nil
}

func sourceFailure(msg string, cause error) *destination.UploadError {
	return &destination.UploadError{Code: destination.CodeSourceFailed, Message: msg, Err: errors.Join(errSource, cause)}
}

// openLazily makes the guard Open src on its first Read instead of now: an upload that copies
// server-side from the CDN copy never reads it.
func (g *guard) openLazily(src Source) { g.lazy = &src }

// Read implements io.Reader.
func (g *guard) Read(p []byte) (n int, err error) {
	if ue := g.failure(); ue != nil {
		return 0, ue
	}
	if g.lazy != nil {
		src := *g.lazy
		g.lazy = nil
		if err := g.open(src); err != nil {
			if ue, ok := err.(*destination.UploadError); ok {
				return 0, g.fail(ue)
			}
			return 0, err
		}
	}
	if err := g.ctx.Err(); err != nil {
		return 0, context.Cause(g.ctx)
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for at most one byte more than remains, to find a source longer than its size.
	if rem := g.size - g.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, bad, err := g.read(p)
	if bad != nil {
		return 0, g.fail(bad)
	}
	g.n += int64(n)
	if n > 0 {
		g.lastRead.Store(time.Now().UnixNano())
	}
	switch {
	case g.n > g.size:
		n -= int(g.n - g.size)
		g.n = g.size
		return n, g.fail(&destination.UploadError{Code: destination.CodeSourceSizeMismatch,
			Message: fmt.Sprintf("the source is longer than its declared size of %d bytes", g.size), Err: errSource})
	case err == io.EOF && g.n < g.size:
		return n, g.fail(&destination.UploadError{Code: destination.CodeSourceSizeMismatch,
			Message: fmt.Sprintf("the source ended after %d of its declared %d bytes", g.n, g.size), Err: errSource})
	case err == io.EOF:
		return n, io.EOF
	case err != nil && g.ctx.Err() != nil:
		return n, context.Cause(g.ctx)
	case err != nil:
		return n, g.fail(sourceFailure("reading the source failed", err))
	}
	return n, nil
}

// read calls the source; bad reports a panic or an impossible count.
func (g *guard) read(p []byte) (n int, bad *destination.UploadError, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, bad, err = 0, sourceFailure("the source panicked", fmt.Errorf("panic: %v", v)), nil
		}
	}()
	n, err = g.r.Read(p)
	if n < 0 || n > len(p) {
		return 0, sourceFailure("the source returned an impossible count", fmt.Errorf("read returned %d for %d bytes", n, len(p))), nil
	}
	return n, nil, err
}

func (g *guard) fail(ue *destination.UploadError) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = ue
	}
	return g.err
}

// failure returns the source's own failure, if it had one.
func (g *guard) failure() *destination.UploadError {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// close closes an Open reader, recovering a panic.
func (g *guard) close() {
	if g.closer == nil {
		return
	}
	defer func() { _ = recover() }()
	g.closer.Close()
}
