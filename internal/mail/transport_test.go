package mail_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/mail"
)

// TestSMTPSessions: ?sessions=N sets how many connections hand messages over at once (1 to 32,
// default mail.DefaultSessions); anything else is refused without repeating the password.
func TestSMTPSessions(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want int // 0: refused
	}{
		{"smtp://user:secret@mx.example:587", mail.DefaultSessions},
		{"smtp://mx.example?tls=none&sessions=1", 1},
		{"smtps://mx.example?sessions=32", 32},
		{"smtp://user:secret@mx.example?sessions=0", 0},
		{"smtp://user:secret@mx.example?sessions=33", 0},
		{"smtp://user:secret@mx.example?sessions=many", 0},
	} {
		tr, err := mail.NewSMTPTransport(tc.url, "news@tillit.example", "tillit.example")
		switch {
		case tc.want == 0 && (err == nil || strings.Contains(err.Error(), "secret")):
			t.Errorf("%s: %v; want refused without the password", tc.url, err)
		case tc.want != 0 && (err != nil || tr.Sessions != tc.want):
			t.Errorf("%s: %+v, %v; want %d sessions", tc.url, tr, err, tc.want)
		}
	}
}
