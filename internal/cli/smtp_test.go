package cli_test

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// delivered is one message a test SMTP server received.
type delivered struct {
	From string
	To   []string
	Data []byte
}

// smtpSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps what it receives.
type smtpSink struct {
	addr string
	msgs chan delivered
}

type sinkSession struct {
	sink *smtpSink
	cur  delivered
}

func (s *sinkSession) Reset()        { s.cur = delivered{} }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.From = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.sink.msgs <- s.cur
	return nil
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{msgs: make(chan delivered, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return sink
}

// next returns the next delivered message. The deadline only keeps a broken sender from hanging
// the test run; it asserts no speed.
func (s *smtpSink) next(t *testing.T) delivered {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(60 * time.Second):
		t.Fatal("no message delivered")
		return delivered{}
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s]+/p/confirm/[A-Za-z0-9_-]+`)

// parse reads a delivered message with net/mail and returns it and its body.
func parseMessage(t *testing.T, d delivered) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(d.Data))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v", err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("delivered body does not decode: %v", err)
	}
	return m, string(body)
}
