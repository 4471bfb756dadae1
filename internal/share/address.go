package share

import "net/netip"

// specialIPv4 are the IPv4 ranges a webhook may not reach besides loopback's 127.0.0.0/8: the
// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates) and multicast.
var specialIPv4 = prefixes(
	"0.0.0.0/8",       // "this network" (RFC 791)
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // shared address space, carrier-grade NAT (RFC 6598); holds cloud metadata such as 100.100.100.200
	"169.254.0.0/16",  // link-local (RFC 3927), cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments (RFC 6890), DS-Lite 192.0.0.0/29
	"192.0.2.0/24",    // documentation TEST-NET-1 (RFC 5737)
	"192.31.196.0/24", // AS112-v4 (RFC 7535)
	"192.52.193.0/24", // AMT (RFC 7450)
	"192.88.99.0/24",  // deprecated 6to4 relay anycast (RFC 7526)
	"192.168.0.0/16",  // private (RFC 1918)
	"192.175.48.0/24", // direct delegation AS112 (RFC 7534)
	"198.18.0.0/15",   // benchmarking (RFC 2544)
	"198.51.100.0/24", // documentation TEST-NET-2 (RFC 5737)
	"203.0.113.0/24",  // documentation TEST-NET-3 (RFC 5737)
	"224.0.0.0/4",     // multicast (RFC 5771)
	"240.0.0.0/4",     // reserved (RFC 1112), with the limited broadcast 255.255.255.255
)

// specialIPv6 are the IPv6 ranges inside global unicast 2000::/3 that a webhook may not reach:
// from the IANA IPv6 Special-Purpose Address Registry. (Everything outside 2000::/3 but
// loopback and IPv4-mapped or -compatible addresses is refused too: NAT64 64:ff9b::/96 (RFC
// 6052) and 64:ff9b:1::/48 (RFC 8215), discard 100::/64 (RFC 6666), unique local fc00::/7,
// link-local fe80::/10, site-local fec0::/10, multicast ff00::/8, unspecified ::.)
var specialIPv6 = prefixes(
	"2001::/23",     // IETF protocol assignments (RFC 2928): Teredo 2001::/32, ORCHID, …
	"2001:db8::/32", // documentation (RFC 3849)
	"3fff::/20",     // documentation (RFC 9637)
	"5f00::/16",     // SRv6 segment identifiers (RFC 9602)
)

// sixToFour is 6to4 (RFC 3056): 2002:AABB:CCDD::/48 embeds the IPv4 address A.B.C.D, which
// decides.
var sixToFour = netip.MustParsePrefix("2002::/16")

// globalUnicast is the IPv6 global unicast space as allocated (RFC 4291 §2.4).
var globalUnicast = netip.MustParsePrefix("2000::/3")

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// PublicOrLoopback reports whether a webhook may go to ip: loopback (127.0.0.0/8, ::1: a
// receiver on this machine), or a public unicast address, meaning not in any IANA
// special-purpose range. IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d)
// addresses are judged as their IPv4 address, and a 6to4 address as the IPv4 it embeds; IPv6
// must be global unicast (2000::/3) outside specialIPv6. It is the one rule against
// server-side request forgery through a processor's webhook URL: Create and Update refuse a URL
// naming another address, and the HTTP sender (internal/webhook) refuses to connect to one,
// whatever name led to it.
func PublicOrLoopback(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.IsLoopback() {
		return true
	}
	if ip.Is6() {
		b := ip.As16()
		if [12]byte(b[:12]) == ([12]byte{}) { // ::/96, IPv4-compatible (RFC 4291 §2.5.5.1) and ::
			v4 := netip.AddrFrom4([4]byte(b[12:]))
			return !v4.IsLoopback() && publicIPv4(v4)
		}
		if sixToFour.Contains(ip) {
			v4 := netip.AddrFrom4([4]byte(b[2:6]))
			return !v4.IsLoopback() && publicIPv4(v4)
		}
		if !globalUnicast.Contains(ip) {
			return false
		}
		for _, p := range specialIPv6 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	return publicIPv4(ip)
}

// publicIPv4 reports whether ip is outside every range of specialIPv4 and loopback.
func publicIPv4(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return false
	}
	for _, p := range specialIPv4 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
