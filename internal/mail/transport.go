package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Transport hands rendered messages to the world.
type Transport interface {
	// Open starts a session in which several messages go out one after another (over one SMTP
	// connection); the caller closes it.
	Open(ctx context.Context) (Session, error)
}

// Session sends messages one at a time.
type Session interface {
	// Send delivers m; an error may be temporary (retry later) or permanent (see Permanent).
	Send(ctx context.Context, m Message) error
	Close() error
}

// Open returns the transport itself: writing files needs no session.
func (t FileTransport) Open(context.Context) (Session, error) { return t, nil }

// Close does nothing.
func (t FileTransport) Close() error { return nil }

// FileTransport writes each message as <Dir>/<contact id>_<message id>.eml (mode 0600): the
// default, so Tillit runs without a mail server. Erasure deletes a contact's files (RemoveContact).
type FileTransport struct {
	Dir    string
	From   string
	Domain string
	DKIM   *gomail.DKIMSigner // nil: unsigned
}

// Send writes the message file.
func (t FileTransport) Send(ctx context.Context, m Message) error {
	msg, err := m.gomail(t.From, t.Domain, t.DKIM)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("mail: render message %s: %w", m.ID, err)
	}
	b := buf.Bytes()
	if err := os.MkdirAll(t.Dir, 0o700); err != nil {
		return fmt.Errorf("mail: file transport: %w", err)
	}
	owner := m.ContactID
	if owner == "" {
		owner = "request-" + m.RequestID
	}
	name := filepath.Join(t.Dir, owner+"_"+m.ID+".eml")
	if err := os.WriteFile(name+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("mail: file transport: %w", err)
	}
	return os.Rename(name+".tmp", name)
}

// RemoveContact deletes every message file addressed to the contact (its erasure).
func (t FileTransport) RemoveContact(contactID string) error {
	return t.remove(contactID)
}

// RemoveRequest deletes every notice file about a data subject request (when its key is
// destroyed with its contact).
func (t FileTransport) RemoveRequest(requestID string) error {
	if requestID == "" {
		return nil
	}
	return t.remove("request-" + requestID)
}

func (t FileTransport) remove(owner string) error {
	if owner == "" {
		return nil
	}
	files, err := filepath.Glob(filepath.Join(t.Dir, owner+"_*.eml"))
	if err != nil {
		return err
	}
	tmp, err := filepath.Glob(filepath.Join(t.Dir, owner+"_*.eml.tmp"))
	if err != nil {
		return err
	}
	for _, f := range append(files, tmp...) {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("mail: file transport: %w", err)
		}
	}
	return nil
}

// Sweep deletes the message files whose owner is gone, as live reports it (a contact erased, a
// request whose key was destroyed), and every half-written *.eml.tmp: what a crash between an
// erasure's commit and its file removal, or inside a write, left behind. Run it at start,
// before anything is sent. It returns how many files it deleted.
func (t FileTransport) Sweep(live func(contactID, requestID string) (bool, error)) (int, error) {
	return t.sweep(live, true)
}

// SweepGone deletes the message files, written or half-written, whose owner live reports gone,
// reading the directory once. Unlike Sweep it may run while messages are written: a live
// owner's half-written file stays. It returns how many files it deleted.
func (t FileTransport) SweepGone(live func(contactID, requestID string) (bool, error)) (int, error) {
	return t.sweep(live, false)
}

