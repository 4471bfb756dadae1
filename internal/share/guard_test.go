package share

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestWebhookAddressGuard(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "93.184.216.34": true, "2606:2800:220:1::1": true,
		"10.1.2.3": false, "172.16.0.9": false, "192.168.0.1": false, "169.254.169.254": false,
		"fd00::1": false, "fe80::1": false, "0.0.0.0": false, "::ffff:10.0.0.1": false,
	} {
		if got := publicOrLoopback(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicOrLoopback(%s) = %v; want %v", addr, got, want)
		}
	}
	// A name or address that leads to a private network is refused when connecting, before any
	// byte is sent.
	_, err := (&http.Client{Transport: guardedTransport}).Get("http://10.255.255.1/hook")
	if err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("connecting to 10.255.255.1: %v; want refused as not public", err)
	}
}
