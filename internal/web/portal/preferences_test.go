package portal_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
)

// TestPreferenceCenter: the unsubscribe page links to the preference center; GET lists every
// consent-based purpose with the person's choice and changes nothing; POST unsubscribe withdraws
// at once (method web-form); POST subscribe sends a double opt-in mail whose confirmation gives
// consent; an unknown token, purpose or action changes nothing and answers the same.
func TestPreferenceCenter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "offers", "name": "Member offers", "description": "Discounts for members, monthly.", "lawful_basis": "dpv:Consent"}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	// The subscription form names what it asks for (consent must be informed, GDPR Art. 4(11)).
	getForm := func(query string) (int, string) {
		t.Helper()
		resp, err := http.Get(p.Base + "/p/subscribe?" + query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if st, form := getForm("purposes=offers"); st != 200 || !strings.Contains(form, "\u201cMember offers\u201d: Discounts for members, monthly.") || !strings.Contains(form, `name="purposes" value="offers"`) {
		t.Errorf("subscription form does not name the consent purpose it asks for: %d\n%s", st, form)
	}
	// A form may not carry a purpose it does not name, nor an acceptance of terms (a contract).
	if st, form := getForm("purposes=offers&purposes=terms-of-service"); st != 400 || strings.Contains(form, `name="purposes"`) {
		t.Errorf("form with the terms among its purposes: %d\n%s; want refused", st, form)
	}
	resp0, err := http.Post(p.Base+"/p/subscribe", "application/json", strings.NewReader(`{"email":"tos@example.org","purposes":["terms-of-service"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if resp0.StatusCode != 400 {
		t.Errorf("subscribing to the terms of service: %d; want 400 (an acceptance is not a subscription)", resp0.StatusCode)
	}
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "choosing@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)

	a := p.App
	var l optin.Links
	err = a.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		l, err = a.Unsubscribe.MintIn(context.Background(), tx, c.ID, "newsletter", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	token := l.URL[strings.LastIndex(l.URL, "/")+1:]
	prefs := p.Base + "/p/preferences/" + token
	get := func(u string) string {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		return string(b)
	}
	if page := get(l.URL); !strings.Contains(page, `href="/p/preferences/`+token+`"`) {
		t.Errorf("unsubscribe page does not link to the preference center: %s", page)
	}
	gate := func(purpose string) string {
		t.Helper()
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": purpose}, &d)
		return d.Reason
	}
	page := get(prefs)
	news, offers, _ := strings.Cut(page[strings.Index(page, "<h2>Newsletter</h2>"):], "<h2>Member offers</h2>")
	if !strings.Contains(news, `value="unsubscribe"`) || !strings.Contains(offers, "Discounts for members, monthly.") || !strings.Contains(offers, `value="subscribe"`) {
		t.Fatalf("preference page; want newsletter subscribed, offers not:\n%s", page)
	}
	if strings.Contains(page, "choosing@example.org") || strings.Contains(page, ">Terms") {
		t.Errorf("the page shows the address or a non-consent purpose:\n%s", page)
	}
	if gate("newsletter") != "consent_given" {
		t.Fatal("GET changed the consent")
	}
	// The answer to a change is the page itself, saying what happened and only that (issue 11: a
	// page claimed a mail for a purpose that does not exist; a crafted ?done=confirm claimed one
	// for nothing).
	said := map[string]string{"withdrawn": "Done: you are unsubscribed from it.", "confirm": "We sent you a message to confirm",
		"rate_limited": "no new message was sent"}
	post := func(target string, form url.Values, done string) {
		t.Helper()
		resp, err := http.PostForm(target, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %v: %d; want 200", form, resp.StatusCode)
		}
		for k, words := range said {
			if strings.Contains(string(b), words) != (k == done) {
				t.Errorf("POST %v: the page saying %q is %v; want it only for outcome %q:\n%s", form, words, !(k == done), done, b)
			}
		}
	}
	for done := range said {
		if page := get(prefs + "?done=" + done); strings.Contains(page, said[done]) {
			t.Errorf("GET ?done=%s: the page claims %q for nothing that happened", done, said[done])
		}
	}
	// Nothing changes for a bad purpose, action or token, and the page claims nothing.
	post(prefs, url.Values{"purpose": {"newsletter"}, "action": {"drop"}}, "")
	post(prefs, url.Values{"purpose": {"nosuch"}, "action": {"unsubscribe"}}, "")
	post(prefs, url.Values{"purpose": {"nosuch"}, "action": {"subscribe"}}, "")
	post(p.Base+"/p/preferences/not-a-token", url.Values{"purpose": {"newsletter"}, "action": {"unsubscribe"}}, "")
	if gate("newsletter") != "consent_given" {
		t.Fatal("a bad request changed the consent")
	}
	// Subscribing to what the person receives already sends nothing and claims nothing.
	post(prefs, url.Values{"purpose": {"newsletter"}, "action": {"subscribe"}}, "")

	post(prefs, url.Values{"purpose": {"newsletter"}, "action": {"unsubscribe"}}, "withdrawn")
	if r := gate("newsletter"); r != "withdrawn" {
		t.Errorf("after unsubscribe on the preference center: gate %s; want withdrawn", r)
	}
	var ledger struct {
		Current []struct{ Purpose, State, Method string } `json:"current"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &ledger)
	for _, e := range ledger.Current {
		if e.Purpose == "newsletter" && (e.State != "dpv:ConsentWithdrawn" || e.Method != "web-form") {
			t.Errorf("newsletter ledger state %+v; want withdrawn by web-form", e)
		}
	}

	post(prefs, url.Values{"purpose": {"offers"}, "action": {"subscribe"}}, "confirm")
	if r := gate("offers"); r == "consent_given" {
		t.Fatal("subscribe gave consent without confirmation")
	}
	var files []string
	for deadline := time.Now().Add(60 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	}
	if len(files) != 1 {
		t.Fatalf("%d mails written; want the one confirmation", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	_, text := apptest.ParseMessage(t, apptest.Delivered{Data: b})
	link := apptest.ConfirmLink.FindString(text)
	if link == "" {
		t.Fatalf("no confirmation link in %q", text)
	}
	if page := get(link); !strings.Contains(page, "\u201cMember offers\u201d: Discounts for members, monthly.") {
		t.Errorf("the confirmation page does not say what it agrees to:\n%s", page)
	}
	resp, err := http.PostForm(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := gate("offers"); r != "consent_given" {
		t.Errorf("after confirming the subscription from the preference center: gate %s; want consent_given", r)
	}
	if page := get(prefs); !strings.Contains(page[strings.Index(page, "<h2>Member offers</h2>"):], `value="unsubscribe"`) {
		t.Errorf("page after confirming does not show offers as received:\n%s", page)
	}
	// The preference form is a public form: a GPC signal on it records the objection.
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "partners", "name": "Partners", "lawful_basis": "dpv:Consent", "sale_or_sharing": true}, nil); st != 201 {
		t.Fatal("purpose")
	}
	req, _ := http.NewRequest("POST", prefs, strings.NewReader("purpose=offers&action=none"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-GPC", "1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST with GPC: %v %v", resp, err)
	}
	var led struct {
		Objections []struct{ Scope, Method string } `json:"objections"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &led)
	if len(led.Objections) != 1 || led.Objections[0].Scope != "partners" || led.Objections[0].Method != "gpc" {
		t.Errorf("objections after a preference change with Sec-GPC: %+v", led.Objections)
	}
	// Found by a whole-product trial: after an objection to direct marketing, Subscribe said a
	// confirmation was sent, and nothing was. The page now says what stands and what to do.
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/objections", map[string]any{"scope": "direct_marketing", "method": "staff"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	page = get(prefs)
	news = page[strings.Index(page, "<h2>Newsletter</h2>"):strings.Index(page, "<h2>Member offers</h2>")]
	if strings.Contains(news, `value="subscribe"`) || !strings.Contains(news, "you objected to it") {
		t.Errorf("newsletter after an objection to direct marketing:\n%s; want no subscribe button, the objection named", news)
	}
}
