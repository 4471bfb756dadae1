package portal_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestDPAThroughThePortal: a customer asks for the DPA on the portal, gets it rendered with the
// controller and the sub-processors at once (HTML and PDF), and staff see the request.
func TestDPAThroughThePortal(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_STREET": "Storgatan 1", "TILLIT_CONTROLLER_CITY": "Umeå", "TILLIT_DPO_EMAIL": "dpo@norrsken.example"}))
	b := apptest.NewBrowser(t, p.Base)
	if st, page, _ := b.Post("/p/dpa", url.Values{"customer": {"Kund AB"}}); st != 400 || !strings.Contains(page, "not published yet") {
		t.Errorf("before a template is published: %d", st)
	}
	var v struct{ ID string }
	p.Do("POST", "/api/v1/policies", map[string]any{"document": "dpa_template", "body": "# Agreement\n\n{{customer}} and {{controller.name}} agree.\n\n{{sub_processors}}"}, &v)
	p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil)
	p.Do("POST", "/api/v1/processors", map[string]any{"id": "mailer", "name": "Mailer AB", "country": "SE", "purposes": []string{"newsletter"}}, nil)
	if st, page, _ := b.Get("/p/dpa"); st != 200 || !strings.Contains(page, `name="customer"`) {
		t.Errorf("GET /p/dpa: %d", st)
	}
	if st, page, _ := b.Post("/p/dpa", url.Values{"customer": {" "}}); st != 400 || !strings.Contains(page, "company's name") {
		t.Errorf("empty customer: %d", st)
	}
	st, _, h := b.Post("/p/dpa", url.Values{"customer": {"Kund AB"}})
	loc := h.Get("Location")
	if st != 303 || !strings.HasPrefix(loc, "/p/dpa/") {
		t.Fatalf("POST /p/dpa: %d %q", st, loc)
	}
	st, page, _ := b.Get(loc)
	if st != 200 || !strings.Contains(page, "Kund AB and Norrsken AB agree.") || !strings.Contains(page, "<td>Mailer AB</td>") || !strings.Contains(page, "format=pdf") {
		t.Errorf("the agreement: %d %s", st, page)
	}
	if st, pdf, h := b.Get(loc + "?format=pdf"); st != 200 || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-") {
		t.Errorf("the PDF: %d %s", st, h.Get("Content-Type"))
	}
	var list struct {
		Items []struct{ Customer, Status string } `json:"items"`
	}
	p.Do("GET", "/api/v1/dpa-requests", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Customer != "Kund AB" || list.Items[0].Status != "requested" {
		t.Errorf("staff see %+v", list.Items)
	}
	if st, _, _ := b.Get("/p/dpa/not-a-request"); st != 404 {
		t.Errorf("unknown request: %d", st)
	}
	// A name the PDF fonts cannot print: the agreement page works, the PDF explains instead of
	// printing empty boxes (found by a fresh-user trial).
	_, _, h = b.Post("/p/dpa", url.Values{"customer": {"株式会社ノルド"}})
	if st, page, _ := b.Get(h.Get("Location")); st != 200 || !strings.Contains(page, "株式会社ノルド and Norrsken AB agree.") {
		t.Errorf("agreement for a Japanese name: %d", st)
	}
	if st, page, h := b.Get(h.Get("Location") + "?format=pdf"); st != 400 || h.Get("Content-Type") == "application/pdf" || !strings.Contains(page, "print the agreement page") {
		t.Errorf("PDF for a Japanese name: %d %s", st, h.Get("Content-Type"))
	}
	// One address may post ten times an hour (the four posts above count); then 429.
	for i := range 7 {
		st, _, _ := b.Post("/p/dpa", url.Values{"customer": {"Kund AB"}})
		if want := map[bool]int{true: 303, false: 429}[i < 6]; st != want {
			t.Errorf("post %d from one address: %d; want %d", i+5, st, want)
		}
	}
}
