package cli_test

import (
	"strings"
	"testing"
)

// TestServeWarnsOfSMTPGaps: tillit serve mailing over SMTP with an http:// base URL and no
// postal address warns about both at start (RFC 8058 §3.1 wants HTTPS unsubscribe links;
// marketing mail must carry the sender's postal address). From TestRefusedMessageFailsOnce,
// whose mail scenario moved to internal/mail.
func TestServeWarnsOfSMTPGaps(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none"})
	logs := p.stderr.String()
	if !strings.Contains(logs, "unsubscribe links are not HTTPS") || !strings.Contains(logs, "marketing mail carries no postal address") {
		t.Errorf("log %s; want warnings about the http:// links and the missing postal address", logs)
	}
}
