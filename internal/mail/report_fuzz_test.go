package mail_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/mail"
)

// FuzzParseReport reads any message as a bounce or complaint and checks what ParseReport
// promises: an error is ErrNotAReport; a report is a bounce or a complaint; recipients and
// message ids are single non-empty header values without angle brackets around them, at most
// one per 8 bytes of input; and parsing allocates at most a fixed 64 KiB plus 64 bytes per input
// byte (a part costs its headers, not a fresh 4 KiB buffer).
func FuzzParseReport(f *testing.F) {
	only := strings.Replace(strings.Replace(dsn, "Final-Recipient: rfc822; gone.away@example.org\r\n", "", 1), "rfc822;Gone.Away@example.org", "utf-8; bj\\x{F6}rn@ex\\x{E4}mple.se", 1)
	for _, s := range []string{
		dsn, arf, only, strings.Replace(arf, "Version: 1\r\n", "Version: 1\r\nOriginal-Rcpt-To: <named@example.org>\r\n", 1),
		strings.NewReplacer("message/delivery-status", "message/global-delivery-status", "rfc822; gone.away@example.org", "utf-8; björn.ås@exämple.se").Replace(dsn),
		"Subject: hello\r\n\r\nplain mail\r\n", "not a message at all",
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" + strings.Repeat("--b\nContent-Type: message/rfc822\n\nMessage-Id: <x>\n", 50) + "--b--\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rep, err := mail.ParseReport(strings.NewReader(string(in)))
		runtime.ReadMemStats(&after)
		if n, limit := after.TotalAlloc-before.TotalAlloc, raceFactor*(64<<10+64*uint64(len(in))); n > limit {
			t.Fatalf("parsing %d bytes allocated %d", len(in), n)
		}
		if err != nil {
			if !errors.Is(err, mail.ErrNotAReport) {
				t.Fatalf("ParseReport: %v; want ErrNotAReport", err)
			}
			return
		}
		if rep.Kind != mail.ReportBounce && rep.Kind != mail.ReportComplaint {
			t.Fatalf("kind %q", rep.Kind)
		}
		values := append(append([]string{}, rep.Recipients...), rep.MessageIDs...)
		if len(values) > len(in)/8+1 {
			t.Fatalf("%d recipients and ids from %d bytes", len(values), len(in))
		}
		for _, v := range values {
			if v == "" || strings.ContainsAny(v, "\r\n") || strings.HasPrefix(v, "<") || strings.HasSuffix(v, ">") {
				t.Fatalf("recipient or id %q", v)
			}
		}
	})
}

// TestParseReportManyPartsStaysSmall: found by FuzzParseReport. Every part of a report got a
// fresh 4 KiB buffer, so a report of many tiny parts allocated some 100 bytes per byte read; one
// buffer serves them all now.
func TestParseReportManyPartsStaysSmall(t *testing.T) {
	in := "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n" +
		strings.Repeat("--b\nContent-Type: message/rfc822\n\nMessage-Id: <x>\n", 10_000) +
		"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n\n--b--\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep, err := mail.ParseReport(strings.NewReader(in))
	runtime.ReadMemStats(&after)
	if err != nil || rep.Kind != mail.ReportComplaint || len(rep.MessageIDs) != 10_000 {
		t.Fatalf("ParseReport: kind %q, %d ids, %v", rep.Kind, len(rep.MessageIDs), err)
	}
	if n, limit := after.TotalAlloc-before.TotalAlloc, raceFactor*(64<<10+64*uint64(len(in))); n > limit {
		t.Errorf("parsing %d bytes allocated %d; want at most %d", len(in), n, limit)
	}
}
