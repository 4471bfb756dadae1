package optin_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// hold puts, on r, contact id (address email) on hold of the given kind: "erasure" or "restriction" is
// a staff request of that type, verified by staff (open, so the gate refuses with
// erasure_requested, restriction_requested); "restricted" is staff's restriction flag (PUT
// …/restriction). Any mail the hold sent is read and dropped.
func hold(t *testing.T, r *apptest.Signups, kind, id, email string) {
	t.Helper()
	if kind == "restricted" {
		if st := r.P.Do("PUT", "/api/v1/contacts/"+id+"/restriction", nil, nil); st != 200 && st != 204 {
			t.Fatalf("restrict: %d", st)
		}
	} else {
		var req apptest.Request
		if st := r.P.Do("POST", "/api/v1/requests", map[string]any{"type": kind, "channel": "letter", "email": email}, &req); st != 201 {
			t.Fatalf("%s request: %d", kind, st)
		}
		if st := r.P.Do("POST", "/api/v1/requests/"+req.ID+"/verify", map[string]any{"contact_id": id, "note": "Signed letter."}, nil); st != 200 {
			t.Fatalf("verify %s request: %d", kind, st)
		}
	}
	r.Mailed(email)
}

// TestHeldPersonIsToldTheTruth: found by a fresh-user trial (issue 11). While a person's verified
// erasure or restriction request was open, the public pages ignored it: the sign-up note said
// "You already receive “Newsletter”: nothing changed" (and a restriction-requested person got a
// confirmation link for the other purpose), an older confirmation link answered "Your
// subscription is confirmed", and the preference center offered Subscribe, which sent nothing
// and said nothing. A restriction set by staff was called one "at your request", and a
// restricted person was offered to withdraw a consent they never gave. Now every hold (the
// restriction, an open erasure or restriction request: consent.Facts.Hold) gets the same
// treatment: nothing is recorded, and each page says which hold it is and until when.
func TestHeldPersonIsToldTheTruth(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	if st := r.P.Do("POST", "/api/v1/purposes", map[string]any{"id": "events", "name": "Events", "lawful_basis": "dpv:Consent"}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	for _, tc := range []struct {
		kind, reason, says string
	}{
		{"erasure", "erasure_requested", "your request to erase your data (GDPR Art. 17) is open"},
		{"restriction", "restriction_requested", "your request to restrict the processing of your data (GDPR Art. 18) is open"},
		{"restricted", "restricted", "the processing of your data is restricted (GDPR Art. 18)"},
	} {
		// A subscriber of the newsletter, on hold, signs up for the newsletter and events.
		a := tc.kind + ".a@example.org"
		id := r.Subscriber(a)
		prefs := r.PreferencesLink(id)
		hold(t, r, tc.kind, id, a)
		if g := r.Gate(id, "newsletter"); g != tc.reason {
			t.Fatalf("%s: gate %s; want %s", tc.kind, g, tc.reason)
		}
		checkSignupPage(t, tc.kind, r.Subscribe(a, "newsletter", "events"))
		if msgs := r.Mailed(a); len(msgs) != 1 {
			t.Errorf("%s: sign-up: %d messages; want one note", tc.kind, len(msgs))
		} else if msg, text := apptest.ParseMessage(t, msgs[0]); msg.Header.Get("Subject") != "About your subscription" || apptest.ConfirmLink.MatchString(text) ||
			!strings.Contains(text, sentence(tc.says)+", so nothing was recorded for this sign-up") || strings.Contains(text, "You already receive") ||
			strings.Contains(text, "at your request") {
			t.Errorf("%s: sign-up: message %q %q; want a note without a link saying %q, nothing else", tc.kind, msg.Header.Get("Subject"), text, tc.says)
		}

		// The preference center says it, offers no subscription, and the withdrawal only where
		// consent is given; a subscription posted anyway records and sends nothing.
		page := r.Choose(prefs, "events", "subscribe")
		sections := strings.Split(page, "<section>")
		if len(sections) != 3 {
			t.Fatalf("%s: preference center: %d sections; want newsletter and events:\n%s", tc.kind, len(sections)-1, page)
		}
		for i, s := range sections[1:] {
			if !strings.Contains(s, "You do not receive this: "+tc.says+", so nothing is sent or changed here") || strings.Contains(s, `value="subscribe"`) {
				t.Errorf("%s: preference center, section %d does not say %q or offers a subscription:\n%s", tc.kind, i, tc.says, s)
			}
			if withdraw := strings.Contains(s, `value="unsubscribe"`); withdraw != strings.Contains(s, "<h2>Newsletter</h2>") {
				t.Errorf("%s: preference center, section %d offers a withdrawal: %v; want it only for the newsletter, whose consent is given:\n%s", tc.kind, i, withdraw, s)
			}
		}
		if strings.Contains(page, "We sent you") || strings.Contains(page, "We wrote to you") {
			t.Errorf("%s: preference center claims a message:\n%s", tc.kind, page)
		}
		if msgs := r.Mailed(a); len(msgs) != 0 {
			t.Errorf("%s: preference center subscription: %d messages; want none", tc.kind, len(msgs))
		}

		// A confirmation link sent before the hold confirms nothing, and the page says why.
		b := tc.kind + ".b@example.org"
		r.Subscribe(b, "events")
		link := r.Confirmation(tc.kind, r.Mailed(b))
		bid := r.Lookup(b)
		hold(t, r, tc.kind, bid, b)
		st, page := apptest.PostForm(t, r.P.Base, strings.TrimPrefix(link, r.P.Base), nil)
		if st != 200 || strings.Contains(page, "is confirmed") || !strings.Contains(page, sentence(tc.says)+", so nothing was recorded for your confirmation") {
			t.Errorf("%s: older confirmation link: %d; want the page to say %q, nothing confirmed:\n%s", tc.kind, st, tc.says, page)
		}
		var l struct {
			Current []struct{ Purpose, State string } `json:"current"`
		}
		r.P.Do("GET", "/api/v1/contacts/"+bid+"/consents", nil, &l)
		for _, c := range l.Current {
			if c.State == "dpv:ConsentGiven" {
				t.Errorf("%s: older confirmation link recorded %s for %s", tc.kind, c.State, c.Purpose)
			}
		}
	}
}

// sentence is s with its first letter capital.
func sentence(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