// sweep is Sweep (allTmp: every *.eml.tmp goes, whatever its owner) and SweepGone.
func (t FileTransport) sweep(live func(contactID, requestID string) (bool, error), allTmp bool) (int, error) {
	entries, err := os.ReadDir(t.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mail: file transport: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		owner, _, ok := strings.Cut(name, "_")
		if !e.Type().IsRegular() || !ok || !strings.HasSuffix(name, ".eml") && !strings.HasSuffix(name, ".eml.tmp") {
			continue
		}
		keep := false
		if !allTmp || !strings.HasSuffix(name, ".tmp") {
			contactID, requestID := owner, ""
			if id, isRequest := strings.CutPrefix(owner, "request-"); isRequest {
				contactID, requestID = "", id
			}
			if keep, err = live(contactID, requestID); err != nil {
				return n, err
			}
		}
		if !keep {
			if err := os.Remove(filepath.Join(t.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("mail: file transport: %w", err)
			}
			n++
		}
	}
	return n, nil
}

// SMTPTransport sends through an SMTP server with github.com/wneessen/go-mail.
type SMTPTransport struct {
	From, Domain string
	DKIM         *gomail.DKIMSigner // nil: unsigned
	// Sessions is how many connections the outbox should hand messages over on at once
	// ("?sessions=N", 1 to 32; default DefaultSessions).
	Sessions int
	host     string
	opts     []gomail.Option
}

// DefaultSessions is the number of SMTP connections used at once unless the URL says otherwise:
// one connection spends most of its time waiting for replies (tillit bench send), and mail
// servers commonly accept a few connections per client.
const DefaultSessions = 4

// NewSMTPTransport reads a URL smtp://user:pass@host:port (STARTTLS when the server offers it,
// "?tls=required" to insist, "?tls=none" to never use it) or smtps://user:pass@host:port
// (implicit TLS); "sessions=N" (1 to 32, default DefaultSessions) sets how many connections hand
// messages over at once. Errors never repeat the password.
func NewSMTPTransport(rawURL, from, domain string) (*SMTPTransport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail: TILLIT_SMTP_URL is not a URL")
	}
	t := &SMTPTransport{From: from, Domain: domain, host: u.Hostname(), Sessions: DefaultSessions}
	if t.host == "" {
		return nil, fmt.Errorf("mail: TILLIT_SMTP_URL has no host")
	}
	if v := u.Query().Get("sessions"); v != "" {
		if t.Sessions, err = strconv.Atoi(v); err != nil || t.Sessions < 1 || t.Sessions > 32 {
			return nil, fmt.Errorf("mail: TILLIT_SMTP_URL sessions must be a number from 1 to 32")
		}
	}
	// No NOOP before each message: a session is one connection opened for one pass of the outbox,
	// and a connection that broke meanwhile fails at MAIL FROM, which is retried like any
	// temporary failure. The NOOP cost one round trip per message (about 10% of send speed).
	// No RSET after each delivered message either: the end of the data completes the mail
	// transaction (RFC 5321 §4.1.1.4), so the next MAIL FROM starts a new one. It cost another
	// round trip, and a failed RSET was reported as a failure of the message already delivered,
	// which the outbox would then send again. (After a refused MAIL FROM or RCPT TO, go-mail
	// still sends RSET.)
	opts := []gomail.Option{gomail.WithTimeout(30 * time.Second), gomail.WithoutNoop(), gomail.WithoutRset()}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("mail: TILLIT_SMTP_URL has a bad port")
		}
	}
	switch u.Scheme {
	case "smtps":
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case "smtp":
		switch u.Query().Get("tls") {
		case "", "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "required":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		case "none":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		default:
			return nil, fmt.Errorf("mail: TILLIT_SMTP_URL tls must be opportunistic, required or none")
		}
		if port == 0 {
			port = 587
		}
	default:
		return nil, fmt.Errorf("mail: TILLIT_SMTP_URL must start with smtp:// or smtps://")
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	t.opts = opts
	return t, nil
}

// Open connects to the SMTP server; the session sends every message over that connection.
func (t *SMTPTransport) Open(ctx context.Context) (Session, error) {
	c, err := gomail.NewClient(t.host, t.opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return nil, fmt.Errorf("mail: SMTP connect: %w", err)
	}
	return &smtpSession{t: t, c: c}, nil
}

type smtpSession struct {
	t *SMTPTransport
	c *gomail.Client
}

// Send delivers one message on the session's connection.
func (s *smtpSession) Send(ctx context.Context, m Message) error {
	msg, err := m.gomail(s.t.From, s.t.Domain, s.t.DKIM)
	if err != nil {
		return Permanent(err)
	}
	if err := s.c.Send(msg); err != nil {
		var se *gomail.SendError
		if !errors.As(err, &se) {
			return fmt.Errorf("mail: send message %s: %w", m.ID, err)
		}
		f := SMTPFailure{Stage: stage(se.Reason), Code: se.ErrorCode(), Enhanced: se.EnhancedStatusCode()}
		// A 5xx reply to RCPT TO or to the message itself is about this message (RFC 5321 §4.2.1):
		// retrying will not mend it. One to MAIL FROM is about our configuration: retried.
		if f.Code >= 500 && f.Code < 600 && (se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose) {
			return Permanent(f)
		}
		return f
	}
	return nil
}

// SMTPFailure is a reply refusing a message, described by the stage, reply code and enhanced
// status code (RFC 3463) only: the server's text may name the recipient, so it is dropped.
type SMTPFailure struct {
	Stage    string // "MAIL FROM", "RCPT TO", "DATA", "end of data" or "delivery"
	Code     int    // the SMTP reply code, 0 when there was none (a broken connection)
	Enhanced string // for example "5.1.1"; "" when the server gave none
}

func (f SMTPFailure) Error() string {
	s := "SMTP"
	if f.Code != 0 {
		s += fmt.Sprintf(" %d", f.Code)
	}
	if f.Enhanced != "" {
		s += " " + f.Enhanced
	}
	return s + " at " + f.Stage
}

func stage(r gomail.SendErrReason) string {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return "MAIL FROM"
	case gomail.ErrSMTPRcptTo:
		return "RCPT TO"
	case gomail.ErrSMTPData:
		return "DATA"
	case gomail.ErrSMTPDataClose:
		return "end of data"
	}
	return "delivery"
}

// Close ends the SMTP connection.
func (s *smtpSession) Close() error { return s.c.Close() }

// permanentError marks a failure that retrying will not mend.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
