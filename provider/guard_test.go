package provider

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuard(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "100.64.0.1", "100.100.100.200", "0.0.0.0", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
		"64:ff9b::7f00:1", "2001:db8::1",
	}
	public := []string{"8.8.8.8", "52.216.0.1", "2606:4700::1", "::ffff:8.8.8.8"}
	g := newGuard(nil)
	for _, s := range blocked {
		err := g.check(netip.MustParseAddr(s))
		var be *BlockedAddressError
		if !errors.Is(err, ErrBlockedAddress) || !errors.As(err, &be) {
			t.Errorf("%s: allowed (%v), want blocked", s, err)
		}
	}
	for _, s := range public {
		if err := g.check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v, want allowed", s, err)
		}
	}
	g = newGuard([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")})
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3"} {
		if err := g.check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s with allow-list: %v", s, err)
		}
	}
	for _, s := range []string{"10.2.0.1", "169.254.169.254", "::1"} {
		if err := g.check(netip.MustParseAddr(s)); err == nil {
			t.Errorf("%s allowed by an allow-list that does not cover it", s)
		}
	}
	if err := g.control("udp", "8.8.8.8:53", nil); err == nil {
		t.Error("udp dial allowed")
	}
	if err := g.control("tcp4", "not-an-address", nil); err == nil {
		t.Error("unparsable address allowed")
	}
}
