package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/tillit/tillit/internal/share"
)

// timeout bounds dialling, the TLS handshake and each whole exchange.
const timeout = 10 * time.Second

// maxAnswer bounds how much of an answer's body is read (and thrown away), in bytes.
const maxAnswer = 64 << 10

// Sender POSTs webhook events over HTTP. Build one with New; it is safe for concurrent use.
type Sender struct {
	client *http.Client
}

var _ share.WebhookSender = (*Sender)(nil)

// New returns the Sender tillit serve uses: its connections go only to addresses
// share.PublicOrLoopback allows, without a proxy, within the 10-second limits.
func New() *Sender {
	return &Sender{client: &http.Client{Timeout: timeout, Transport: guarded()}}
}

// guarded is a transport that refuses to connect a webhook to an address outside the public
// internet (share.PublicOrLoopback), whatever name led to it: server-side request forgery through
// a processor's URL or its DNS is refused at dial time, before any byte is sent.
func guarded() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return err
			}
			if !share.PublicOrLoopback(ip) {
				return fmt.Errorf("webhook: %s: %w", ip, errNotPublic)
			}
			return nil
		}}).DialContext,
		TLSHandshakeTimeout: timeout,
	}
}

// Send POSTs p.Body to p.URL as application/json with the Tillit-Event-Id and
// share.SignatureHeader headers, and returns the status of the answer (0 when none came: see
// share.Answer), whether the connection went to this machine (loopback), and the cause when no
// answer came. A redirect is not followed: its 3xx is the answer.
func (s *Sender) Send(ctx context.Context, p share.Post) (a share.Answer) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if addr, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
			a.Local = addr.IP.IsLoopback()
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return share.Answer{Cause: "bad_url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Tillit-Event-Id", p.EventID)
	req.Header.Set(share.SignatureHeader, p.Signature)
	client := *s.client
	// A redirect would carry the signed event to another address, past the https rule.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		a.Cause = failureCause(err)
		return a
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	a.Status = resp.StatusCode
	return a
}

// errNotPublic is the guard's refusal of an address it does not connect to.
var errNotPublic = errors.New("is not a public address")

// failureCause names the kind of a failed connection for the server's log (the delivery log
// shows only share.Unreachable): dns, refused, timeout, tls, not_public (the guard) or transport.
func failureCause(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timeout"
	case errors.As(err, &certErr) || errors.As(err, &recErr):
		return "tls"
	case errors.Is(err, errNotPublic):
		return "not_public"
	}
	return "transport"
}
