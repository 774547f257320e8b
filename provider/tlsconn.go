package provider

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"
)

// The shared transport dials https itself (dialTLS) so that each Write of a request body leaves
// the process in one system call. crypto/tls seals a Write into records of at most 16 KiB and
// writes each to the socket on its own: net/http copies a body in 32 KiB reads, 64 KiB through
// its write buffer, so a part went out in one write(2) per 16 KiB record, each a TCP push of its
// own (and on loopback the receiving side's processing too). Here a body is copied in 64 KiB
// reads (ReadFrom) whose records leave together: a quarter of the socket writes. On the S3 file
// benchmark the socket writes fell from 0.23 to about 0.12 CPU-seconds per GiB (README,
// Performance; BenchmarkTLSWrite shows the mechanism alone). Neither crypto/tls nor net/http
// offers it: the records are gathered by a
// net.Conn under the TLS connection (recordBatcher), and only while a Write of the connection
// above it (batchedTLSConn) is in progress, which flushes them before returning. Anything else
// crypto/tls writes (the handshake, alerts, a KeyUpdate answered while reading, close_notify)
// goes to the socket at once.
//
// The cost: the transport no longer sees a *tls.Conn, so it speaks HTTP/1.1 only (S3 and Azure
// Blob Storage never speak HTTP/2; Google's APIs speak both) and responses carry no TLS
// connection state (Response.TLS is nil; nothing here reads it).

// batchBufSize is the capacity of a gathering buffer: the records of a 64 KiB Write (a body's
// copy, ReadFrom, or net/http's write buffer, WriteBufferSize) with their headers and tags fit;
// larger Writes flush as they fill it.
const batchBufSize = copyBufSize + 8<<10

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchBufSize); return &b }}

// recordBatcher is the connection crypto/tls writes to: between begin and end it gathers what
// is written and end sends it in one write, else it writes through. The first failed write
// fails every later one (crypto/tls takes the records it handed over as sent).
type recordBatcher struct {
	net.Conn

	mu  sync.Mutex
	buf *[]byte // while gathering (between begin and end), else nil
	err error   // the first failed write
}

func (r *recordBatcher) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	if r.buf == nil {
		return r.writeLocked(p)
	}
	b := *r.buf
	if len(b) > 0 && len(b)+len(p) > cap(b) {
		if err := r.flushLocked(); err != nil {
			return 0, err
		}
		b = *r.buf
	}
	if len(b)+len(p) > cap(b) {
		return r.writeLocked(p) // larger than a buffer: alone
	}
	*r.buf = append(b, p...)
	return len(p), nil
}

// writeLocked writes p to the socket, keeping its failure.
func (r *recordBatcher) writeLocked(p []byte) (int, error) {
	n, err := r.Conn.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// flushLocked sends what was gathered.
func (r *recordBatcher) flushLocked() error {
	b := *r.buf
	*r.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := r.writeLocked(b)
	return err
}

// begin starts gathering.
func (r *recordBatcher) begin() {
	r.mu.Lock()
	r.buf = batchBufs.Get().(*[]byte)
	r.mu.Unlock()
}

// end sends what was gathered since begin and writes through again.
func (r *recordBatcher) end() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.err == nil {
		err = r.flushLocked()
	} else {
		err = r.err
	}
	*r.buf = (*r.buf)[:0]
	batchBufs.Put(r.buf)
	r.buf = nil
	return err
}

// batchedTLSConn is a client TLS connection whose every Write goes out in as few system calls
// as its size allows (see recordBatcher). Writes are serialized by crypto/tls itself; net/http
// has one writer per connection.
type batchedTLSConn struct {
	*tls.Conn
	raw *recordBatcher
}

func (c *batchedTLSConn) Write(p []byte) (int, error) {
	c.raw.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.raw.end(); err == nil && ferr != nil {
		return 0, ferr // nothing can be known to have arrived
	}
	return n, err
}

// ReadFrom copies r (a request body: net/http copies it with io.Copy, which calls this) in
// reads of copyBufSize, each sent in one system call: half the reads and socket writes of
// io.Copy's 32 KiB (measured on the S3 file benchmark: about 3% less CPU, 8 of 10 alternated
// runs lower).
func (c *batchedTLSConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c}, r, *bp) // only Write: not this method again
}

// copyBufSize is the size of the reads a request body is copied in.
const copyBufSize = 64 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// dialTLS returns the transport's DialTLSContext: it connects through dial (the guarded
// dialer), makes the TLS handshake with cfg (nil: Go's defaults) for the host of addr, offering
// HTTP/1.1 only, within timeout, and returns a batchedTLSConn.
func dialTLS(dial func(ctx context.Context, network, addr string) (net.Conn, error), cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &tls.Config{}
		if cfg != nil {
			c = cfg.Clone()
		}
		if c.ServerName == "" {
			c.ServerName = host
		}
		c.NextProtos = []string{"http/1.1"}
		raw := &recordBatcher{Conn: conn}
		tc := tls.Client(raw, c)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			if ctx.Err() == nil && hctx.Err() != nil {
				return nil, errHandshakeTimeout
			}
			return nil, err
		}
		return &batchedTLSConn{Conn: tc, raw: raw}, nil
	}
}

// errHandshakeTimeout is the failure of a TLS handshake that took longer than
// Options.TLSHandshakeTimeout (a timeout, as net/http's own).
var errHandshakeTimeout error = handshakeTimeoutError{}

type handshakeTimeoutError struct{}

func (handshakeTimeoutError) Error() string   { return "provider: TLS handshake timeout" }
func (handshakeTimeoutError) Timeout() bool   { return true }
func (handshakeTimeoutError) Temporary() bool { return true }
