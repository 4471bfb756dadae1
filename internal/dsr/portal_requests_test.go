package dsr_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestRequestsThroughPortalAndSMTP walks data subject requests through the program: the portal
// form answers the same for a known and an unknown address, the verification link arrives over
// real SMTP, a link scanner's GET changes nothing, the POST binds the request to the contact of
// the verified address only (not the second address named in the details), a replayed link does
// nothing, and the extension and rejection notices reach the requester over SMTP with the reason,
// the new deadline and the right to complain.
func TestRequestsThroughPortalAndSMTP(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example",
		"TILLIT_CONTROLLER_NAME": "Example AB", "TILLIT_DPO_EMAIL": "dpo@example.com"}))
	var known, other struct{ ID string }
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "hedda.moe@example.org", "first_name": "Hedda"}, &known); st != 201 {
		t.Fatal("contact")
	}
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "ivar.moe@example.org", "first_name": "Ivar"}, &other); st != 201 {
		t.Fatal("contact")
	}
	resp, err := http.Get(p.Base + "/p/requests?type=access")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(form), `value="access" required checked`) || !strings.Contains(string(form), "Art. 17") {
		t.Errorf("GET /p/requests: %d %s", resp.StatusCode, form)
	}

	st1, page1 := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"erasure"}, "email": {"Hedda.Moe@example.org"}, "details": {"Also everything about ivar.moe@example.org please."}})
	st2, page2 := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"erasure"}, "email": {"stranger@example.net"}})
	if st1 != 200 || st1 != st2 || page1 != page2 {
		t.Errorf("the answer differs by address: %d %q / %d %q", st1, page1, st2, page2)
	}
	if st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"erase-all"}, "email": {"x@example.org"}}); st != 400 || !strings.Contains(page, "choose what you want") {
		t.Errorf("unknown type: %d %s", st, page)
	}
	if st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"access"}, "email": {"no address"}}); st != 400 || !strings.Contains(page, "e-mail address") || strings.Contains(page, "no address") {
		t.Errorf("bad address: %d %s", st, page)
	}
	if st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"access"}, "email": {"x@example.org"}, "details": {"\xff\xfe"}}); st != 400 || !strings.Contains(page, "could not be read") || !strings.Contains(page, `value="access" required checked`) {
		t.Errorf("details that are not UTF-8: %d %s", st, page)
	}
	if !strings.Contains(string(form), "I want to withdraw my consent") || strings.Contains(string(form), "your consent") {
		t.Errorf("the form speaks for the company, not the person: %s", form)
	}

	links := map[string]string{}
	for range 2 {
		d := sink.Next(t)
		msg, text := apptest.ParseMessage(t, d)
		if msg.Header.Get("Subject") != "Confirm your privacy request" || msg.Header.Get("List-Unsubscribe") != "" {
			t.Errorf("verification mail headers: %v", msg.Header)
		}
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), "-- \nExample AB") || !strings.Contains(text, "Data protection officer: dpo@example.com") || !strings.Contains(text, "/p/privacy") {
			t.Errorf("the notice does not name the controller and its DPO: %s", text)
		}
		links[d.To[0]] = apptest.VerifyLink.FindString(text)
	}
	if links["hedda.moe@example.org"] == "" || links["stranger@example.net"] == "" {
		t.Fatalf("verification links: %v", links)
	}
	u, _ := url.Parse(links["hedda.moe@example.org"])

	var queue struct{ Items []apptest.Request }
	p.Do("GET", "/api/v1/requests?state=verifying", nil, &queue)
	if len(queue.Items) != 2 {
		t.Fatalf("verifying queue: %+v", queue.Items)
	}
	// A scanner's GET shows a button and changes nothing.
	resp, err = http.Get(p.Base + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	btn, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(btn), "Confirm my request") {
		t.Errorf("GET verify page: %s", btn)
	}
	p.Do("GET", "/api/v1/requests?state=verifying", nil, &queue)
	if len(queue.Items) != 2 {
		t.Errorf("a GET verified a request: %+v", queue.Items)
	}
	st, page := apptest.PostForm(t, p.Base, u.Path, nil)
	if st != 200 || !strings.Contains(page, "erase your personal data") || !strings.Contains(page, "is confirmed") {
		t.Fatalf("POST verify: %d %s", st, page)
	}
	if st, page := apptest.PostForm(t, p.Base, u.Path, nil); st != 200 || !strings.Contains(page, "cannot be used") {
		t.Errorf("replayed link: %d %s", st, page)
	}
	p.Do("GET", "/api/v1/requests?state=in_progress", nil, &queue)
	if len(queue.Items) != 1 || queue.Items[0].ContactID != known.ID {
		t.Fatalf("in progress: %+v; want one bound to %s (never %s, the address in the details)", queue.Items, known.ID, other.ID)
	}
	id := queue.Items[0].ID
	var r apptest.Request
	p.Do("GET", "/api/v1/requests/"+id, nil, &r)
	if r.Email != "hedda.moe@example.org" || !strings.Contains(r.Details, "ivar.moe") || r.Channel != "portal" {
		t.Errorf("read request: %+v", r)
	}

	if st := p.Do("POST", "/api/v1/requests/"+id+"/extend", map[string]any{"months": 2, "reason": "Our paper archive must be searched by hand."}, &r); st != 200 || r.State != "extended" || r.ExtendedUntil == nil {
		t.Fatalf("extend: %d %+v", st, r)
	}
	d := sink.Next(t)
	_, text := apptest.ParseMessage(t, d)
	if d.To[0] != "hedda.moe@example.org" || !strings.Contains(text, "searched by hand") || !strings.Contains(text, r.ExtendedUntil.Format("2 January 2006")) || !strings.Contains(text, "Art. 12(3)") || !strings.Contains(text, id) {
		t.Errorf("extension notice to %v: %s", d.To, text)
	}
	if st := p.Do("POST", "/api/v1/requests/"+id+"/reject", map[string]any{"reason": "The data is under a legal hold."}, &r); st != 200 || r.State != "rejected" {
		t.Fatalf("reject: %d %+v", st, r)
	}
	_, text = apptest.ParseMessage(t, sink.Next(t))
	for _, want := range []string{"legal hold", "supervisory authority", "Art. 77", "Art. 79", "dpo@example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("rejection notice lacks %q: %s", want, text)
		}
	}
	apptest.AssertNoPlaintext(t, dir, []string{"hedda.moe@", "stranger@example.net", "paper archive", "legal hold"})
}

