package riverqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// CDNRangeReader is an optional interface of a CDNReader (provider.CDN implements it): it
// streams n bytes of the CDN copy of key from off (n < 0: to its end) and returns the copy's
// whole size. With it, destination jobs read the CDN copy part by part, as the CDN job reads
// the render file, so their uploads are checkpointed and resume after a crash; without it they
// stream the copy (Open) and start again from its first byte.
type CDNRangeReader interface {
	NewRangeReader(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error)
}

// maxRangeReaders is how many range readers a rangeReaderAt keeps open: one per part an
// uploader reads at once, with room to spare.
const maxRangeReaders = 8

// rangeTries is how many times a read of the CDN copy opens a range again after a failure.
const rangeTries = 3

// rangeReaderAt is an io.ReaderAt over the CDN copy of key for one job: uploaders read each part
// in order in small calls, so instead of a request per ReadAt it keeps a few range readers open
// (each from a part's offset to the end of the copy), continues the one that stopped where a
// read starts, and opens a new one on any other offset (a new part, a part read again to be
// signed or sent again). Memory: the readers' own buffers, never a part.
type rangeReaderAt struct {
	ctx  context.Context
	cdn  CDNRangeReader
	key  string
	size int64

	mu     sync.Mutex
	idle   []*openRange // least recently used first
	closed bool
}

type openRange struct {
	rc  io.ReadCloser
	pos int64
}

func newRangeReaderAt(ctx context.Context, cdn CDNRangeReader, key string, size int64) *rangeReaderAt {
	return &rangeReaderAt{ctx: ctx, cdn: cdn, key: key, size: size}
}

// take returns the idle reader positioned at off, if any.
func (r *rangeReaderAt) take(off int64) *openRange {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, o := range r.idle {
		if o.pos == off {
			r.idle = append(r.idle[:i], r.idle[i+1:]...)
			return o
		}
	}
	return nil
}

// put keeps o for the next read at its position, closing the least recently used reader when
// too many are open.
func (r *rangeReaderAt) put(o *openRange) {
	r.mu.Lock()
	if r.closed || o.pos >= r.size {
		r.mu.Unlock()
		o.rc.Close()
		return
	}
	r.idle = append(r.idle, o)
	var drop *openRange
	if len(r.idle) > maxRangeReaders {
		drop, r.idle = r.idle[0], r.idle[1:]
	}
	r.mu.Unlock()
	if drop != nil {
		drop.rc.Close()
	}
}

func (r *rangeReaderAt) open(off int64) (*openRange, error) {
	rc, n, err := r.cdn.NewRangeReader(r.ctx, r.key, off, -1)
	if err != nil {
		return nil, err
	}
	if n != r.size {
		rc.Close()
		return nil, fmt.Errorf("riverqueue: the CDN copy is %d bytes, the record says %d", n, r.size)
	}
	return &openRange{rc: rc, pos: off}, nil
}

// ReadAt implements io.ReaderAt.
func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("riverqueue: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rem := r.size - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	var n int
	var err error
	for try := 0; try < rangeTries && n < len(want); try++ {
		o := r.take(off + int64(n))
		if o == nil {
			if o, err = r.open(off + int64(n)); err != nil {
				if r.ctx.Err() != nil {
					return n, context.Cause(r.ctx)
				}
				continue
			}
		}
		var m int
		m, err = io.ReadFull(o.rc, want[n:])
		n += m
		o.pos += int64(m)
		if err != nil {
			o.rc.Close() // broken (or the copy is shorter than its size): open again
			if r.ctx.Err() != nil {
				return n, context.Cause(r.ctx)
			}
			continue
		}
		r.put(o)
	}
	switch {
	case n == len(p):
		return n, nil
	case n == len(want):
		return n, io.EOF
	case err == nil:
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("riverqueue: reading the CDN copy at %d: %w", off+int64(n), err)
}

// Close closes the open readers.
func (r *rangeReaderAt) Close() error {
	r.mu.Lock()
	idle := r.idle
	r.idle, r.closed = nil, true
	r.mu.Unlock()
	for _, o := range idle {
		o.rc.Close()
	}
	return nil
}
