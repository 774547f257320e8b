package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
)

// atGuard is the guard of an attempt whose source is a ReaderAt: besides Read it offers ReadAt
// and Size (provider.ReaderAtSource), so an uploader can send parts straight from the file, with
// the guard's protections on every ReadAt: the attempt's context, the declared size (a file that
// ends early fails the read), a failing or panicking source, the stall watchdog.
type atGuard struct {
	*guard
	ra     io.ReaderAt
	atRead atomic.Int64 // bytes ReadAt gave (a part read twice counts twice)
	atEnd  atomic.Bool  // a ReadAt reached the declared size
}

// source returns what the uploader reads: g, or its ReaderAt view when the source is a
// ReaderAt.
func (g *guard) source() io.Reader {
	if g.at != nil {
		return g.at
	}
	return g
}

// taken returns how many bytes of the source the upload took: what Read gave, or, for an
// uploader that read through ReadAt (parts, perhaps more than once each, in any order), the size
// when ReadAt gave at least that many bytes and reached the end.
func (g *guard) taken() int64 {
	if g.at == nil || g.n == g.size {
		return g.n
	}
	if g.at.atEnd.Load() && g.at.atRead.Load() >= g.size {
		return g.size
	}
	return max(g.n, min(g.at.atRead.Load(), g.size-1))
}

// Skipped counts n bytes from off as taken without reading them: an earlier attempt of a
// checkpointed upload stored them (provider.SkipReporter).
func (a *atGuard) Skipped(off, n int64) {
	if off < 0 || n <= 0 || off+n > a.size {
		return
	}
	a.lastRead.Store(time.Now().UnixNano())
	a.atRead.Add(n)
	if off+n == a.size {
		a.atEnd.Store(true)
	}
}

// Size returns the declared size of the source.
func (a *atGuard) Size() int64 { return a.size }

// Seek supports only Seek(0, io.SeekCurrent): the position of Read.
func (a *atGuard) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return 0, errors.New("delivery: the source only reports its position")
	}
	return a.n, nil
}

// ReadAt reads len(p) bytes of the source from off, within its declared size.
func (a *atGuard) ReadAt(p []byte, off int64) (int, error) {
	if ue := a.failure(); ue != nil {
		return 0, ue
	}
	if a.ctx.Err() != nil {
		return 0, context.Cause(a.ctx)
	}
	if off < 0 {
		return 0, errors.New("delivery: negative offset")
	}
	if off >= a.size {
		return 0, io.EOF
	}
	end := false
	if rem := a.size - off; int64(len(p)) >= rem {
		p, end = p[:rem], true
	}
	var (
		n   int
		err error
	)
	for n < len(p) && err == nil { // a lax ReaderAt may give less without saying why: ask again
		var m int
		var bad *destination.UploadError
		m, bad, err = a.readAt(p[n:], off+int64(n))
		if bad != nil {
			return 0, a.fail(bad)
		}
		if m == 0 && err == nil {
			err = io.ErrNoProgress
		}
		n += m
	}
	if n > 0 {
		a.lastRead.Store(time.Now().UnixNano())
		a.atRead.Add(int64(n))
	}
	switch {
	case n == len(p) && end:
		a.atEnd.Store(true)
		return n, io.EOF
	case n == len(p):
		return n, nil
	case err == io.EOF:
		return n, a.fail(&destination.UploadError{Code: destination.CodeSourceSizeMismatch,
			Message: fmt.Sprintf("the source ended after %d of its declared %d bytes", off+int64(n), a.size), Err: errSource})
	case a.ctx.Err() != nil:
		return n, context.Cause(a.ctx)
	}
	return n, a.fail(sourceFailure("reading the source failed", err))
}

// readAt calls the source; bad reports a panic or an impossible count.
func (a *atGuard) readAt(p []byte, off int64) (n int, bad *destination.UploadError, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, bad, err = 0, sourceFailure("the source panicked", fmt.Errorf("panic: %v", v)), nil
		}
	}()
	n, err = a.ra.ReadAt(p, off)
	if n < 0 || n > len(p) {
		return 0, sourceFailure("the source returned an impossible count", fmt.Errorf("read returned %d for %d bytes", n, len(p))), nil
	}
	return n, nil, err
}
