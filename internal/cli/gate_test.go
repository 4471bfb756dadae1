package cli_test

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestGateSeesAnotherProcess: the server's gate cache must notice a commit made by another
// process on the same data directory (here a CLI import with its own database handle) within the
// store's bound (testdb.GenerationLag).
func TestGateSeesAnotherProcess(t *testing.T) {
	lag := testdb.GenerationLag(t)
	dir := t.TempDir()
	p := startProgram(t, dir)
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "other.process@example.org"}, &c)
	p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "api"}, nil)
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
	if !d.Allowed {
		t.Fatalf("before: %+v", d)
	}
	// No UNSUB_TIME (a row without one in an UNSUB_TIME column is refused): the unsubscribe is
	// the import's, after the consent.
	importJSON(t, dir, writeFile(t, "u.csv", "Email Address,Status\nother.process@example.org,unsubscribed\n"))
	time.Sleep(2 * lag) // the documented bound on seeing another process's commit
	p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
	if d.Allowed || d.Reason != "withdrawn" {
		t.Errorf("after another process imported the unsubscribe: %+v; want withdrawn", d)
	}
}
