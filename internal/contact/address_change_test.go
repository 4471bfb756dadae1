package contact_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestStaffAddressChangeIsToldToTheOldAddress: found by a second trial. An agent could change a
// contact's address to their own by PATCH and then take the access bundle through the portal;
// the person heard nothing. The replaced address is told now.
func TestStaffAddressChangeIsToldToTheOldAddress(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example", "TILLIT_DPO_EMAIL": "dpo@tillit.example"}))
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "yvonne.x@example.org", "first_name": "Yvonne"}, &c)
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "Yvonne B."}, nil); st != 200 {
		t.Fatalf("patch name: %d", st)
	}
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"email": "drop@evil.example"}, nil); st != 200 {
		t.Fatalf("patch address: %d", st)
	}
	d := sink.Next(t)
	msg, text := apptest.ParseMessage(t, d)
	if d.To[0] != "yvonne.x@example.org" || msg.Header.Get("Subject") != "The e-mail address on your record was changed" || strings.Contains(text, "drop@evil") || !strings.Contains(text, "dpo@tillit.example") {
		t.Errorf("notice to %v: %s\n%s; want the old address told, without the new one, with whom to write to", d.To, msg.Header.Get("Subject"), text)
	}
}
