package optin_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

func confirmLink(t *testing.T, link string) {
	t.Helper()
	resp, err := http.PostForm(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Your subscription is confirmed") {
		t.Fatalf("confirm: %d %s", resp.StatusCode, b)
	}
}

// The sign-up page's text: the same whatever the address's state (so it tells nothing about
// it), and true in every case.
var signupPage = []string{
	"We are writing to this address about this sign-up: with a link to confirm it, or, if there is nothing to confirm, with a short note that says why.",
	"We write to one address at most once every two minutes. If we wrote to it in the last two minutes, no new message comes: use that one, or try again in a few minutes.",
}

func checkSignupPage(t *testing.T, what, page string) {
	t.Helper()
	for _, s := range signupPage {
		if !strings.Contains(page, s) {
			t.Errorf("%s: the page does not say %q:\n%s", what, s, page)
		}
	}
	if strings.Contains(page, "is on its way") {
		t.Errorf("%s: the page claims a message is on its way:\n%s", what, page)
	}
}

// TestSuppressedAddressComesBackByItsOwnOptIn: found by issue 11. After a hard bounce, a
// complaint, an imported unsubscribe or a re-creation after erasure, /p/subscribe and the
// preference center sent no confirmation (the opt-in checked the consent without the
// suppression and took the old consent to stand), while the page said a message was on its way.
// Now the person's own double opt-in is the way back (DESIGN §2): the confirmation goes out, and
// confirming records the consent and lifts the suppression, audited.
func TestSuppressedAddressComesBackByItsOwnOptIn(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	erased := func(email string, staffConsent bool) func() {
		return func() {
			id := r.Subscriber(email)
			if st := r.P.Do("DELETE", "/api/v1/contacts/"+id, nil, nil); st != 204 {
				t.Fatalf("erase: %d", st)
			}
			var c apptest.Contact
			if st := r.P.Do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": email}, &c); st != 201 {
				t.Fatalf("re-create: %d", st)
			}
			if staffConsent {
				if st := r.P.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "staff", "evidence": "Asked on the phone."}, nil); st != 201 {
					t.Fatalf("staff consent: %d", st)
				}
			}
		}
	}
	const subscribed = "Email Address,OPTIN_TIME,CONFIRM_TIME\n%s,2024-03-01 10:00:00,2024-03-01 10:05:00\n"
	cases := []struct {
		name, email string
		setup       func()
		suppressed  bool // the gate says suppressed before the sign-up
	}{
		{"hard bounce", "bounced@example.org", func() { r.Subscriber("bounced@example.org"); r.Bounce("bounced@example.org") }, true},
		{"complaint", "complained@example.org", func() { r.Subscriber("complained@example.org"); r.Complain("complained@example.org") }, true},
		{"imported cleaned", "cleaned@example.org", func() {
			r.ImportMailchimp(fmt.Sprintf(subscribed, "cleaned@example.org"))
			r.ImportMailchimp("Email Address,CLEAN_TIME\ncleaned@example.org,2025-01-01 10:00:00\n")
		}, true},
		{"imported unsubscribed", "left@example.org", func() {
			r.ImportMailchimp(fmt.Sprintf(subscribed, "left@example.org"))
			r.ImportMailchimp("Email Address,UNSUB_TIME\nleft@example.org,2025-01-01 10:00:00\n")
		}, false},
		{"imported unsubscribed, never a contact", "only.unsub@example.org", func() {
			r.ImportMailchimp("Email Address,UNSUB_TIME\nonly.unsub@example.org,2025-01-01 10:00:00\n")
		}, false},
		{"re-created after erasure", "back@example.org", erased("back@example.org", false), true},
		{"re-created after erasure, consent recorded by staff", "back.staff@example.org", erased("back.staff@example.org", true), true},
	}
	for _, tc := range cases {
		tc.setup()
		if tc.suppressed {
			if g := r.Gate(r.Lookup(tc.email), "newsletter"); g != "suppressed" {
				t.Fatalf("%s: gate %s before the sign-up; want suppressed", tc.name, g)
			}
		}
		checkSignupPage(t, tc.name, r.Subscribe(tc.email))
		link := r.Confirmation(tc.name, r.Mailed(tc.email))
		confirmLink(t, link)
		id := r.Lookup(tc.email)
		if g := r.Gate(id, "newsletter"); g != "consent_given" {
			t.Errorf("%s: gate %s after the person's own confirmation; want consent_given", tc.name, g)
		}
		if tc.suppressed {
			var audit struct {
				Items []struct{ Action string } `json:"items"`
			}
			r.P.Do("GET", "/api/v1/contacts/"+id+"/audit?limit=1000", nil, &audit)
			lifted := 0
			for _, e := range audit.Items {
				if e.Action == "suppression.lift" {
					lifted++
				}
			}
			if lifted != 1 {
				t.Errorf("%s: %d suppression.lift audit events; want 1", tc.name, lifted)
			}
		}
	}

	// An imported unsubscribe older than the consent on record joins the history and the newer
	// consent stays current (the import's rule, consent.Facts.Effective): the gate allows, and a
	// sign-up is answered with a note that there is nothing to confirm, not a confirmation.
	r.ImportMailchimp(fmt.Sprintf(subscribed, "older@example.org"))
	r.ImportMailchimp("Email Address,UNSUB_TIME\nolder@example.org,2020-01-01 10:00:00\n")
	if g := r.Gate(r.Lookup("older@example.org"), "newsletter"); g != "consent_given" {
		t.Errorf("imported unsubscribed before the consent on record: gate %s; want consent_given", g)
	}
	checkSignupPage(t, "older unsubscribe", r.Subscribe("older@example.org"))
	if msgs := r.Mailed("older@example.org"); len(msgs) != 1 {
		t.Errorf("older unsubscribe: %d messages; want the one note", len(msgs))
	} else if msg, text := apptest.ParseMessage(t, msgs[0]); msg.Header.Get("Subject") != "About your subscription" || !strings.Contains(text, "There is nothing to confirm") || apptest.ConfirmLink.MatchString(text) {
		t.Errorf("older unsubscribe: message %q %q; want the note that there is nothing to confirm, no link", msg.Header.Get("Subject"), text)
	}

	// The preference center of a person whose address bounced since their last message: its
	// subscribe sends the confirmation, and the page says so only then.
	id := r.Subscriber("prefs.bounced@example.org")
	prefs := r.PreferencesLink(id)
	r.Bounce("prefs.bounced@example.org")
	page := r.Choose(prefs, "newsletter", "subscribe")
	if !strings.Contains(page, "We sent you a message to confirm") {
		t.Errorf("preference center after subscribe: the page does not say a confirmation was sent:\n%s", page)
	}
	link := r.Confirmation("preference center", r.Mailed("prefs.bounced@example.org"))
	// Pressed again at once: nothing is sent, and the page says so and points to the message
	// that confirms this very purpose.
	page = r.Choose(prefs, "newsletter", "subscribe")
	if !strings.Contains(page, "We wrote to you less than two minutes ago to confirm \u201cNewsletter\u201d, so no new message was sent: press the button in that message.") || strings.Contains(page, "We sent you a message") {
		t.Errorf("preference center, subscribe pressed again: the page does not say that nothing was sent:\n%s", page)
	}
	if msgs := r.Mailed("prefs.bounced@example.org"); len(msgs) != 0 {
		t.Errorf("preference center, subscribe pressed again: %d messages; want none", len(msgs))
	}
	confirmLink(t, link)
	if g := r.Gate(id, "newsletter"); g != "consent_given" {
		t.Errorf("preference center: gate %s after confirming; want consent_given", g)
	}
	// Subscribing to what the person receives: nothing to send, and the page claims nothing.
	page = r.Choose(prefs, "newsletter", "subscribe")
	if strings.Contains(page, "We sent you") || strings.Contains(page, "We wrote to you") || !strings.Contains(page, "You receive this.") {
		t.Errorf("preference center, subscribe while subscribed: want the page as it is, claiming no message:\n%s", page)
	}
	if msgs := r.Mailed("prefs.bounced@example.org"); len(msgs) != 0 {
		t.Errorf("preference center, subscribe while subscribed: %d messages; want none", len(msgs))
	}
}

