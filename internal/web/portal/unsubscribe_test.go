package portal_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
)

// TestOneClickUnsubscribe: GET /u/{token} changes nothing; POST withdraws at once with any of the
// bodies mail providers send (RFC 8058), is idempotent, and answers an unknown token the same.
func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "leaving@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)

	// Campaigns (a later step) mint the links; here the test mints them through the app.
	a := p.App
	var links []optin.Links
	for i := range 5 {
		purpose := "newsletter"
		if i == 4 {
			purpose = "terms-of-service" // never mailed by a campaign, but the link must not end a contract either
		}
		err := a.Store.Update(context.Background(), func(tx store.Tx) error {
			l, err := a.Unsubscribe.MintIn(context.Background(), tx, c.ID, purpose, "unsubscribe@tillit.example")
			links = append(links, l)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	l := links[0]
	if !strings.HasPrefix(l.Headers["List-Unsubscribe"], "<"+p.Base+"/u/") || !strings.Contains(l.Headers["List-Unsubscribe"], "<mailto:unsubscribe@tillit.example?subject=unsubscribe>") ||
		l.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" || strings.Contains(l.URL, "leaving") || strings.Contains(l.URL, c.ID) {
		t.Errorf("links %+v; want RFC 8058 headers and a URL naming neither address nor id", l)
	}
	gate := func() string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	resp, err := http.Get(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Newsletter") || !strings.Contains(string(page), `<button type="submit">Unsubscribe</button>`) || gate() != "consent_given" {
		t.Fatalf("GET /u: %d, gate %s; want a page with the scope and a button, nothing changed", resp.StatusCode, gate())
	}
	post := func(url, ctype, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, v := range []struct{ ctype, body string }{
		{"application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"},
		{"", ""},
		{"text/plain", "unsubscribe me"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--\r\n"},
	} {
		if st := post(links[i].URL, v.ctype, v.body); st != 200 {
			t.Errorf("POST variant %d (%q): %d; want 200 without redirect", i, v.ctype, st)
		}
		if r := gate(); r != "withdrawn" {
			t.Errorf("after POST variant %d: gate %s; want withdrawn", i, r)
		}
	}
	var ledger struct {
		Events []struct{ State, Method string } `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &ledger)
	withdrawals := 0
	for _, e := range ledger.Events {
		if e.State == string(consent.Withdrawn) && e.Method == string(consent.MethodOneClick) {
			withdrawals++
		}
	}
	if withdrawals != 1 {
		t.Errorf("%d one-click withdrawals recorded; want exactly 1 (idempotent)", withdrawals)
	}
	if st := post(links[4].URL, "", ""); st != 200 {
		t.Errorf("unsubscribe link for the terms: %d; want the same 200", st)
	}
	var after struct {
		Events []struct{ Purpose, State string } `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &after)
	for _, e := range after.Events {
		if e.Purpose == "terms-of-service" {
			t.Errorf("an unsubscribe link recorded %s for the acceptance of terms; want nothing", e.State)
		}
	}
	if st := post(p.Base+"/u/not-a-token", "", ""); st != 200 {
		t.Errorf("unknown token: %d; want the same 200", st)
	}
	// The unsubscribe form is a public form too: a GPC signal on it records the objection.
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "partners", "name": "Partners", "lawful_basis": "dpv:Consent", "sale_or_sharing": true}, nil); st != 201 {
		t.Fatal("purpose")
	}
	req, _ := http.NewRequest("POST", links[0].URL, nil)
	req.Header.Set("Sec-GPC", "1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST with GPC: %v %v", resp, err)
	}
	var led struct {
		Objections []struct{ Scope, Method string } `json:"objections"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &led)
	if len(led.Objections) != 1 || led.Objections[0].Scope != "partners" || led.Objections[0].Method != "gpc" {
		t.Errorf("objections after an unsubscribe with Sec-GPC: %+v", led.Objections)
	}
	// Direct marketing on legitimate interest: the one-click unsubscribe is an objection
	// (GDPR Art. 21(2)-(3)), answered 200 like any other.
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "member-news", "name": "Member news", "lawful_basis": "dpv:LegitimateInterest", "direct_marketing": true}, nil); st != 201 {
		t.Fatal("purpose")
	}
	a = p.App
	var li optin.Links
	err = a.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		li, err = a.Unsubscribe.MintIn(context.Background(), tx, c.ID, "member-news", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var before struct {
		Reason string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "member-news"}, &before)
	if st := post(li.URL, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); st != 200 {
		t.Fatalf("one-click on a legitimate-interest direct-marketing purpose: %d; want 200", st)
	}
	var d struct {
		Reason string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "member-news"}, &d)
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &led)
	found := false
	for _, o := range led.Objections {
		found = found || (o.Scope == "member-news" && o.Method == "one-click-unsubscribe")
	}
	if before.Reason == "objected" || d.Reason != "objected" || !found {
		t.Errorf("after one-click on member-news: gate %s (before %s), objections %+v; want an objection by one-click-unsubscribe", d.Reason, before.Reason, led.Objections)
	}
}
