package api

import (
	"io"
	"net/http"
	"time"
)

// Default pace of request bodies (Server.BodyTimeout, Server.BodyMinRate).
const (
	DefaultBodyTimeout = 10 * time.Second
	DefaultBodyMinRate = 32 << 10 // bytes per second: 256 kbit/s; a 1 GiB import may take 9 h
)

// FrameAncestorsNone is the Content-Security-Policy directive every answer carries, alone or in
// a page's own policy: no page may be framed by another site (clickjacking of the one-button
// pages /u/…, /p/confirm/…, /p/preferences/…, /p/requests/…).
const FrameAncestorsNone = "frame-ancestors 'none'"

// secure sets the headers every answer carries, whatever route, status or surface (API,
// portal, console, errors, 404s): X-Content-Type-Options: nosniff (no MIME sniffing of a
// download or an error), X-Frame-Options: DENY and a Content-Security-Policy of
// FrameAncestorsNone (pages replace it with a fuller policy that keeps the directive).
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", FrameAncestorsNone)
		next.ServeHTTP(w, r)
	})
}

// paceBodies gives every request body a read deadline (slow-body clients, a reliability
// trial's D7: 3,000 connections trickling one byte every 20 s stayed open 141 s). A body may
// take timeout plus one second per minRate bytes received, counting only the time the server
// waits for the client (time spent importing or writing between reads does not count); a
// client slower than that gets a read error, its answer, and a closed connection. So a small
// form must arrive within about timeout, and a 1 GiB import keeps its connection as long as
// it sends at least minRate bytes a second on average. The deadline is set before the handler
// runs (it also bounds the discarding of a body the handler did not read) and cleared once
// the body is read to its end, so a long handler after the body (an export, a campaign send)
// is not cut short. Requests without a body get no deadline.
func paceBodies(next http.Handler, timeout time.Duration, minRate int64) http.Handler {
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	if minRate <= 0 {
		minRate = DefaultBodyMinRate
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		p := &pacedBody{body: r.Body, rc: http.NewResponseController(w), timeout: timeout, minRate: minRate}
		// The declared length earns its time up front, for the case the handler never reads.
		p.rc.SetReadDeadline(time.Now().Add(timeout + perRate(max(r.ContentLength, 0), minRate)))
		r.Body = p
		next.ServeHTTP(w, r)
	})
}

// perRate is the time n bytes may take at rate bytes per second.
func perRate(n, rate int64) time.Duration {
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}

// pacedBody moves the connection's read deadline as the body arrives (paceBodies).
type pacedBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	minRate int64
	got     int64         // bytes received
	waited  time.Duration // time spent inside Read
	done    bool          // read to its end: the deadline is cleared
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if p.done {
		return p.body.Read(b)
	}
	start := time.Now()
	// A past deadline (the client used up its time) fails the read at once.
	p.rc.SetReadDeadline(start.Add(p.timeout + perRate(p.got, p.minRate) - p.waited))
	n, err := p.body.Read(b)
	p.waited += time.Since(start)
	p.got += int64(n)
	if err == io.EOF {
		p.done = true
		p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (p *pacedBody) Close() error { return p.body.Close() }
