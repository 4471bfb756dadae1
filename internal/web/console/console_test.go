package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestStaffConsole walks the request queue as staff see it: sign-in with an API token (an
// HttpOnly, SameSite=Strict cookie), the queue with due dates, days left and the overdue list,
// a request's details (an audited read) and timeline, actions refused with the reason (an
// extension after the first month) or done, cross-site posts refused, and sign-out.
func TestStaffConsole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	received := time.Now().UTC().AddDate(0, 0, -40).Format(time.RFC3339)
	var late, fresh apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "email": "gunnel.ek@example.org", "details": "Send me a copy.", "received_at": received}, &late)
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "email", "email": "per.ek@example.org"}, &fresh)
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "per.ek@example.org", "first_name": "Per"}, &c)

	b := apptest.NewBrowser(t, p.Base)
	if st, _, h := b.Get("/console/requests"); st != 303 || h.Get("Location") != "/console/login" {
		t.Fatalf("queue without signing in: %d %s", st, h.Get("Location"))
	}
	if st, page, _ := b.Post("/console/login", url.Values{"token": {"tlt_not-a-token"}}); st != 401 || !strings.Contains(page, "not valid") {
		t.Errorf("bad token: %d", st)
	}
	auditor := p.Mint("auditor", "console test", "")
	// The auditor reads the record of processing activities, not the request queue.
	ab := apptest.NewBrowser(t, p.Base)
	if st, _, h := ab.Post("/console/login", url.Values{"token": {strings.TrimSpace(auditor)}}); st != 303 || h.Get("Location") != "/console/ropa" {
		t.Errorf("auditor sign-in: %d %q; want the record of processing", st, h.Get("Location"))
	}
	if st, _, _ := ab.Get("/console/ropa"); st != 200 {
		t.Errorf("auditor on /console/ropa: %d", st)
	}
	if st, page, _ := ab.Get("/console/requests"); st != 403 || !strings.Contains(page, "may not") {
		t.Errorf("auditor on the queue: %d; want 403", st)
	}
	st, _, h := b.Post("/console/login", url.Values{"token": {p.Token}})
	cookie := h.Get("Set-Cookie")
	if st != 303 || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || !strings.Contains(cookie, "Path=/console") {
		t.Fatalf("sign-in: %d %q", st, cookie)
	}
	if strings.Contains(cookie, "tlt_") || strings.Contains(cookie, p.Token) {
		t.Errorf("the cookie carries the API token: %q", cookie)
	}
	session, _, _ := strings.Cut(strings.TrimPrefix(cookie, "tillit_console="), ";")
	if st, _, h := b.Get("/console/"); st != 303 || h.Get("Location") != "/console/requests" {
		t.Errorf("/console/: %d %q; want the queue", st, h.Get("Location"))
	}

	st, page, h := b.Get("/console/requests")
	if st != 200 || !strings.Contains(page, late.ID) || !strings.Contains(page, fresh.ID) || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("queue: %d %s", st, page)
	}
	// Soonest deadline first: a letter entered last but received 50 days ago leads the queue.
	var oldest apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "objection", "channel": "letter", "received_at": time.Now().UTC().AddDate(0, 0, -50).Format(time.RFC3339)}, &oldest)
	_, page, _ = b.Get("/console/requests")
	if i, j, k := strings.Index(page, oldest.ID), strings.Index(page, late.ID), strings.Index(page, fresh.ID); i < 0 || !(i < j && j < k) {
		t.Errorf("queue order: oldest deadline at %d, late at %d, fresh at %d; want soonest deadline first", i, j, k)
	}
	if !strings.Contains(page, `<td class="overdue">-`) {
		t.Errorf("the 40-day-old request is not marked overdue with negative days left: %s", page)
	}
	if strings.Contains(page, "gunnel.ek") {
		t.Errorf("the queue shows a requester's address")
	}
	if _, page, _ := b.Get("/console/requests?view=overdue"); !strings.Contains(page, late.ID) || strings.Contains(page, fresh.ID) {
		t.Errorf("overdue list: %s", page)
	}
	if _, page, _ := b.Get("/console/requests?view=open&type=erasure"); strings.Contains(page, late.ID) || !strings.Contains(page, fresh.ID) {
		t.Errorf("erasure filter: %s", page)
	}
	if _, page, _ := b.Get("/console/requests?view=waiting"); !strings.Contains(page, late.ID) || !strings.Contains(page, fresh.ID) {
		t.Errorf("waiting for identity: %s", page)
	}
	if st, _, _ := b.Post("/console/requests/"+fresh.ID+"/send-link", nil); st != 303 {
		t.Errorf("send link: %d", st)
	}
	if _, page, _ := b.Get("/console/requests/" + fresh.ID); !strings.Contains(page, "<td>verification_sent</td>") {
		t.Errorf("the sent link is not on the timeline")
	}

	st, page, _ = b.Get("/console/requests/" + late.ID)
	if st != 200 || !strings.Contains(page, "gunnel.ek@example.org") || !strings.Contains(page, "Send me a copy.") || !strings.Contains(page, "Art. 15") || !strings.Contains(page, "<td>received</td>") {
		t.Fatalf("detail: %d %s", st, page)
	}
	if st, _, h := b.Post("/console/requests/"+late.ID+"/notes", url.Values{"note": {"scanned the letter"}}); st != 303 || h.Get("Location") != "/console/requests/"+late.ID {
		t.Errorf("note: %d %v", st, h)
	}
	if _, page, _ := b.Get("/console/requests/" + late.ID); !strings.Contains(page, "scanned the letter") {
		t.Errorf("the note is not on the timeline")
	} else if !strings.Contains(page, "<td>first-start admin (admin)</td>") {
		// Found by a fresh-user trial: the timeline named staff by token id only.
		t.Errorf("the timeline does not name who acted by token name and role")
	}
	// The letter came from another address than the contact's: binding it needs the admin's
	// explicit confirmation.
	if st, page, _ := b.Post("/console/requests/"+late.ID+"/verify", url.Values{"contact_id": {c.ID}, "note": {"signature matches"}}); st != 409 || !strings.Contains(page, "address on file") {
		t.Errorf("verify for a contact with another address: %d; want 409", st)
	}
	if st, _, _ := b.Post("/console/requests/"+late.ID+"/verify", url.Values{"contact_id": {c.ID}, "note": {"signature matches"}, "confirm_other_address": {"true"}}); st != 303 {
		t.Errorf("verify confirming the other address: %d; want 303", st)
	}
	if st, page, _ := b.Post("/console/requests/"+late.ID+"/extend", url.Values{"months": {"2"}, "reason": {"archive"}}); st != 409 || !strings.Contains(page, "deadline has passed") {
		t.Errorf("late extension: %d", st)
	}
	// A post from another site is refused, whatever the cookie.
	if st, _, _ := b.Post("/console/requests/"+fresh.ID+"/notes", url.Values{"note": {"x"}}, "Sec-Fetch-Site", "cross-site"); st != 403 {
		t.Errorf("cross-site post: %d; want 403", st)
	}
	b.Post("/console/requests/"+fresh.ID+"/verify", url.Values{"contact_id": {c.ID}, "note": {"called back"}})
	if st, _, _ := b.Post("/console/requests/"+fresh.ID+"/complete", url.Values{"note": {"no legal hold"}}); st != 303 {
		t.Fatalf("complete erasure: %d", st)
	}
	if _, page, _ := b.Get("/console/requests/" + fresh.ID); !strings.Contains(page, "<td>completed</td>") {
		t.Errorf("after completion: %s", page)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("the contact after the erasure request: %d; want 404", st)
	}
	var trail struct {
		Items []struct {
			Action  string `json:"action"`
			ActorID string `json:"actor_id"`
		} `json:"items"`
	}
	p.Do("GET", "/api/v1/audit?object_kind=request&object_id="+late.ID, nil, &trail)
	reads := 0
	for _, e := range trail.Items {
		if e.Action == "request.read" {
			reads++
		}
	}
	if reads == 0 {
		t.Errorf("console reads of the request are not audited: %+v", trail.Items)
	}
	if st, page, _ := b.Get("/console/ropa"); st != 200 || !strings.Contains(page, "Record of processing activities") || !strings.Contains(page, "GDPR Art. 6(1)(a)") || !strings.Contains(page, "AES-256-GCM") {
		t.Errorf("ROPA page: %d %.300s", st, page)
	}
	if st, _, _ := b.Post("/console/logout", nil); st != 303 {
		t.Errorf("sign-out: %d", st)
	}
	if st, _, h := b.Get("/console/requests"); st != 303 || h.Get("Location") != "/console/login" {
		t.Errorf("queue after sign-out: %d", st)
	}
	// The old session id, replayed after sign-out, opens nothing.
	req, _ := http.NewRequest("GET", p.Base+"/console/requests", nil)
	req.AddCookie(&http.Cookie{Name: "tillit_console", Value: session})
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Errorf("replayed session after sign-out: %d; want 303 to the sign-in page", resp.StatusCode)
	}
}
