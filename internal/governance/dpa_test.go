package governance_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/share"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

func TestDPARenderedWithControllerAndSubProcessors(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	policies, reg, dpas := a.Policies, a.Share, *a.DPAs
	dpas.Controller = consent.Controller{Name: "Norrsken AB", Email: "privacy@norrsken.example", Street: "Storgatan 1", PostalCode: "903 26", Locality: "Umeå", Country: "SE", DPOEmail: "dpo@norrsken.example"}
	if _, err := dpas.Request(ctx, "Kund AB"); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("request without a published template: %v; want Conflict", err)
	}
	v, err := policies.Draft(ctx, consent.DocDPATemplate, "# Data processing agreement\n\nBetween {{controller.name}} ({{controller.address}}) and {{customer}}, {{date}}. DPO: {{dpo}}.\n\n## Sub-processors\n\n{{sub_processors}}\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policies.Publish(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	for _, in := range []share.Input{
		{ID: ptr("mailer"), Name: ptr("Mailer | Post AB"), Country: ptr("SE"), Purposes: &[]string{"newsletter"}},
		{ID: ptr("crm-us"), Name: ptr("CRM Inc"), Role: ptr(share.RoleSubProcessor), Country: ptr("US"), TransferMechanism: ptr(share.TransferSCC)},
		{ID: ptr("partner"), Name: ptr("Partner Controller Oy"), Role: ptr(share.RoleController), Country: ptr("FI")},
	} {
		if _, err := reg.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	r, err := dpas.Request(ctx, "Kund AB")
	if err != nil || r.Status != governance.DPARequested || r.TemplateVersion != 1 {
		t.Fatalf("Request = %+v, %v", r, err)
	}
	md, err := dpas.Document(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Between Norrsken AB (Storgatan 1, 903 26 Umeå, SE) and Kund AB, 29 November 2026.", "DPO: dpo@norrsken.example.",
		`| Mailer \| Post AB | processor | SE | none | newsletter |`, "| CRM Inc | sub_processor | US | scc |  |"} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Partner Controller") || strings.Contains(md, "{{") {
		t.Errorf("document lists a controller as sub-processor or keeps a placeholder:\n%s", md)
	}
	html, err := governance.HTML("DPA", md)
	if err != nil || !bytes.Contains(html, []byte("<table>")) || !bytes.Contains(html, []byte("<td>CRM Inc</td>")) {
		t.Errorf("HTML %s, %v", html, err)
	}
	pdf, err := governance.PDF("DPA", md)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 800 {
		t.Errorf("PDF %d bytes, %v", len(pdf), err)
	}
	// A customer's name is text: it cannot add clauses, links or headings to the agreement.
	if _, err := dpas.Request(ctx, "Evil AB\n\n## 9. Extra clause"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a name with line breaks: %v; want Invalid", err)
	}
	if _, err := dpas.Request(ctx, "Evil\u202eBA"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a name with a direction override: %v; want Invalid", err)
	}
	evil, err := dpas.Request(ctx, "Evil [click](https://evil.example) **AB** ## x")
	if err != nil {
		t.Fatal(err)
	}
	emd, _ := dpas.Document(ctx, evil.ID)
	ehtml, _ := governance.HTML("DPA", emd)
	if bytes.Contains(ehtml, []byte(`href="https://evil.example"`)) || bytes.Contains(ehtml, []byte("<strong>AB</strong>")) || !bytes.Contains(ehtml, []byte("Evil [click](https://evil.example) **AB** ## x")) {
		t.Errorf("the customer's name was read as Markdown: %s", ehtml)
	}
	if _, err := dpas.SetStatus(ctx, r.ID, governance.DPASigned, ptr(now.Add(time.Hour))); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("signed in the future: %v; want Invalid", err)
	}
	signed, err := dpas.SetStatus(ctx, r.ID, governance.DPASigned, nil)
	if err != nil || signed.SignedAt == nil || !signed.SignedAt.Equal(now) || len(signed.SHA256) != 64 {
		t.Errorf("signed %+v, %v", signed, err)
	}
	// The signed agreement is frozen: a new sub-processor and a later day do not change it.
	reg.Create(ctx, share.Input{ID: ptr("later"), Name: ptr("Later Sub Ltd"), Country: ptr("IE")})
	now = now.Add(48 * time.Hour)
	if again, _ := dpas.Document(ctx, r.ID); again != md {
		t.Errorf("the signed agreement changed after signing:\n%s", again)
	}
	if back, err := dpas.SetStatus(ctx, r.ID, governance.DPASent, nil); err != nil || back.SignedAt != nil || back.SHA256 != "" {
		t.Errorf("back to sent: %+v, %v; want the signature cleared", back, err)
	}
}

