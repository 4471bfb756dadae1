package postgres

import (
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentProxy forwards TCP connections to target until silence is called; from then on, the
// connections it carries stay open and forward nothing, as when the machine at one end loses
// power or the network between them is cut: no FIN, no RST reaches the other end.
type silentProxy struct {
	ln     net.Listener
	target string
	silent atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *silentProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestLeadOfALostMachineEnds: the job lock (a session-level advisory lock) is held by the
// leader's connection for as long as PostgreSQL believes that session alive. When the leader's
// process dies, its kernel closes the connection and the lock is released at once; when its
// machine loses power or its network (no FIN, no RST), the server keeps the idle session, and
// the lock, until TCP keepalive gives up: by default over two hours (tcp_keepalives_idle 0 takes
// the system's 7,200 s), during which no node sends mail, delivers webhooks, walks campaigns or
// sweeps. The old leader meanwhile pings with no deadline and believes it leads. The README
// says another node leads "within about a second".
//
// The lock's connection goes through a proxy that goes silent; the test checks that another
// node takes the lead, and that the old leader's lead ends, within 30 s (a liveness bound, 30
// times the documented second, not a speed).
func TestLeadOfALostMachineEnds(t *testing.T) {
	ctx := context.Background()
	a, schema := openFresh(t, "tl_", Config{})
	b := openSchemaNode(t, schema, Config{})
	u, err := url.Parse(a.conn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newSilentProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	a.conn = u.String() // a's job lock connects through the proxy

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	lead, ok := a.TryLead(actx)
	if !ok {
		t.Fatal("a could not take the job lock of a new schema")
	}
	if _, ok := b.TryLead(ctx); ok {
		t.Fatal("b took the job lock a holds")
	}
	proxy.silent.Store(true) // a's machine is gone
	lost := time.Now()

	var bLeads, aStopped bool
	for time.Since(lost) < 30*time.Second && !(bLeads && aStopped) {
		if !bLeads {
			if _, ok := b.TryLead(ctx); ok {
				bLeads = true
				t.Logf("b leads %v after a's machine was lost", time.Since(lost).Round(time.Millisecond))
			}
		}
		if !aStopped && lead.Err() != nil {
			aStopped = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !bLeads {
		t.Errorf("no other node leads 30 s after the leader's machine was lost: PostgreSQL keeps the silent session and its advisory lock until TCP keepalive gives up (hours by default); want the lock's session bounded (idle_session_timeout, tcp_keepalives_* on the lock connection)")
	}
	if !aStopped {
		t.Errorf("the old leader still believes it leads 30 s after its connection went silent: its ping has no deadline")
	}
}
