package provider

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes, bytes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	c.bytes.Add(int64(len(p)))
	return c.Conn.Write(p)
}

func countingDial(writes, n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: writes, bytes: n}, nil
	}
}

func tlsServerPool(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

// TestBatchedTLSConnSendsEachWriteAtOnce uploads bodies over dialTLS and checks that they arrive
// whole and that the records of each 64 KiB copy of the body reached the socket in one write,
// not one per 16 KiB record.
func TestBatchedTLSConnSendsEachWriteAtOnce(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		_, _ = io.Copy(h, r.Body)
		_, _ = io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	}))
	defer srv.Close()
	var writes, n atomic.Int64
	tr := &http.Transport{DialTLSContext: dialTLS(countingDial(&writes, &n), &tls.Config{RootCAs: tlsServerPool(srv)}, 5*time.Second),
		WriteBufferSize: 64 << 10}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, size := range []int{0, 1, 16 << 10, 16<<10 + 1, 1 << 20, 8<<20 + 12345} {
		body := make([]byte, size)
		_, _ = rand.Read(body)
		writes.Store(0)
		n.Store(0)
		req, err := http.NewRequest(http.MethodPut, srv.URL, struct{ io.Reader }{bytes.NewReader(body)}) // as a part's body
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(size)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(body)
		if string(got) != hex.EncodeToString(sum[:]) {
			t.Fatalf("%d bytes: the server received other bytes", size)
		}
		if resp.ProtoMajor != 1 {
			t.Errorf("%d bytes: spoke %s, want HTTP/1.1", size, resp.Proto)
		}
		// One write per 64 KiB of body, and the headers; per 16 KiB record would be 4 times that.
		if max := int64(size/(64<<10)) + 4; writes.Load() > max {
			t.Errorf("%d bytes: %d writes to the socket, want at most %d", size, writes.Load(), max)
		}
	}
}

// TestBatchedTLSConnClosesCleanly checks that what crypto/tls writes outside a Write (here
// close_notify) reaches the peer: it reads the data, then a clean end of stream.
func TestBatchedTLSConnClosesCleanly(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	cert := srv.TLS.Certificates[0]
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		b, err := io.ReadAll(c) // io.EOF (nil here) only after close_notify
		if err == nil && string(b) != "hello" {
			err = errors.New("read " + string(b))
		}
		got <- err
	}()
	var writes, n atomic.Int64
	c, err := dialTLS(countingDial(&writes, &n), &tls.Config{RootCAs: tlsServerPool(srv)}, 5*time.Second)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("server: %v", err)
	}
}

// failingConn accepts limit bytes, then fails every write.
type failingConn struct {
	net.Conn
	limit int
}

var errWriteFailed = errors.New("write failed")

func (c *failingConn) Write(p []byte) (int, error) {
	if len(p) > c.limit {
		return 0, errWriteFailed
	}
	c.limit -= len(p)
	return len(p), nil
}

// TestRecordBatcherKeepsItsFailure checks that a failed flush fails the Write that gathered it
// and every write after it, batched or not.
func TestRecordBatcherKeepsItsFailure(t *testing.T) {
	r := &recordBatcher{Conn: &failingConn{limit: 10}}
	if _, err := r.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	r.begin()
	if n, err := r.Write(make([]byte, 100)); n != 100 || err != nil {
		t.Fatalf("gathered write: %d, %v", n, err)
	}
	if err := r.end(); !errors.Is(err, errWriteFailed) {
		t.Fatalf("end: %v, want the write's failure", err)
	}
	if _, err := r.Write([]byte("1")); !errors.Is(err, errWriteFailed) {
		t.Fatalf("write after the failure: %v", err)
	}
	r.begin()
	if _, err := r.Write([]byte("1")); !errors.Is(err, errWriteFailed) {
		t.Fatalf("gathered write after the failure: %v", err)
	}
	if err := r.end(); !errors.Is(err, errWriteFailed) {
		t.Fatalf("end after the failure: %v", err)
	}
	// A write larger than a buffer goes alone, after what was gathered.
	var writes, n atomic.Int64
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	r = &recordBatcher{Conn: countingConn{Conn: a, writes: &writes, bytes: &n}}
	r.begin()
	_, _ = r.Write(make([]byte, 10))
	_, _ = r.Write(make([]byte, batchBufSize+1))
	if err := r.end(); err != nil {
		t.Fatal(err)
	}
	if writes.Load() != 2 || n.Load() != batchBufSize+11 {
		t.Fatalf("%d writes of %d bytes, want 2 of %d", writes.Load(), n.Load(), batchBufSize+11)
	}
}

// discardEach reads and discards every connection ln accepts until the test ends, when ln is
// closed.
func discardEach(tb testing.TB, ln net.Listener) {
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
}

// TestDialTLSHandshakeTimeout checks that a server that never answers the handshake fails the
// dial as a timeout (classified so) within TLSHandshakeTimeout, that a cancelled caller gets its
// own cancellation, and that a certificate from another authority is refused.
func TestDialTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	discardEach(t, ln) // reads the handshake, never answers
	var d net.Dialer
	dial := dialTLS(d.DialContext, nil, 200*time.Millisecond)
	_, err = dial(context.Background(), "tcp", ln.Addr().String())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial: %v, want a timeout", err)
	}
	if c := Classify(err); c.Code != CodeTimeout || !c.Transient {
		t.Fatalf("classified %+v, want a transient %s", c, CodeTimeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := dialTLS(d.DialContext, nil, time.Minute)(ctx, "tcp", ln.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", err)
	}

	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	_, err = dialTLS(d.DialContext, &tls.Config{RootCAs: x509.NewCertPool()}, 5*time.Second)(context.Background(), "tcp", srv.Listener.Addr().String())
	if c := Classify(err); c.Code != CodeTLSError {
		t.Fatalf("unknown authority: %v classified %s, want %s", err, c.Code, CodeTLSError)
	}
}

// TestSharedClientGuardsHTTPS checks that https goes through the SSRF guard too, and through
// Options.RootCAs once the address is allowed.
func TestSharedClientGuardsHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	o := &Options{RootCAs: tlsServerPool(srv)}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if _, err := newHTTPClient(o).Get(srv.URL); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("loopback https: %v, want ErrBlockedAddress", err)
	}
	o.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	hc := newHTTPClient(o)
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Fatalf("read %q", b)
	}
}

// BenchmarkTLSWrite writes a body in 32 KiB Writes (as io.Copy copies one) over loopback TLS
// to a server that discards it: "records" over a plain *tls.Conn, one socket write per 16 KiB
// record; "gathered" over dialTLS's batchedTLSConn, one per Write. The server runs in this
// process, so its share of the CPU is the same in both.
func BenchmarkTLSWrite(b *testing.B) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: srv.TLS.Certificates})
	if err != nil {
		b.Fatal(err)
	}
	discardEach(b, ln)
	cfg := &tls.Config{RootCAs: tlsServerPool(srv)}
	var d net.Dialer
	dials := map[string]func(ctx context.Context, network, addr string) (net.Conn, error){
		"records": func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
		},
		"gathered": dialTLS(d.DialContext, cfg, 5*time.Second),
	}
	chunk := make([]byte, 32<<10)
	for _, name := range []string{"records", "gathered"} {
		b.Run(name, func(b *testing.B) {
			c, err := dials[name](context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
