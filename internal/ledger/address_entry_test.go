package ledger_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/ledger"
)

// The lines about a contact, each with the hash of its address, as ledger export writes them.
var addressLines = map[string]string{
	"withdrawal":  `{"type":"withdrawal",` + event + `,"hash":"%s"}`,
	"refusal":     `{"type":"refusal",` + event + `,"hash":"%s"}`,
	"objection":   `{"type":"objection","contact_id":"c1","scope":"direct_marketing","method":"gpc","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `","hash":"%s"}`,
	"restriction": `{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `","hash":"%s"}`,
	"request": `{"type":"request","request_id":"r1","request_type":"erasure","contact_id":"c1","state":"in_progress","channel":"portal",` +
		`"received_at":"` + t0 + `","verified_at":"` + t0 + `","due_at":"2026-04-01T12:00:00Z","hash":"%s"}`,
}

// TestParseReadsTheHashOfEveryLineAboutAContact: withdrawal, refusal, objection, restriction and
// request lines may carry the keyed hash of the contact's address; it is checked like every
// keyed hash (lower-case hex of keys.IndexSize bytes), and the error names the field, never the
// value.
func TestParseReadsTheHashOfEveryLineAboutAContact(t *testing.T) {
	for typ, line := range addressLines {
		es, err := ledger.Parse(strings.NewReader(strings.Replace(line, "%s", hash, 1)))
		if err != nil || len(es) != 1 || es[0].Hash != hash {
			t.Errorf("%s line with a hash: %+v %v; want it read with its hash", typ, es, err)
		}
		for _, bad := range []string{"anna.berg@example.org", strings.ToUpper(hash), hash[:30], ""} {
			_, err := ledger.Parse(strings.NewReader(strings.Replace(line, "%s", bad, 1)))
			var le *ledger.LineError
			if !errors.As(err, &le) || le.Field != "hash" || (bad != "" && strings.Contains(err.Error(), bad)) {
				t.Errorf("%s line with hash %q: %v; want a hash error naming the field only", typ, bad, err)
			}
		}
	}
}
