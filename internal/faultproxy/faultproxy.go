// Package faultproxy is a fault-injecting reverse proxy on loopback for tests: it forwards
// requests to a storage server (an emulator) and, for a seeded-random share of them, breaks them
// the way real networks and providers do: resets in the middle of the request body, stalls,
// 500 and 503 SlowDown/ServerBusy answers with Retry-After, answers cut off after the server
// processed the request, and answers sent before the request body was read. It counts what it
// did. It serves plain http, or https with a certificate of its own (Options.TLS), the
// production wire. Nothing in the library imports it.
package faultproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one way of breaking a request.
type Fault int

// The faults.
const (
	// Reset forwards part of the request body, then resets the client's connection.
	Reset Fault = iota
	// Stall holds the request without answering for Options.StallFor, then resets.
	Stall
	// Throttle answers 503 with an S3 SlowDown body, Azure's ServerBusy code and Retry-After,
	// without forwarding.
	Throttle
	// ServerError answers 500 InternalError without forwarding.
	ServerError
	// Truncate forwards the request (the server processes it), then cuts the answer off: half
	// its body, or no answer at all when it has none.
	Truncate
	// EarlyAnswer answers 403 AccessDenied before reading the request body.
	EarlyAnswer
	// Refuse reads the whole request body, then answers 403 AccessDenied without forwarding:
	// a refusal the client always sees (after an EarlyAnswer, the connection's reset can reach
	// the client before the answer does).
	Refuse
	// StripHeaders forwards the request, then answers the server's status and body without
	// any of its headers (no ETag, Last-Modified, Range, Location, x-amz-*, x-ms-*, ...): an
	// endpoint that is not quite the provider it claims to be.
	StripHeaders
	// Garble forwards the request, then answers the server's status and headers with a body
	// of as many bytes of noise (XML and JSON that do not parse, or parse into nonsense).
	Garble
	numFaults
)

var names = [...]string{"reset", "stall", "throttle", "server-error", "truncate", "early-answer", "refuse",
	"strip-headers", "garble"}

// Hostile are the faults of an endpoint that answers, but not as its provider does: the
// client must fail cleanly (or succeed with what it verified), never crash.
var Hostile = []Fault{StripHeaders, Garble}

