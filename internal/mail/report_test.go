package mail_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/mail"
)

// dsn builds a delivery status notification like RFC 3464 Appendix C, with one permanent and one
// temporary failure.
const dsn = "From: MAILER-DAEMON@mx.example.net\r\nTo: news@tillit.example\r\nSubject: Delivery Status Notification\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"RAA14128.773615765/mx\"\r\n\r\n" +
	"--RAA14128.773615765/mx\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
	"--RAA14128.773615765/mx\r\nContent-Type: message/delivery-status\r\n\r\n" +
	"Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n" +
	"Original-Recipient: rfc822;Gone.Away@example.org\r\nFinal-Recipient: rfc822; gone.away@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n" +
	"Final-Recipient: rfc822; busy@example.org\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n" +
	"--RAA14128.773615765/mx\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: gone.away@example.org\r\nSubject: Spring news\r\n\r\n" +
	"--RAA14128.773615765/mx--\r\n"

// arf builds an abuse report like RFC 5965 Appendix B.
const arf = "From: <abusedesk@mailbox.example>\r\nTo: <abuse@tillit.example>\r\nSubject: FW: Spring news\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=feedback-report; boundary=\"part1_13d.2e68ed54_boundary\"\r\n\r\n" +
	"--part1_13d.2e68ed54_boundary\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n\r\nThis is an email abuse report.\r\n" +
	"--part1_13d.2e68ed54_boundary\r\nContent-Type: message/feedback-report\r\n\r\n" +
	"Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\r\n" +
	"--part1_13d.2e68ed54_boundary\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" +
	"From: <news@tillit.example>\r\nTo: <Annoyed@Example.ORG>\r\nSubject: Spring news\r\n\r\nHello.\r\n" +
	"--part1_13d.2e68ed54_boundary--\r\n"

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want mail.Report
	}{
		{"RFC 3464 hard bounce, the delayed recipient left out", dsn, mail.Report{Kind: mail.ReportBounce, Recipients: []string{"gone.away@example.org"}}},
		{"RFC 5965 complaint, recipient from the original message", arf, mail.Report{Kind: mail.ReportComplaint, Recipients: []string{"Annoyed@Example.ORG"}}},
		{"RFC 6533 global DSN with a utf-8 address and an escape",
			strings.NewReplacer("message/delivery-status", "message/global-delivery-status", "rfc822;Gone.Away@example.org", "utf-8; bj\\x{F6}rn@ex\\x{E4}mple.se",
				"rfc822; gone.away@example.org", "utf-8; björn.ås@exämple.se").Replace(dsn),
			mail.Report{Kind: mail.ReportBounce, Recipients: []string{"björn.ås@exämple.se"}}},
		{"RFC 6533 global DSN labelled report-type=global-delivery-status",
			strings.NewReplacer("report-type=delivery-status", "report-type=global-delivery-status", "message/delivery-status", "message/global-delivery-status").Replace(dsn),
			mail.Report{Kind: mail.ReportBounce, Recipients: []string{"gone.away@example.org"}}},
		{"ARF with Original-Rcpt-To", strings.Replace(arf, "Version: 1\r\n", "Version: 1\r\nOriginal-Rcpt-To: <named@example.org>\r\n", 1), mail.Report{Kind: mail.ReportComplaint, Recipients: []string{"named@example.org"}}},
	} {
		got, err := mail.ParseReport(strings.NewReader(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ParseReport = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	// Only Original-Recipient, as an escaped utf-8-address (RFC 6533 §3).
	only := strings.Replace(strings.Replace(dsn, "Final-Recipient: rfc822; gone.away@example.org\r\n", "", 1), "rfc822;Gone.Away@example.org", "utf-8; bj\\x{F6}rn@ex\\x{E4}mple.se", 1)
	if got, err := mail.ParseReport(strings.NewReader(only)); err != nil || len(got.Recipients) != 1 || got.Recipients[0] != "björn@exämple.se" {
		t.Errorf("escaped utf-8 Original-Recipient: %+v, %v; want björn@exämple.se", got, err)
	}
	for _, in := range []string{"Subject: hello\r\n\r\nplain mail\r\n", "not a message at all"} {
		if _, err := mail.ParseReport(strings.NewReader(in)); !errors.Is(err, mail.ErrNotAReport) {
			t.Errorf("ParseReport(%q) err = %v; want ErrNotAReport", in, err)
		}
	}
}
