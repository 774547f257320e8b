package provider

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrBlockedAddress is matched (errors.Is) by every error of a connection the SSRF guard refused:
// the endpoint resolved to a loopback, private (RFC 1918), link-local (including cloud metadata
// addresses), CGNAT (100.64.0.0/10), IPv6 unique-local or link-local, unspecified, multicast or
// other special-purpose address, or an IPv4-mapped IPv6 form of one, and that address is not in
// Options.AllowedNetworks.
var ErrBlockedAddress = errors.New("endpoint address is not allowed")

// BlockedAddressError reports the address the guard refused to dial. Addr is for the host's own
// diagnostics: the error's text and its classification never name it, so a tenant cannot use
// connection tests to learn where the host's internal names resolve.
type BlockedAddressError struct {
	Addr netip.Addr
}

// blockedMessage is the text of every BlockedAddressError.
const blockedMessage = "refusing to connect: the endpoint is not allowed"

// Error says that the endpoint is not allowed, without the address.
func (e *BlockedAddressError) Error() string { return blockedMessage }

// Is matches ErrBlockedAddress.
func (e *BlockedAddressError) Is(target error) bool { return target == ErrBlockedAddress }

// guard decides, at dial time and on the resolved address, whether a connection may be made. It
// delegates the special-purpose ranges to code.dny.dev/ssrf (built from IANA's registries) and
// adds what that package leaves to its caller: IPv4-mapped IPv6 addresses are unmapped before
// the check (so an allow-list of 127.0.0.0/8 also admits ::ffff:127.0.0.1 and the message names
// the real IPv4 address), any port is allowed (custom endpoints use non-standard ports), and the
// allow-list covers both address families.
type guard struct {
	allow []netip.Prefix
	deny  *ssrf.Guardian
}

func newGuard(allow []netip.Prefix) *guard {
	return &guard{allow: allow, deny: ssrf.New(ssrf.WithAnyPort())}
}

// check returns nil when ip may be dialed.
func (g *guard) check(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if err := g.deny.SafeAddr(ip); err != nil {
		return &BlockedAddressError{Addr: ip}
	}
	return nil
}

// control is a net.Dialer Control function: it runs after DNS resolution, before connect.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("refusing to dial network %q", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to dial unparsable address: %w", err)
	}
	return g.check(ap.Addr())
}

// newHTTPClient builds the one HTTP client every driver shares.
func newHTTPClient(opts *Options) *http.Client {
	g := newGuard(opts.AllowedNetworks)
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:       nil, // never an environment proxy: the guard must see the real destination
		DialContext: dialer.DialContext,
		// https is dialed here so that each Write of a body is one system call (tlsconn.go);
		// TLSClientConfig and TLSHandshakeTimeout are applied by dialTLS, and only HTTP/1.1
		// is spoken.
		DialTLSContext:        dialTLS(dialer.DialContext, tlsClientConfig(opts), opts.TLSHandshakeTimeout),
		MaxIdleConns:          opts.MaxIdleConns,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       opts.IdleConnTimeout,
		ExpectContinueTimeout: opts.ExpectContinueTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		// Headers and the start of a body go through this buffer (the rest of a body is copied
		// in 32 KiB reads): 64 KiB, not the default 4 KiB, sends full 16 KiB TLS records.
		WriteBufferSize: 64 << 10,
	}
	var rt http.RoundTripper = tr
	if opts.WrapTransport != nil {
		rt = opts.WrapTransport(tr)
	}
	rt = releaseTransport{base: limitTransport{base: rt}}
	return &http.Client{
		Transport: rt,
		// Redirects are never followed: a redirect could lead past the guard's intent (to
		// another host the tenant chose) and S3's 301 carries the right region in its body.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
