package cli_test

import (
	"net/mail"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// delivered is one message a test SMTP server received.
type delivered = apptest.Delivered

// smtpSink is a real SMTP server on 127.0.0.1 that keeps what it receives (apptest.SMTPSink).
type smtpSink struct {
	*apptest.SMTPSink
	addr string
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	s := apptest.SMTP(t)
	return &smtpSink{SMTPSink: s, addr: s.Addr}
}

// next returns the next delivered message (apptest.SMTPSink.Next).
func (s *smtpSink) next(t *testing.T) delivered {
	t.Helper()
	return s.Next(t)
}

// parseMessage reads a delivered message and returns it and its decoded text/plain body.
func parseMessage(t *testing.T, d delivered) (*mail.Message, string) {
	t.Helper()
	return apptest.ParseMessage(t, d)
}
