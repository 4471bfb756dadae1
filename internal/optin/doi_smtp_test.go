package optin_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestDoubleOptInOverSMTP: subscribe through the public form, receive the confirmation over real
// SMTP, find that GET changes nothing, confirm with POST, and find the token single-use; a GPC
// signal records an objection; a repeated subscription leaves the confirmed consent as it is.
func TestDoubleOptInOverSMTP(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"}))
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "partners", "name": "Partner offers", "lawful_basis": "dpv:Consent", "sale_or_sharing": true}, nil); st != 201 {
		t.Fatal("purpose")
	}
	const address = "O'Brien+news&x=1%2/y@Example.COM"
	post := func(path string, body io.Reader, ctype string, gpc bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", p.Base+path, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if gpc {
			req.Header.Set("Sec-GPC", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := post("/p/subscribe", strings.NewReader(`{"email":"`+strings.ReplaceAll(address, `"`, `\"`)+`"}`), "application/json", true)
	if st != 202 || !strings.Contains(body, "check_your_inbox") {
		t.Fatalf("subscribe: %d %s", st, body)
	}
	d := sink.Next(t)
	msg, text := apptest.ParseMessage(t, d)
	if len(d.To) != 1 || d.To[0] != "o'brien+news&x=1%2/y@example.com" || d.From != "news@tillit.example" {
		t.Errorf("envelope from %q to %q; want the normalized address", d.From, d.To)
	}
	if msg.Header.Get("Subject") != "Please confirm your subscription" || msg.Header.Get("List-Unsubscribe") != "" || msg.Header.Get("Message-Id") == "" {
		t.Errorf("headers: %v", msg.Header)
	}
	link := apptest.ConfirmLink.FindString(text)
	if link == "" || strings.Contains(link, "brien") || strings.Contains(link, "%40") {
		t.Fatalf("confirmation link %q in %q; want one that carries no address", link, text)
	}
	u, _ := url.Parse(link)

	var l apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": address}, &l)
	if len(l.Items) != 1 || l.Items[0].Kind != "lead" {
		t.Fatalf("lookup after subscribe: %+v", l)
	}
	id := l.Items[0].ID
	type ledgerJSON struct {
		Current []struct {
			Purpose, State, Method string
		} `json:"current"`
		Events []struct {
			State, Method string
			Evidence      struct {
				IP          string `json:"ip"`
				OptinTime   string `json:"optin_time"`
				ConfirmTime string `json:"confirm_time"`
			} `json:"evidence"`
		} `json:"events"`
		Objections []struct {
			Scope, Method string
		} `json:"objections"`
	}
	var ledger ledgerJSON
	p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &ledger)
	if len(ledger.Current) != 1 || ledger.Current[0].State != "dpv:ConsentRequested" || len(ledger.Objections) != 1 || ledger.Objections[0].Scope != "partners" || ledger.Objections[0].Method != "gpc" {
		t.Fatalf("after subscribe: %+v; want requested, and a GPC objection to partners", ledger)
	}

	// A link scanner's GET shows a button and changes nothing.
	resp, err := http.Get(p.Base + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte(`<button type="submit">Confirm</button>`)) {
		t.Errorf("GET confirm: %d %s", resp.StatusCode, page)
	}
	p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &ledger)
	if ledger.Current[0].State != "dpv:ConsentRequested" {
		t.Errorf("GET changed the consent: %+v", ledger.Current)
	}

	st, body = post(u.Path, nil, "", false)
	if st != 200 || !strings.Contains(body, "Thank you") {
		t.Fatalf("POST confirm: %d %s", st, body)
	}
	ledger = ledgerJSON{}
	p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &ledger)
	last := ledger.Events[len(ledger.Events)-1]
	if ledger.Current[0].State != "dpv:ConsentGiven" || last.Method != "double-opt-in" || last.Evidence.OptinTime == "" || last.Evidence.ConfirmTime == "" || last.Evidence.IP != "127.0.0.1" {
		t.Errorf("after confirming: %+v", ledger)
	}
	n := len(ledger.Events)

	// The token is single-use.
	st, body = post(u.Path, nil, "", false)
	if st != 200 || !strings.Contains(body, "cannot be used") {
		t.Errorf("reused token: %d %s", st, body)
	}
	// A repeated subscription answers the same and leaves the confirmed consent as it is.
	st, _ = post("/p/subscribe", strings.NewReader(url.Values{"email": {address}}.Encode()), "application/x-www-form-urlencoded", false)
	ledger = ledgerJSON{}
	p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &ledger)
	if st != 200 || len(ledger.Events) != n || ledger.Current[0].State != "dpv:ConsentGiven" {
		t.Errorf("repeat subscription: %d, %d events (was %d), state %s; want nothing changed", st, len(ledger.Events), n, ledger.Current[0].State)
	}
	// A GPC signal on the confirmation form counts too (any public form): a second person
	// subscribes without it and confirms with it.
	if st, _ := post("/p/subscribe", strings.NewReader(`{"email":"gpc.at.confirm@example.org"}`), "application/json", false); st != 202 {
		t.Fatal("second subscription")
	}
	_, text2 := apptest.ParseMessage(t, sink.Next(t))
	u2, _ := url.Parse(apptest.ConfirmLink.FindString(text2))
	req, _ := http.NewRequest("POST", p.Base+u2.Path, nil)
	req.Header.Set("Sec-GPC", "1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirm with GPC: %v %v", resp, err)
	}
	var l2 apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "gpc.at.confirm@example.org"}, &l2)
	var ledger2 ledgerJSON
	p.Do("GET", "/api/v1/contacts/"+l2.Items[0].ID+"/consents", nil, &ledger2)
	if len(ledger2.Objections) != 1 || ledger2.Objections[0].Scope != "partners" || ledger2.Objections[0].Method != "gpc" {
		t.Errorf("objections after confirming with Sec-GPC: %+v; want one gpc objection to partners", ledger2.Objections)
	}

	var d2 struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": id, "purpose": "newsletter"}, &d2)
	if !d2.Allowed {
		t.Errorf("gate after confirmation: %+v", d2)
	}
}
