package cli_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
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
	// hold, when set, makes the first DATA wait until it is closed (a send caught in mid-flight).
	hold     chan struct{}
	holdOnce sync.Once
	held     chan struct{} // closed when the first DATA is waiting
	// refuse, when set, answers the message's DATA with its error (nil accepts).
	refuse func(to []string) error
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
	if s.sink.hold != nil {
		first := false
		s.sink.holdOnce.Do(func() { first = true })
		if first {
			close(s.sink.held)
			<-s.sink.hold
		}
	}
	if s.sink.refuse != nil {
		if err := s.sink.refuse(s.cur.To); err != nil {
			return err
		}
	}
	s.cur.Data = b
	s.sink.msgs <- s.cur
	return nil
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{msgs: make(chan delivered, 100)}
	sink.addr = serveSMTP(t, func() smtp.Session { return &sinkSession{sink: sink} })
	return sink
}

// serveSMTP runs a real SMTP server (emersion/go-smtp) on 127.0.0.1 with a session from
// newSession per connection until the test ends, and returns its address.
func serveSMTP(t *testing.T, newSession func() smtp.Session) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return newSession(), nil }))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	return ln.Addr().String()
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

// parseMessage reads a delivered message with net/mail and returns it and its text/plain body,
// decoded (the body itself, or the text part of a multipart message).
func parseMessage(t *testing.T, d delivered) (*mail.Message, string) {
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
