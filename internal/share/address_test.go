package share_test

import (
	"net/netip"
	"testing"

	"github.com/tillit/tillit/internal/share"
)

// TestWebhookAddressGuard: one row per range. Found by a reliability trial (D8): NAT64
// 64:ff9b::a9fe:a9fe (169.254.169.254 on a NAT64 network) and CGNAT 100.64.0.1 (Alibaba Cloud's
// metadata is 100.100.100.200) were connectable; now every IANA special-purpose range is
// refused, IPv4 inside IPv6 is judged as its IPv4, and only loopback stays open. The refusal
// when connecting is tested with the HTTP sender (internal/webhook).
func TestWebhookAddressGuard(t *testing.T) {
	for _, tc := range []struct {
		addr, what string
		want       bool
	}{
		{"127.0.0.1", "loopback", true},
		{"127.0.0.2", "loopback /8", true},
		{"::1", "IPv6 loopback", true},
		{"::ffff:127.0.0.1", "mapped loopback", true},
		{"93.184.216.34", "public IPv4", true},
		{"8.8.8.8", "public IPv4", true},
		{"2606:2800:220:1::1", "public IPv6", true},
		{"2a00:1450:4001:80b::200e", "public IPv6", true},
		{"2002:5db8:d822::1", "6to4 of public 93.184.216.34", true},
		{"::ffff:93.184.216.34", "mapped public", true},

		{"0.0.0.0", "this network 0/8", false},
		{"0.1.2.3", "this network 0/8", false},
		{"10.1.2.3", "private 10/8", false},
		{"100.64.0.1", "CGNAT 100.64/10", false},
		{"100.100.100.200", "CGNAT (cloud metadata)", false},
		{"100.127.255.255", "CGNAT top", false},
		{"169.254.169.254", "link-local (metadata)", false},
		{"172.16.0.9", "private 172.16/12", false},
		{"172.31.255.255", "private 172.16/12 top", false},
		{"192.0.0.8", "IETF protocol assignments 192.0.0/24", false},
		{"192.0.0.170", "NAT64 discovery 192.0.0.170", false},
		{"192.0.2.10", "TEST-NET-1", false},
		{"192.31.196.1", "AS112-v4", false},
		{"192.52.193.1", "AMT", false},
		{"192.88.99.1", "6to4 relay anycast", false},
		{"192.168.0.1", "private 192.168/16", false},
		{"192.175.48.1", "direct delegation AS112", false},
		{"198.18.0.1", "benchmarking 198.18/15", false},
		{"198.19.255.255", "benchmarking top", false},
		{"198.51.100.7", "TEST-NET-2", false},
		{"203.0.113.5", "TEST-NET-3", false},
		{"224.0.0.1", "multicast", false},
		{"239.255.255.250", "multicast (SSDP)", false},
		{"240.0.0.1", "reserved 240/4", false},
		{"255.255.255.255", "limited broadcast", false},

		{"::", "IPv6 unspecified", false},
		{"::ffff:10.0.0.1", "mapped private", false},
		{"::ffff:169.254.169.254", "mapped link-local", false},
		{"::ffff:a9fe:a9fe", "mapped link-local, hex", false},
		{"::ffff:100.64.0.1", "mapped CGNAT", false},
		{"::169.254.169.254", "IPv4-compatible link-local", false},
		{"::10.0.0.1", "IPv4-compatible private", false},
		{"::127.0.0.1", "IPv4-compatible loopback (not ::1)", false},
		{"64:ff9b::a9fe:a9fe", "NAT64 64:ff9b::/96", false},
		{"64:ff9b::808:808", "NAT64 of a public address", false},
		{"64:ff9b:1::a00:1", "local NAT64 64:ff9b:1::/48", false},
		{"100::1", "discard 100::/64", false},
		{"2001::1", "Teredo 2001::/32", false},
		{"2001:10::1", "ORCHID, in 2001::/23", false},
		{"2001:1ff:ffff::1", "top of 2001::/23", false},
		{"2001:db8::1", "documentation 2001:db8::/32", false},
		{"3fff::1", "documentation 3fff::/20", false},
		{"5f00::1", "SRv6 SIDs", false},
		{"2002:a00:1::1", "6to4 of private 10.0.0.1", false},
		{"2002:a9fe:a9fe::1", "6to4 of 169.254.169.254", false},
		{"2002:7f00:1::1", "6to4 of 127.0.0.1 (not this machine)", false},
		{"fc00::1", "unique local fc00::/7", false},
		{"fd00::1", "unique local fd00::/8", false},
		{"fe80::1", "link-local fe80::/10", false},
		{"fe80::1%eth0", "link-local with zone", false},
		{"fec0::1", "site-local (deprecated)", false},
		{"ff02::1", "multicast", false},
		{"ff05::2", "multicast site", false},
		{"4000::1", "unallocated, outside 2000::/3", false},
	} {
		if got := share.PublicOrLoopback(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("PublicOrLoopback(%s) (%s) = %v; want %v", tc.addr, tc.what, got, tc.want)
		}
	}
}
