package optin_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestReimportOfAnOldBounceKeepsTheLaterOptIn (trial of issue 11, item 2): a cleaned address
// comes back by the person's own double opt-in, which lifts the suppression. Importing the same
// Mailchimp cleaned export again (a marketer re-running last month's import, or a merged sheet
// that still holds the row) put the address on the suppression list again at its CLEAN_TIME,
// which is older than the person's confirmation: the person's way back is undone without a word
// in the report beyond suppressions_added. An unsubscribed row older than the consent on record
// is already counted as outdated (outdated_withdrawals) and leaves the consent as it is; a
// bounce older than a confirmation the person received at that address is outdated the same way.
func TestReimportOfAnOldBounceKeepsTheLaterOptIn(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	const email = "came.back@example.org"
	const cleaned = "Email Address,CLEAN_TIME\n" + email + ",2025-01-01 10:00:00\n"
	r.ImportMailchimp("Email Address,OPTIN_TIME,CONFIRM_TIME\n" + email + ",2024-03-01 10:00:00,2024-03-01 10:05:00\n")
	r.ImportMailchimp(cleaned)
	id := r.Lookup(email)
	if g := r.Gate(id, "newsletter"); g != "suppressed" {
		t.Fatalf("gate %s after the cleaned import; want suppressed", g)
	}
	r.Subscribe(email, "newsletter")
	confirmLink(t, r.Confirmation("sign-up", r.Mailed(email)))
	if g := r.Gate(id, "newsletter"); g != "consent_given" {
		t.Fatalf("gate %s after the person's own confirmation; want consent_given", g)
	}

	r.ImportMailchimp(cleaned)
	if g := r.Gate(id, "newsletter"); g != "consent_given" {
		t.Errorf("gate %s after the same cleaned export (CLEAN_TIME 2025) was imported again; want consent_given: the person confirmed at this address after the bounce", g)
	}
}
