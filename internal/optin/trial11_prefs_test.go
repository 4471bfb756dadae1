package optin_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestPreferenceCenterSaysWhichMessageToUse (trial of issue 11, item 2): on the preference
// center, a subscription to one purpose sends its confirmation; a subscription to a second
// purpose within two minutes sends nothing and records nothing, and the page answers "use the one
// we sent". That message confirms the first purpose only, so following the page's advice never
// gives the second: the page must not point to a message that does not do what was asked.
func TestPreferenceCenterSaysWhichMessageToUse(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	if st := r.P.Do("POST", "/api/v1/purposes", map[string]any{"id": "offers", "name": "Offers", "description": "Offers by e-mail", "lawful_basis": "dpv:Consent", "double_opt_in": true, "direct_marketing": true}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	id := r.Subscriber("two.lists@example.org")
	if st := r.P.Do("POST", "/api/v1/contacts/"+id+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "api"}, nil); st != 201 {
		t.Fatalf("withdrawal: %d", st)
	}
	prefs := r.PreferencesLink(id)
	r.Choose(prefs, "newsletter", "subscribe")
	msgs := r.Mailed("two.lists@example.org")
	if len(msgs) != 1 {
		t.Fatalf("after the first subscription: %d messages; want the newsletter's confirmation", len(msgs))
	}
	if _, text := apptest.ParseMessage(t, msgs[0]); !strings.Contains(text, "Newsletter") {
		t.Fatalf("after the first subscription: %q; want the newsletter's confirmation", text)
	}
	page := r.Choose(prefs, "offers", "subscribe")
	if n := len(r.Mailed("two.lists@example.org")); n != 0 {
		t.Fatalf("second subscription within two minutes: %d messages; want none (the two-minute limit)", n)
	}
	said := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " ")
	if strings.Contains(said, "use the one we sent") {
		t.Errorf("the page after subscribing to offers says %q; the message sent confirms the newsletter only, so using it never subscribes to offers", "use the one we sent")
	}
	// What the page says instead: what the earlier message confirms, that nothing was sent for
	// offers, and when to ask again (the two-minute limit stays: a link's holder cannot fill
	// the mailbox by choosing one purpose after another).
	want := regexp.MustCompile("We wrote to you less than two minutes ago to confirm \u201cNewsletter\u201d only, so no new message was sent; that message does not subscribe you to \u201cOffers\u201d\\. To receive \u201cOffers\u201d, choose it here again in (2 minutes|1 minute)\\.")
	if !want.MatchString(said) {
		t.Errorf("the page after subscribing to offers does not say %q:\n%s", want, said)
	}
}
