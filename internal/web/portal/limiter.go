package portal

import (
	"container/list"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/throttle"
)

// Limiter counts the posts of each client address in fixed windows (one hour by default) and
// refuses a post beyond Max in the window. It is the one limiter of the public forms
// (/p/subscribe, /p/requests, /p/dpa), each with its own Limiter.
//
// It forgets: a client's entry holds only the start of its current window and a count, and is
// dropped once its window has passed. Memory is bounded by MaxClients entries of about 130 bytes
// each with the map and list overhead (BenchmarkLimiterMemory: 131 B for IPv6 keys), so at most
// about 13 MiB at DefaultMaxClients. When a client not yet tracked posts while MaxClients
// entries are live, the entry whose window started first is evicted: that client starts afresh, so a flood from more addresses than MaxClients
// weakens the limit for the oldest of them but never refuses a new client and never grows
// memory. (Refusing new clients instead would let such a flood lock everyone out.)
//
// The zero value is not usable; set Max. A Limiter is safe for concurrent use.
type Limiter struct {
	// Max is the number of posts a client may make in a window.
	Max int
	// Window is the length of a counting window (default one hour).
	Window time.Duration
	// MaxClients bounds the addresses tracked at once (default DefaultMaxClients).
	MaxClients int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Shared, when set, counts in the store instead of in memory (throttle.Windows), under Form,
	// so that every node of a cluster counts the same posts; a store error lets the post through
	// (the form's own write then fails with it).
	Shared *throttle.Windows
	// Form names the form the posts are counted for in Shared.
	Form string

	mu      sync.Mutex
	clients map[string]*list.Element // of *limitEntry, in order of window start
	order   list.List
}

// DefaultMaxClients is the default bound on the client addresses a Limiter tracks at once.
const DefaultMaxClients = 100_000

type limitEntry struct {
	client string
	start  time.Time // start of the client's current window
	count  int
}

// Allow records a post from client now and reports whether it is within Max for the client's
// current window; when it is not, retryAfter is the time until that window ends (rounded up to
// a second). A refused post is not counted.
func (l *Limiter) Allow(client string) (ok bool, retryAfter time.Duration) {
	client = clientKey(client)
	now, window := l.clock()
	maxClients := l.MaxClients
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[string]*list.Element{}
	}
	// Drop every entry whose window has passed: the list is in order of window start.
	for front := l.order.Front(); front != nil; front = l.order.Front() {
		e := front.Value.(*limitEntry)
		if now.Sub(e.start) < window {
			break
		}
		l.order.Remove(front)
		delete(l.clients, e.client)
	}
	if el, ok := l.clients[client]; ok {
		e := el.Value.(*limitEntry)
		if e.count >= l.Max {
			wait := e.start.Add(window).Sub(now)
			return false, (wait + time.Second - 1).Truncate(time.Second)
		}
		e.count++
		return true, 0
	}
	if l.Max <= 0 {
		return false, window
	}
	for len(l.clients) >= maxClients {
		front := l.order.Front()
		l.order.Remove(front)
		delete(l.clients, front.Value.(*limitEntry).client)
	}
	l.clients[client] = l.order.PushBack(&limitEntry{client: client, start: now, count: 1})
	return true, 0
}

// clock returns the time now and the window's length, defaults applied.
func (l *Limiter) clock() (time.Time, time.Duration) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	window := l.Window
	if window <= 0 {
		window = time.Hour
	}
	return now, window
}

// Len returns the number of client addresses tracked now (entries whose window has passed are
// dropped at the next Allow).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// allow asks l about r's client (ip(r)); without a limiter or a client rule every post is
// allowed.
func allow(l *Limiter, ip func(*http.Request) string, r *http.Request) (bool, time.Duration) {
	if l == nil || ip == nil {
		return true, 0
	}
	if l.Shared == nil {
		return l.Allow(ip(r))
	}
	now, window := l.clock()
	ok, wait, err := l.Shared.Allow(r.Context(), l.Form, clientKey(ip(r)), l.Max, window, now)
	if err != nil {
		return true, 0
	}
	return ok, wait
}

// retryAfter is the Retry-After value (RFC 9110 §10.2.3, delay-seconds) for wait.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second)))
}

// clientKey is what one client is counted by: an IPv4 address (also written IPv4-mapped), or the
// /64 of an IPv6 address, since one IPv6 client usually holds a whole /64 (RFC 4291 §2.5.1;
// counting single addresses let it rotate through them). Anything else counts as written.
func clientKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return client
	}
	return p.String()
}
