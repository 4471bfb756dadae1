package portal_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestPrivacyPage: /p/privacy shows the controller, the DPO, the purposes with their lawful basis,
// and the current privacy policy rendered from Markdown without letting raw HTML through.
func TestPrivacyPage(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.Env(map[string]string{
		"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_EMAIL": "privacy@norrsken.example",
		"TILLIT_DPO_EMAIL": "dpo@norrsken.example", "TILLIT_CONTROLLER_CITY": "Umeå",
	}))
	var v struct {
		ID string `json:"id"`
	}
	body := "## What we collect\n\nYour **e-mail address**.\n\n| Data | Kept |\n|---|---|\n| e-mail | 2 years |\n\n<script>alert('x')</script>\n"
	p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": body}, &v)
	if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
		t.Fatalf("publish: %d", st)
	}
	resp, err := http.Get(p.Base + "/p/privacy")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /p/privacy: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	text := func(id string) string {
		var out strings.Builder
		var walk func(n *html.Node, in bool)
		walk = func(n *html.Node, in bool) {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == id {
					in = true
				}
			}
			if in && n.Type == html.TextNode {
				out.WriteString(n.Data)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, in)
			}
		}
		walk(doc, false)
		return strings.Join(strings.Fields(out.String()), " ")
	}
	for id, want := range map[string][]string{
		"controller":       {"Norrsken AB", "Umeå", "privacy@norrsken.example"},
		"dpo":              {"dpo@norrsken.example"},
		"purposes":         {"Newsletter", "Your consent (GDPR Art. 6(1)(a))"},
		"privacy_policy":   {"Version 1", "What we collect", "Your e-mail address."},
		"terms_of_service": {"Not published yet."},
		"processors":       {"No processor receives personal data"},
	} {
		got := text(id)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("section %s = %q; want it to contain %q", id, got, w)
			}
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "alert(") {
		t.Errorf("raw HTML from the policy reached the page")
	}
	if !strings.Contains(page, "<h2>What we collect</h2>") || !strings.Contains(page, "<strong>e-mail address</strong>") || !strings.Contains(page, "<td>2 years</td>") {
		t.Errorf("the policy's Markdown was not rendered")
	}
	// The recipients in the register are named (GDPR Art. 13(1)(e), (f)).
	p.Do("POST", "/api/v1/processors", map[string]any{"id": "mailer", "name": "Mailer AB", "purposes": []string{"newsletter"}, "country": "SE"}, nil)
	p.Do("POST", "/api/v1/processors", map[string]any{"id": "crm-us", "name": "CRM Inc", "role": "sub_processor", "purposes": []string{"newsletter"}, "country": "US", "transfer_mechanism": "scc"}, nil)
	resp, err = http.Get(p.Base + "/p/privacy")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Mailer AB (processor, SE): newsletter", "CRM Inc (sub-processor, US), outside the EEA: under standard contractual clauses (GDPR Art. 46(2)(c)): newsletter"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("privacy notice lacks %q", want)
		}
	}
	if strings.Contains(string(b), "No processor receives") {
		t.Errorf("the notice still says no processor receives data")
	}
}