// TestDPATemplateCheck: every placeholder the renderer knows is filled; an unknown one is refused
// at draft and, for a draft made before the check, at publish (it reached the agreement
// literally).
func TestDPATemplateCheck(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t, func(c *app.Config) {
		c.Now = func() time.Time { return time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC) }
	})
	policies := *a.Policies
	policies.Check = nil // a draft made before the check
	old, err := policies.Draft(ctx, consent.DocDPATemplate, "Between {{controller.nmae}} and {{customer}}.", false)
	if err != nil {
		t.Fatal(err)
	}
	policies.Check = governance.CheckTemplate
	if _, err := policies.Publish(ctx, old.ID); apperr.As(err) == nil || apperr.As(err).Field != "body" || !strings.Contains(err.Error(), "{{controller.nmae}}") {
		t.Errorf("publishing a draft with an unknown placeholder: %v; want Invalid on body naming it", err)
	}
	if _, err := policies.Draft(ctx, consent.DocDPATemplate, "{{date}} {{datum}}", false); apperr.As(err) == nil || apperr.As(err).Field != "body" {
		t.Errorf("drafting an unknown placeholder: %v; want Invalid on body", err)
	}
	var all strings.Builder
	for _, name := range governance.DPAPlaceholders {
		all.WriteString("{{" + name + "}}\n\n")
	}
	v, err := policies.Draft(ctx, consent.DocDPATemplate, all.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policies.Publish(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	dpas := *a.DPAs
	dpas.Controller = consent.Controller{Name: "Norrsken AB", Email: "privacy@norrsken.example", Street: "Storgatan 1", Locality: "Umeå"}
	r, err := dpas.Request(ctx, "Kund AB")
	if err != nil {
		t.Fatal(err)
	}
	md, err := dpas.Document(ctx, r.ID)
	if err != nil || strings.Contains(md, "{{") || !strings.Contains(md, "privacy@norrsken.example") {
		t.Errorf("every known placeholder filled: %v\n%s", err, md)
	}
}

// TestDPAControllerAndHTML: the controller's name was printed raw into the Markdown (the
// customer's was escaped), and raw HTML in a template was dropped from the HTML rendering but
// printed in the PDF and Markdown; now the name is escaped like the customer's and a template
// with raw HTML is refused.
func TestDPAControllerAndHTML(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t, func(c *app.Config) {
		c.Now = func() time.Time { return time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC) }
	})
	policies := a.Policies
	for _, tc := range []struct {
		body string
		line int
	}{
		{"# Agreement\n\n<!-- internal note: check with legal -->\n\n{{customer}}", 3},
		{"# Agreement\n\n{{customer}} agrees to <b>everything</b>.", 3},
		{"<div>\nParties\n</div>\n", 1},
	} {
		_, err := policies.Draft(ctx, consent.DocDPATemplate, tc.body, false)
		if e := apperr.As(err); e == nil || e.Field != "body" || e.Reason != "raw_html" || !strings.Contains(e.Message, fmt.Sprintf("line %d", tc.line)) {
			t.Errorf("%q: %v; want Invalid on body, raw_html on line %d", tc.body, err, tc.line)
		}
	}
	// Angle brackets that are not HTML stay allowed: an autolink and a comparison.
	v, err := policies.Draft(ctx, consent.DocDPATemplate, "# Agreement\n\nSee <https://norrsken.example/terms>; notice a < b.\n\nBetween **{{controller.name}}** and {{customer}}.", false)
	if err != nil {
		t.Fatalf("a template without raw HTML: %v", err)
	}
	if _, err := policies.Publish(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	// A DPAs service for a controller of the given name.
	withName := func(name string) *governance.DPAs {
		dpas := *a.DPAs
		dpas.Controller = consent.Controller{Name: name, Street: "Storgatan 1", Locality: "Umeå"}
		return &dpas
	}
	for _, name := range []string{`Åkesson & ‹Söner> "AB"`, `Evil *AB* [x](https://evil.example) <b>y</b> &copy;`} {
		dpas := withName(name)
		r, err := dpas.Request(ctx, "Kund AB")
		if err != nil {
			t.Fatal(err)
		}
		md, _ := dpas.Document(ctx, r.ID)
		html, _ := governance.HTML("DPA", md)
		if bytes.Contains(html, []byte("<em>")) || bytes.Contains(html, []byte("evil.example\"")) || bytes.Contains(html, []byte("<b>")) || bytes.Contains(html, []byte("©")) {
			t.Errorf("the controller's name %q was read as Markdown:\n%s\n%s", name, md, html)
		}
		want := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(name)
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("the HTML lacks the name as written, %q:\n%s", want, html)
		}
	}
	md := func(name string) string {
		dpas := withName(name)
		r, _ := dpas.Request(ctx, "Kund AB")
		md, _ := dpas.Document(ctx, r.ID)
		return md
	}
	if got := md(`Åkesson & ‹Söner> "AB"`); !strings.Contains(got, `**Åkesson \& ‹Söner\> "AB"**`) {
		t.Errorf("Markdown: the controller's name is not escaped like the customer's:\n%s", got)
	}
}
