package portal

import (
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// clock is a fake clock the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterCountsPerClientAndWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	l := &Limiter{Max: 10, Now: c.now}
	for i := range 10 {
		if ok, _ := l.Allow("192.0.2.1"); !ok {
			t.Fatalf("post %d refused; want the first 10 allowed", i+1)
		}
		c.t = c.t.Add(time.Minute)
	}
	// The 11th, 10 minutes into the window: refused until the window (12:00-13:00) ends.
	if ok, wait := l.Allow("192.0.2.1"); ok || wait != 50*time.Minute {
		t.Errorf("11th post = %v, retry after %v; want refused, 50m0s", ok, wait)
	}
	if ok, _ := l.Allow("192.0.2.2"); !ok {
		t.Error("another client refused")
	}
	c.t = time.Date(2026, 11, 29, 12, 59, 59, 0, time.UTC)
	if ok, wait := l.Allow("192.0.2.1"); ok || wait != time.Second {
		t.Errorf("at 12:59:59 = %v, %v; want refused, 1s", ok, wait)
	}
	c.t = time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	if ok, _ := l.Allow("192.0.2.1"); !ok {
		t.Error("refused after its hour passed")
	}
}

func TestLimiterForgetsPassedWindows(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	l := &Limiter{Max: 3, Now: c.now}
	for i := range 1000 {
		l.Allow("10.0.0." + strconv.Itoa(i))
		c.t = c.t.Add(time.Second) // 1,000 clients over 16m40s
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("tracked %d clients; want 1000", n)
	}
	// At 13:10 the windows of the first 601 clients (started 12:00:00 to 12:10:00) have passed.
	c.t = time.Date(2026, 11, 29, 13, 10, 0, 0, time.UTC)
	l.Allow("198.51.100.7")
	if n := l.Len(); n != 1000-601+1 {
		t.Errorf("tracked %d clients at 13:10; want %d", n, 1000-601+1)
	}
	c.t = c.t.Add(2 * time.Hour)
	l.Allow("198.51.100.7")
	if n := l.Len(); n != 1 {
		t.Errorf("tracked %d clients two hours later; want 1", n)
	}
}

func TestLimiterIsBoundedWhenFull(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	l := &Limiter{Max: 2, MaxClients: 1000, Now: c.now}
	l.Allow("203.0.113.1")
	l.Allow("203.0.113.1") // the first client used its share
	c.t = c.t.Add(time.Second)
	for i := range 100_000 {
		if ok, _ := l.Allow("client-" + strconv.Itoa(i)); !ok {
			t.Fatalf("new client %d refused while full; want evicting the oldest instead", i)
		}
		if n := l.Len(); n > 1000 {
			t.Fatalf("tracked %d clients; want at most 1000", n)
		}
	}
	// The first client, evicted as the oldest, starts afresh; the newest keep their count.
	if ok, _ := l.Allow("203.0.113.1"); !ok {
		t.Error("the evicted client is still refused")
	}
	l.Allow("client-99999")
	if ok, _ := l.Allow("client-99999"); ok {
		t.Error("a tracked client got a third post")
	}
}

// BenchmarkLimiterMemory reports the heap bytes per tracked client address:
// go test -run XXX -bench LimiterMemory ./internal/web/portal
func BenchmarkLimiterMemory(b *testing.B) {
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "2001:db8::" + strconv.FormatInt(int64(i), 16)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := &Limiter{Max: 10}
		for _, k := range keys {
			l.Allow(k)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/client")
		runtime.KeepAlive(l)
	}
}

// TestLimiterCountsIPv6ByNetwork: found by review. Each IPv6 address was counted alone, so a
// client rotating through its /64 signed up without limit; an IPv4-mapped address was a second
// client beside its IPv4 form.
func TestLimiterCountsIPv6ByNetwork(t *testing.T) {
	l := &Limiter{Max: 2}
	for i, c := range []string{"2001:db8:1:2::1", "2001:db8:1:2::abcd", "2001:db8:1:2:ffff::9"} {
		if ok, _ := l.Allow(c); ok != (i < 2) {
			t.Errorf("post %d from %s allowed = %v", i+1, c, ok)
		}
	}
	if ok, _ := l.Allow("2001:db8:1:3::1"); !ok {
		t.Error("another /64 was refused")
	}
	l = &Limiter{Max: 1}
	l.Allow("192.0.2.7")
	if ok, _ := l.Allow("::ffff:192.0.2.7"); ok {
		t.Error("the IPv4-mapped form of a counted address was allowed")
	}
}

// TestClientIPTakesTheProxysLine: found by review. Only the first X-Forwarded-For line was read,
// so behind a proxy that adds a line of its own the client chose its address (and its limit).
func TestClientIPTakesTheProxysLine(t *testing.T) {
	o := &Optin{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	r := httptest.NewRequest("POST", "/p/subscribe", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Add("X-Forwarded-For", "203.0.113.66")            // written by the client
	r.Header.Add("X-Forwarded-For", "198.51.100.7, 192.0.2.9") // the proxy's line
	if got := o.ClientIP(r); got != "192.0.2.9" {
		t.Errorf("ClientIP = %s, want 192.0.2.9 (the proxy's last entry)", got)
	}
}