// TestSignupPageMatchesTheMail: /p/subscribe answers every address with one page (it must not
// tell whether an address is known), so that page must be true whatever the address's state:
// for every branch, what reached the SMTP server is what the page says (a confirmation link, a
// note when there is nothing to confirm, or nothing when the address was written to in the last
// two minutes). Before issue 11 the page said a confirmation was on its way for a confirmed,
// suppressed, objecting or restricted address, and none was sent.
func TestSignupPageMatchesTheMail(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	r.Post("/api/v1/imports?format=generic&status=pending", "text/csv", "email\npending@example.org\n")
	restricted := r.Subscriber("restricted@example.org")
	if st := r.P.Do("PUT", "/api/v1/contacts/"+restricted+"/restriction", nil, nil); st != 200 && st != 204 {
		t.Fatalf("restrict: %d", st)
	}
	objected := r.Subscriber("objected@example.org")
	if st := r.P.Do("POST", "/api/v1/contacts/"+objected+"/objections", map[string]any{"scope": "direct_marketing", "method": "staff"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	r.Subscriber("confirmed@example.org")
	r.Subscriber("bounced@example.org")
	r.Bounce("bounced@example.org")
	r.Subscriber("complained@example.org")
	r.Complain("complained@example.org")
	r.ImportMailchimp("Email Address,CLEAN_TIME\ncleaned@example.org,2025-01-01 10:00:00\n")
	r.ImportMailchimp("Email Address,UNSUB_TIME\nunsubscribed@example.org,2025-01-01 10:00:00\n")
	erased := r.Subscriber("erased@example.org")
	if st := r.P.Do("DELETE", "/api/v1/contacts/"+erased, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}

	const confirm, note, none = "a confirmation", "a note", "nothing"
	branches := []struct {
		name, email, want, says string // says: a line the note must carry
	}{
		{"new address", "new@example.org", confirm, ""},
		{"pending, no link sent yet", "pending@example.org", confirm, ""},
		{"pending, link sent a moment ago", "pending@example.org", none, ""},
		{"new address again at once", "new@example.org", none, ""},
		{"already confirmed", "confirmed@example.org", note, "You already receive \u201cNewsletter\u201d: nothing changed."},
		{"already confirmed, note sent a moment ago", "confirmed@example.org", none, ""},
		{"suppressed: hard bounce", "bounced@example.org", confirm, ""},
		{"suppressed: complaint", "complained@example.org", confirm, ""},
		{"suppressed: imported cleaned", "cleaned@example.org", confirm, ""},
		{"suppressed: imported unsubscribe", "unsubscribed@example.org", confirm, ""},
		{"suppressed: erased", "erased@example.org", confirm, ""},
		{"objected to direct marketing", "objected@example.org", note, "You objected to \u201cNewsletter\u201d (GDPR Art. 21), so we do not send it."},
		{"restricted", "restricted@example.org", note, "The processing of your data is restricted (GDPR Art. 18), so nothing was recorded for this sign-up: nothing is recorded or sent to you until the restriction is lifted."},
	}
	var first string
	for _, b := range branches {
		page := r.Subscribe(b.email)
		checkSignupPage(t, b.name, page)
		if first == "" {
			first = page
		} else if page != first {
			t.Errorf("%s: the page differs from the first branch's: it tells the address's state", b.name)
		}
		msgs := r.Mailed(b.email)
		switch b.want {
		case confirm:
			r.Confirmation(b.name, msgs)
		case none:
			if len(msgs) != 0 {
				t.Errorf("%s: %d messages; want none (written to a moment ago, as the page says)", b.name, len(msgs))
			}
		case note:
			if len(msgs) != 1 {
				t.Errorf("%s: %d messages; want one note", b.name, len(msgs))
				continue
			}
			msg, text := apptest.ParseMessage(t, msgs[0])
			if msg.Header.Get("Subject") != "About your subscription" || apptest.ConfirmLink.MatchString(text) || !strings.Contains(text, b.says) ||
				!strings.Contains(text, "There is nothing to confirm.") {
				t.Errorf("%s: message %q %q; want a note without a link saying %q", b.name, msg.Header.Get("Subject"), text, b.says)
			}
		}
	}
	// The preference center of a restricted person says so, offers no subscription, and a
	// subscription posted anyway sends nothing and claims nothing.
	prefs := r.PreferencesLink(restricted)
	page := r.Choose(prefs, "newsletter", "subscribe")
	if !strings.Contains(page, "the processing of your data is restricted (GDPR Art. 18)") || strings.Contains(page, `value="subscribe"`) || strings.Contains(page, "We sent you") {
		t.Errorf("preference center of a restricted person after subscribe:\n%s", page)
	}
	if msgs := r.Mailed("restricted@example.org"); len(msgs) != 0 {
		t.Errorf("preference center of a restricted person: %d messages; want none", len(msgs))
	}
	// The JSON answer is the same for every state too.
	for _, e := range []string{"json.new@example.org", "confirmed@example.org", "restricted@example.org"} {
		resp, err := http.Post(r.P.Base+"/p/subscribe", "application/json", strings.NewReader(`{"email":"`+e+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 || string(b) != "{\"status\":\"check_your_inbox\"}\n" {
			t.Errorf("JSON sign-up of %s: %d %s", e, resp.StatusCode, b)
		}
	}
}

// TestComingBackToOneListAfterAComplaint: found by issue 11's own work. A complaint suppresses
// the address for everything; the person later signs up again for the newsletter only.
// Confirming lifted the whole suppression, so the offers mail they had agreed to before the
// complaint resumed: confirming one list revived another. Now the other consents given before
// the complaint are withdrawn as of it (method suppression), and only the confirmed one stands.
// A bounce is not the person's "no": after it, the earlier consents stand again.
func TestComingBackToOneListAfterAComplaint(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	if st := r.P.Do("POST", "/api/v1/purposes", map[string]any{"id": "offers", "name": "Offers", "lawful_basis": "dpv:Consent"}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	both := func(email string) string {
		id := r.Subscriber(email)
		if st := r.P.Do("POST", "/api/v1/contacts/"+id+"/consents", map[string]any{"purpose": "offers", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
			t.Fatalf("consent for offers: %d", st)
		}
		return id
	}
	cases := []struct {
		name, email  string
		report       func(string)
		offers, news string // the gate for each purpose after confirming the newsletter
	}{
		{"complaint", "spam.button@example.org", r.Complain, "withdrawn", "consent_given"},
		{"bounce", "full.mailbox@example.org", r.Bounce, "consent_given", "consent_given"},
	}
	for _, tc := range cases {
		id := both(tc.email)
		time.Sleep(5 * time.Millisecond) // the report comes after both consents
		tc.report(tc.email)
		r.Subscribe(tc.email, "newsletter")
		confirmLink(t, r.Confirmation(tc.name, r.Mailed(tc.email)))
		if g := r.Gate(id, "newsletter"); g != tc.news {
			t.Errorf("%s: newsletter gate %s; want %s", tc.name, g, tc.news)
		}
		if g := r.Gate(id, "offers"); g != tc.offers {
			t.Errorf("%s: offers gate %s after confirming the newsletter only; want %s", tc.name, g, tc.offers)
		}
		var l struct {
			Current []struct {
				Purpose, State, Method string
			} `json:"current"`
		}
		r.P.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &l)
		for _, c := range l.Current {
			if c.Purpose == "offers" && tc.offers == "withdrawn" && c.Method != "suppression" {
				t.Errorf("%s: offers withdrawn by method %q; want suppression", tc.name, c.Method)
			}
		}
	}
}