// TestRestrictionLiftIsAnnounced: a restriction obtained through a request is completed with a
// notice, the contact is then read-only for staff, and lifting it mails the person first (GDPR
// Art. 18(3)).
func TestRestrictionLiftIsAnnounced(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "liv.sand@example.org", "first_name": "Liv"}, &c)
	var r apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "restriction", "channel": "phone"}, &r)
	p.Do("POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "called back on the number on file"}, nil)
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	d := sink.Next(t)
	_, text := apptest.ParseMessage(t, d)
	if d.To[0] != "liv.sand@example.org" || !strings.Contains(text, "no longer use it") || !strings.Contains(text, "Art. 18(3)") {
		t.Errorf("restriction notice to %v: %s", d.To, text)
	}
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "L."}, nil); st != 403 {
		t.Errorf("edit of a restricted contact: %d; want 403", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("lift: %d", st)
	}
	msg, text := apptest.ParseMessage(t, sink.Next(t))
	if msg.Header.Get("Subject") != "We are lifting the restriction on your data" || !strings.Contains(text, "Art. 18(3)") {
		t.Errorf("lift notice: %v %s", msg.Header, text)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("second lift: %d", st)
	}
	select {
	case extra := <-sink.Msgs:
		t.Errorf("lifting again mailed %v", extra.To)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRestrictedContactTakesNoNewConsent: while a contact is restricted, consent that would widen
// processing is refused (API) or quietly not asked for (subscription form), and a confirmation
// link sent before the restriction confirms nothing; a withdrawal is still recorded.
func TestRestrictedContactTakesNoNewConsent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "rut.berg@example.org"}, &c)
	if st, _ := apptest.PostForm(t, p.Base, "/p/subscribe", url.Values{"email": {"rut.berg@example.org"}}); st != 200 {
		t.Fatal("subscribe")
	}
	if st := p.Do("PUT", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, &prob); st != 403 || prob.Reason != "restricted" {
		t.Errorf("consent for a restricted contact: %d %+v; want 403 restricted", st, prob)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "web-form"}, nil); st != 201 {
		t.Errorf("withdrawal for a restricted contact: %d; want 201", st)
	}
	if st, _ := apptest.PostForm(t, p.Base, "/p/subscribe", url.Values{"email": {"rut.berg@example.org"}}); st != 200 {
		t.Errorf("subscribe while restricted: %d; want the usual page", st)
	}
	// The confirmation link mailed before the restriction confirms nothing now.
	var files []string
	for deadline := time.Now().Add(60 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(dir, "mail", "*.eml")) // the outbox writes it in the background
	}
	if len(files) != 1 {
		t.Fatalf("mail files: %v; want the one confirmation sent before the restriction", files)
	}
	b, _ := os.ReadFile(files[0])
	u, _ := url.Parse(apptest.ConfirmLink.FindString(strings.ReplaceAll(string(b), "=\r\n", "")))
	if st, page := apptest.PostForm(t, p.Base, u.Path, nil); st != 200 || strings.Contains(page, "Thank you") {
		t.Errorf("confirming while restricted: %d %s", st, page)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
	if d.Allowed || d.Reason != "restricted" {
		t.Errorf("gate: %+v; want refused, restricted", d)
	}
}
