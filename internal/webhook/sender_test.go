package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/share"
)

// TestSendPostsTheSignedEvent: the event goes out as a POST of the body with its id and
// signature headers, and the answer's status comes back, from this machine.
func TestSendPostsTheSignedEvent(t *testing.T) {
	type seen struct {
		method, path, contentType, eventID, signature, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Tillit-Event-Id"), r.Header.Get(share.SignatureHeader), string(body)}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s := &Sender{client: srv.Client()} // trusts the test server's certificate
	body := []byte(`{"id":"ev-1","kind":"given"}`)
	sig := share.Sign([]byte("0123456789abcdef-secret"), time.Unix(1_800_000_000, 0), body)
	a := s.Send(context.Background(), share.Post{URL: srv.URL + "/hook", EventID: "ev-1", Signature: sig, Body: body})
	if a != (share.Answer{Status: http.StatusAccepted, Local: true}) {
		t.Errorf("answer %+v; want 202 from this machine", a)
	}
	want := seen{"POST", "/hook", "application/json", "ev-1", sig, string(body)}
	if r := <-got; r != want {
		t.Errorf("received %+v; want %+v", r, want)
	}
}

// TestSendRefusesPrivateAddresses: a name or address that leads to a private network is refused
// when connecting, before any byte is sent; loopback is reached through the same guard.
func TestSendRefusesPrivateAddresses(t *testing.T) {
	s := New()
	for _, u := range []string{"http://10.255.255.1/hook", "http://100.64.0.1/hook", "http://[64:ff9b::a9fe:a9fe]/hook", "https://169.254.169.254/latest"} {
		if a := s.Send(context.Background(), share.Post{URL: u, EventID: "ev-1", Body: []byte("{}")}); a != (share.Answer{Cause: "not_public"}) {
			t.Errorf("sending to %s: %+v; want refused as not public", u, a)
		}
	}
	// A name is judged by the address it resolves to: "localhost" is this machine and allowed,
	// so the guard does not stand in the way of a local receiver.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if a := s.Send(context.Background(), share.Post{URL: u, EventID: "ev-1", Body: []byte("{}")}); a != (share.Answer{Status: http.StatusNoContent, Local: true}) {
		t.Errorf("sending to %s: %+v; want 204 from this machine", u, a)
	}
}

// TestSendDoesNotFollowRedirects: a redirect is the answer; the signed event never reaches the
// address it points to.
func TestSendDoesNotFollowRedirects(t *testing.T) {
	var mu sync.Mutex
	reached := 0
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); reached++; mu.Unlock() }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer redirect.Close()
	for _, s := range []*Sender{New(), {client: &http.Client{}}} { // also with a client that would follow
		if a := s.Send(context.Background(), share.Post{URL: redirect.URL, EventID: "ev-1", Body: []byte("{}")}); a != (share.Answer{Status: http.StatusTemporaryRedirect, Local: true}) {
			t.Errorf("answer %+v; want the 307 itself", a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reached != 0 {
		t.Errorf("the redirect target got %d requests; want none", reached)
	}
}

// TestSendWithoutAnAnswer: a closed port, a port that does not speak TLS, a certificate not
// trusted, a bad URL and a wait that ended give no status and name their cause. (net/http
// reports a plain-HTTP answer to a TLS hello as a transport error of its own, not a TLS one.)
func TestSendWithoutAnAnswer(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	selfSigned := httptest.NewTLSServer(http.NotFoundHandler())
	defer selfSigned.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer hanging.Close()
	defer close(release)
	for _, tc := range []struct {
		name, url string
		want      share.Answer
	}{
		{"closed port", closedURL + "/hook", share.Answer{Cause: "refused"}},
		{"no TLS", strings.Replace(plain.URL, "http://", "https://", 1) + "/hook", share.Answer{Cause: "transport"}},
		{"untrusted certificate", selfSigned.URL + "/hook", share.Answer{Cause: "tls"}},
		{"bad URL", "https://hooks.example.com/\x7f", share.Answer{Cause: "bad_url"}},
	} {
		if a := New().Send(context.Background(), share.Post{URL: tc.url, EventID: "ev-1", Body: []byte("{}")}); a != tc.want {
			t.Errorf("%s: %+v; want %+v", tc.name, a, tc.want)
		}
	}
	// The wait ends with ctx (or the client's 10 seconds): no answer, "timeout".
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if a := New().Send(ctx, share.Post{URL: hanging.URL, EventID: "ev-1", Body: []byte("{}")}); a.Status != 0 || a.Cause != "timeout" {
		t.Errorf("no answer in time: %+v; want no status, cause timeout", a)
	}
}

// countingBody counts the bytes read from an answer's body.
type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	*b.n += int64(n)
	return n, err
}

// countingTransport is http.DefaultTransport with countingBody around every answer.
type countingTransport struct{ n int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

// TestSendReadsAtMost64KiB: an answer without end is read up to the limit, then dropped.
func TestSendReadsAtMost64KiB(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ct := &countingTransport{}
	s := &Sender{client: &http.Client{Transport: ct}}
	if a := s.Send(context.Background(), share.Post{URL: srv.URL, EventID: "ev-1", Body: []byte("{}")}); a.Status != http.StatusOK {
		t.Errorf("answer %+v; want 200", a)
	}
	if ct.n != maxAnswer {
		t.Errorf("read %d bytes of the answer; want %d", ct.n, maxAnswer)
	}
}

// TestNewLimits: tillit serve's sender ends each exchange, dial and handshake within 10 seconds
// and uses no proxy from the environment.
func TestNewLimits(t *testing.T) {
	c := New().client
	tr := c.Transport.(*http.Transport)
	if c.Timeout != 10*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || tr.Proxy != nil {
		t.Errorf("timeout %v, TLS handshake %v, proxy set %v; want 10s, 10s, no proxy", c.Timeout, tr.TLSHandshakeTimeout, tr.Proxy != nil)
	}
}

// TestFailureCause: one word for each kind of failure, for the server's log.
func TestFailureCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "hooks.example.com", IsNotFound: true}, "dns"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{&tls.CertificateVerificationError{Err: errors.New("unknown authority")}, "tls"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "tls"},
		{&net.OpError{Op: "dial", Err: fmt.Errorf("webhook: 10.0.0.1: %w", errNotPublic)}, "not_public"},
		{errors.New("connection reset by peer"), "transport"},
	} {
		if got := failureCause(tc.err); got != tc.want {
			t.Errorf("failureCause(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}
