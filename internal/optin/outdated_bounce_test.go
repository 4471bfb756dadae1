package optin_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestOnlyABounceAfterTheOptInSuppressesAgain (issue 11, item 2): after the person's own
// confirmed double opt-in lifted a bounce, a cleaned row older than the confirmation is counted
// outdated_suppressions and suppresses nothing; a cleaned row newer than it (the address bounced
// again since) suppresses as any bounce does.
func TestOnlyABounceAfterTheOptInSuppressesAgain(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	const email = "back.again@example.org"
	r.ImportMailchimp("Email Address,OPTIN_TIME,CONFIRM_TIME\n" + email + ",2024-03-01 10:00:00,2024-03-01 10:05:00\n")
	r.ImportMailchimp("Email Address,CLEAN_TIME\n" + email + ",2025-01-01 10:00:00\n")
	id := r.Lookup(email)
	r.Subscribe(email, "newsletter")
	confirmLink(t, r.Confirmation("sign-up", r.Mailed(email)))

	file := func(cleaned string) string {
		p := filepath.Join(t.TempDir(), "cleaned.csv")
		if err := os.WriteFile(p, []byte("Email Address,CLEAN_TIME\n"+email+","+cleaned+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := apptest.Import(t, r.P.App, map[string]string{"format": "mailchimp"}, file("2025-01-01 10:00:00"))
	if old.OutdatedSups != 1 || old.SuppressionsAdded != 0 || old.SuppressionsKnown != 0 {
		t.Errorf("report of the old cleaned row: %+v; want outdated_suppressions 1 and nothing suppressed", old)
	}
	if g := r.Gate(id, "newsletter"); g != "consent_given" {
		t.Errorf("gate %s after the old cleaned row; want consent_given", g)
	}
	later := apptest.Import(t, r.P.App, map[string]string{"format": "mailchimp"}, file(time.Now().UTC().Add(2*time.Second).Format("2006-01-02 15:04:05")))
	if later.OutdatedSups != 0 || later.SuppressionsAdded != 1 {
		t.Errorf("report of a cleaned row after the confirmation: %+v; want suppressions_added 1", later)
	}
	if g := r.Gate(id, "newsletter"); g != "suppressed" {
		t.Errorf("gate %s after a bounce newer than the confirmation; want suppressed", g)
	}
}
