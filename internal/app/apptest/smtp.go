package apptest

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Delivered is one message an SMTPSink received.
type Delivered struct {
	From string
	To   []string
	Data []byte
}

// SMTPSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps what it receives.
// Set Hold and Held (both open channels) before the first message to catch a send in
// mid-flight: the first DATA closes Held and waits until Hold is closed. Set Refuse to answer a
// message's DATA with its error (nil accepts).
type SMTPSink struct {
	Addr   string // host:port; TILLIT_SMTP_URL is "smtp://" + Addr + "?tls=none"
	Hold   chan struct{}
	Held   chan struct{}
	Refuse func(to []string) error
	// Msgs receives each message as it is delivered (up to 100 unread); Next reads it with a
	// deadline, a select with a default finds that none is waiting.
	Msgs chan Delivered

	holdOnce sync.Once
}

type sinkSession struct {
	sink *SMTPSink
	cur  Delivered
}

func (s *sinkSession) Reset()        { s.cur = Delivered{} }
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
	if s.sink.Hold != nil {
		first := false
		s.sink.holdOnce.Do(func() { first = true })
		if first {
			close(s.sink.Held)
			<-s.sink.Hold
		}
	}
	if s.sink.Refuse != nil {
		if err := s.sink.Refuse(s.cur.To); err != nil {
			return err
		}
	}
	s.cur.Data = b
	s.sink.Msgs <- s.cur
	return nil
}

// SMTP starts an SMTPSink that runs until the test ends. It keeps up to 100 messages not yet
// read by Next.
func SMTP(t testing.TB) *SMTPSink {
	t.Helper()
	sink := &SMTPSink{Msgs: make(chan Delivered, 100)}
	sink.Addr = ServeSMTP(t, func() smtp.Session { return &sinkSession{sink: sink} })
	return sink
}

// ServeSMTP runs a real SMTP server (emersion/go-smtp) on 127.0.0.1 with a session from
// newSession per connection until the test ends, and returns its address.
func ServeSMTP(t testing.TB, newSession func() smtp.Session) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return newSession(), nil }))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Next returns the next delivered message. The deadline only keeps a broken sender from hanging
// the test run; it asserts no speed.
func (s *SMTPSink) Next(t testing.TB) Delivered {
	t.Helper()
	select {
	case m := <-s.Msgs:
		return m
	case <-time.After(60 * time.Second):
		t.Fatal("no message delivered")
		return Delivered{}
	}
}

// ParseMessage reads a delivered message with net/mail and returns it and its text/plain body,
// decoded (the body itself, or the text part of a multipart message).
func ParseMessage(t testing.TB, d Delivered) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(d.Data))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v", err)
	}
	decode := func(r io.Reader, cte string) string {
		if strings.EqualFold(cte, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("delivered body does not decode: %v", err)
		}
		return string(b)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		return m, decode(m.Body, m.Header.Get("Content-Transfer-Encoding"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			return m, decode(part, part.Header.Get("Content-Transfer-Encoding"))
		}
	}
}