// String names the fault.
func (f Fault) String() string {
	if f >= 0 && f < numFaults {
		return names[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Transient are the faults after which trying again may succeed (all but EarlyAnswer and
// Refuse).
var Transient = []Fault{Reset, Stall, Throttle, ServerError, Truncate}

// Options configures a Proxy.
type Options struct {
	// Target is the server requests are forwarded to ("http://127.0.0.1:10000").
	Target string
	// Rate is the probability that a request is broken (0 to 1).
	Rate float64
	// Faults are the faults to choose from, uniformly (default Transient).
	Faults []Fault
	// Seed seeds the random choices, so a run can be repeated.
	Seed uint64
	// StallFor is how long Stall holds a request (default 200ms).
	StallFor time.Duration
	// RetryAfter is the Retry-After of Throttle answers, in seconds (default 1).
	RetryAfter int
	// Match, when set, limits faults to the requests it accepts.
	Match func(*http.Request) bool
	// Observe, when set, is called once the server answered a forwarded request (not one the
	// proxy broke before forwarding) with that answer's status: a counter of what reached the
	// server (a test that counts object commits per key). It may be called concurrently.
	Observe func(r *http.Request, status int)
	// TLS serves https with a self-signed certificate for 127.0.0.1 and localhost (trust
	// Proxy.RootCAs); the upstream stays Target as it is. Faults then break the TLS
	// connection: a reset drops the TCP connection under it. A Location the server answers on
	// the called host over http is rewritten to https.
	TLS bool
}

// Proxy is a running fault-injecting proxy. Create it with Start.
type Proxy struct {
	// URL is the proxy's base URL ("http://127.0.0.1:port", or "https://..." with
	// Options.TLS).
	URL string
	// RootCAs verify the proxy's certificate (nil over plain http).
	RootCAs *x509.CertPool

	opts     Options
	target   *url.URL
	srv      *http.Server
	ln       net.Listener
	upstream *http.Transport
	mu       sync.Mutex
	rng      *rand.Rand
	requests atomic.Int64
	counts   [numFaults]atomic.Int64
	sent     sync.Map // method → *atomic.Int64: request body bytes forwarded
}

// Start starts a proxy on a loopback port.
func Start(opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || target.Host == "" {
		return nil, errors.New("faultproxy: Options.Target must be a URL")
	}
	if opts.Rate < 0 || opts.Rate > 1 {
		return nil, errors.New("faultproxy: Options.Rate must be within [0, 1]")
	}
	if len(opts.Faults) == 0 {
		opts.Faults = Transient
	}
	if opts.StallFor <= 0 {
		opts.StallFor = 200 * time.Millisecond
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), opts: opts, target: target, ln: ln,
		upstream: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
	if opts.TLS {
		cert, roots, err := selfSigned()
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		p.URL, p.RootCAs = "https://"+ln.Addr().String(), roots
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		p.ln = ln
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.upstream.CloseIdleConnections()
	return err
}

// Requests returns how many requests the proxy received.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// BodyBytes returns how many request body bytes of the given method ("PUT") the proxy received
// and forwarded (or read before a fault broke the request), so a test can tell how many bytes a
// client sent, and sent again.
func (p *Proxy) BodyBytes(method string) int64 {
	if c, ok := p.sent.Load(method); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// countBody counts what is read of r's body under its method.
func (p *Proxy) countBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	c, _ := p.sent.LoadOrStore(r.Method, new(atomic.Int64))
	r.Body = &countingBody{ReadCloser: r.Body, n: c.(*atomic.Int64)}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(q []byte) (int, error) {
	n, err := b.ReadCloser.Read(q)
	b.n.Add(int64(n))
	return n, err
}

// Count returns how many times f was injected.
func (p *Proxy) Count(f Fault) int64 { return p.counts[f].Load() }

// Counts returns the injected faults by name.
func (p *Proxy) Counts() map[string]int64 {
	m := map[string]int64{}
	for f := Fault(0); f < numFaults; f++ {
		if n := p.counts[f].Load(); n > 0 {
			m[f.String()] = n
		}
	}
	return m
}

// pick decides the fault of one request, or -1.
func (p *Proxy) pick(r *http.Request) Fault {
	if p.opts.Match != nil && !p.opts.Match(r) {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Float64() >= p.opts.Rate {
		return -1
	}
	return p.opts.Faults[p.rng.IntN(len(p.opts.Faults))]
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.countBody(r)
	f := p.pick(r)
	if f >= 0 {
		p.counts[f].Add(1)
	}
	switch f {
	case Reset:
		// Forward at most half of the body, then reset.
		limit := r.ContentLength / 2
		_, _ = io.CopyN(io.Discard, r.Body, limit)
		reset(w)
		return
	case Stall:
		select {
		case <-time.After(p.opts.StallFor):
		case <-r.Context().Done():
		}
		reset(w)
		return
	case Throttle:
		w.Header().Set("Retry-After", fmt.Sprint(p.opts.RetryAfter))
		errorAnswer(w, http.StatusServiceUnavailable, "SlowDown", "ServerBusy")
		return
	case ServerError:
		errorAnswer(w, http.StatusInternalServerError, "InternalError", "InternalError")
		return
	case EarlyAnswer:
		errorAnswer(w, http.StatusForbidden, "AccessDenied", "AuthorizationFailure")
		return
	case Refuse:
		_, _ = io.Copy(io.Discard, r.Body)
		errorAnswer(w, http.StatusForbidden, "AccessDenied", "AuthorizationFailure")
		return
	}
	resp, err := p.forward(r)
	if err != nil {
		reset(w)
		return
	}
	defer resp.Body.Close()
	if p.opts.Observe != nil {
		p.opts.Observe(r, resp.StatusCode)
	}
	if f == StripHeaders {
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if loc := resp.Header.Get("Location"); p.opts.TLS && strings.HasPrefix(loc, "http://"+r.Host+"/") {
		// The server built a URL on the host it was called at, with its own scheme (GCS
		// and Drive resumable sessions): what the client called is https, as a
		// TLS-terminating proxy rewrites it.
		w.Header().Set("Location", "https://"+strings.TrimPrefix(loc, "http://"))
	}
	if f == Garble {
		body, _ := io.ReadAll(resp.Body)
		p.mu.Lock()
		for i := range body {
			body[i] = noise[p.rng.IntN(len(noise))]
		}
		p.mu.Unlock()
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	if f == Truncate {
		body, _ := io.ReadAll(resp.Body)
		if len(body) < 2 {
			reset(w) // processed, answer lost
			return
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		reset(w)
		return
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// noise are the bytes a garbled answer is made of: enough of XML's and JSON's punctuation to
// reach their parsers' odd corners.
const noise = `<>/="{}[]:,01-9aZ& ;`

// forward sends r to the target with its Host header kept (S3 signs it).
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	return p.upstream.RoundTrip(out)
}

// errorAnswer answers status with an S3-style XML error body and Azure's error-code header.
func errorAnswer(w http.ResponseWriter, status int, s3Code, azureCode string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-ms-error-code", azureCode)
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by faultproxy</Message></Error>`, s3Code)
}

// reset drops the client's connection with a TCP reset.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn() // no close_notify: the connection just breaks
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a day, and the pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "faultproxy"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}
