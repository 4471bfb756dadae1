package governance_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestBreachActorMustBeKnown: a breach's actor_id that names no token, processor or audit log
// actor is 400 (it counted 0 people and records and answered 201); a revoked token, an ended
// processor and a command of the audit log are accepted, on POST and on PATCH.
func TestBreachActorMustBeKnown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	window := map[string]any{"title": "t", "window_from": "2026-01-01T00:00:00Z", "window_to": "2026-01-02T00:00:00Z"}
	with := func(actor string) map[string]any {
		m := map[string]any{"actor_id": actor}
		for k, v := range window {
			m[k] = v
		}
		return m
	}
	for _, actor := range []string{"nobody", "processor:nosuch", "processor:"} {
		var prob apptest.Problem
		if st := p.Do("POST", "/api/v1/breaches", with(actor), &prob); st != 400 || prob.Field != "actor_id" || prob.Reason != "unknown_actor" {
			t.Errorf("actor_id %q: %d %+v; want 400 on actor_id, unknown_actor", actor, st, prob)
		}
	}

	// A revoked token did read data; an ended processor did receive it.
	p.Mint("agent", "leaked", "")
	leakedID := p.Revoke("leaked")
	if st := p.Do("POST", "/api/v1/processors", map[string]any{"id": "old-mailer", "name": "Old Mailer AB", "country": "SE", "purposes": []string{"newsletter"}}, nil); st != 201 {
		t.Fatalf("register processor: %d", st)
	}
	if st := p.Do("DELETE", "/api/v1/processors/old-mailer", nil, nil); st != 200 {
		t.Fatalf("end processor: %d", st)
	}
	var b struct {
		ID      string `json:"id"`
		ActorID string `json:"actor_id"`
	}
	for _, actor := range []string{leakedID, "processor:old-mailer", "token-create"} {
		if st := p.Do("POST", "/api/v1/breaches", with(actor), &b); st != 201 || b.ActorID != actor {
			t.Errorf("actor_id %q: %d %+v; want 201", actor, st, b)
		}
	}
	var prob apptest.Problem
	if st := p.Do("PATCH", "/api/v1/breaches/"+b.ID, map[string]any{"actor_id": "nobody"}, &prob); st != 400 || prob.Field != "actor_id" || prob.Reason != "unknown_actor" {
		t.Errorf("PATCH actor_id nobody: %d %+v; want 400 on actor_id", st, prob)
	}
	var cleared struct {
		ActorID *string `json:"actor_id"`
	}
	if st := p.Do("PATCH", "/api/v1/breaches/"+b.ID, map[string]any{"actor_id": ""}, &cleared); st != 200 || cleared.ActorID != nil {
		t.Errorf("PATCH actor_id \"\" (every actor): %d %+v; want 200 without an actor", st, cleared)
	}
}

// TestDPARefusedWithoutController: on a server without the controller's name and address, a
// DPA request rendered an agreement with a blank controller party; now the API answers 409
// controller_not_configured naming the missing settings, and the portal says so on a page.
func TestDPARefusedWithoutController(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env           map[string]string
		missing, have []string
	}{
		{nil, []string{"TILLIT_CONTROLLER_NAME", "TILLIT_CONTROLLER_STREET", "TILLIT_CONTROLLER_CITY"}, nil},
		{map[string]string{"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_COUNTRY": "SE"}, []string{"TILLIT_CONTROLLER_STREET", "TILLIT_CONTROLLER_CITY"}, []string{"TILLIT_CONTROLLER_NAME"}},
	} {
		p := apptest.Serve(t, apptest.Env(tc.env))
		var v struct{ ID string }
		if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "dpa_template", "body": "# Agreement\n\n{{customer}} and {{controller.name}} agree."}, &v); st != 201 {
			t.Fatalf("draft: %d", st)
		}
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
			t.Fatalf("publish: %d", st)
		}
		var prob apptest.Problem
		if st := p.Do("POST", "/api/v1/dpa-requests", map[string]any{"customer": "Zed2"}, &prob); st != 409 || prob.Reason != "controller_not_configured" {
			t.Errorf("%v: POST /api/v1/dpa-requests: %d %+v; want 409 controller_not_configured", tc.env, st, prob)
		}
		for _, s := range tc.missing {
			if !strings.Contains(prob.Detail, strings.TrimPrefix(s, "TILLIT_CONTROLLER")) {
				t.Errorf("%v: detail %q does not name %s", tc.env, prob.Detail, s)
			}
		}
		for _, s := range tc.have {
			if strings.Contains(prob.Detail, s) {
				t.Errorf("%v: detail %q names %s, which is set", tc.env, prob.Detail, s)
			}
		}
		b := apptest.NewBrowser(t, p.Base)
		for _, page := range []func() (int, string){
			func() (int, string) { st, page, _ := b.Get("/p/dpa"); return st, page },
			func() (int, string) {
				st, page, _ := b.Post("/p/dpa", url.Values{"customer": {"Zed2"}})
				return st, page
			},
		} {
			if st, page := page(); st != 409 || !strings.Contains(page, "cannot be drawn up yet") || strings.Contains(page, `name="customer"`) {
				t.Errorf("%v: portal: %d %s; want 409 and a page saying why", tc.env, st, page)
			}
		}
		var list struct {
			Items []struct{ ID string } `json:"items"`
		}
		if p.Do("GET", "/api/v1/dpa-requests", nil, &list); len(list.Items) != 0 {
			t.Errorf("%v: %d requests recorded; want none", tc.env, len(list.Items))
		}
	}
}

// TestDPATemplatePlaceholders: a {{placeholder}} the renderer does not know passed through the
// agreement literally; drafting such a dpa_template is now 400 on body naming it.
func TestDPATemplatePlaceholders(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, tc := range []struct{ body, name string }{
		{"# Agreement\n\n{{controller.nmae}} and {{customer}} agree.", "controller.nmae"},
		{"Between {{ customer }} and us.", " customer "},
		{"Signed on {{signature_date}}.", "signature_date"},
	} {
		var prob apptest.Problem
		if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "dpa_template", "body": tc.body}, &prob); st != 400 || prob.Field != "body" || prob.Reason != "unknown_placeholder" || !strings.Contains(prob.Detail, "{{"+tc.name+"}}") {
			t.Errorf("%q: %d %+v; want 400 on body naming {{%s}}", tc.body, st, prob, tc.name)
		}
	}
	known := "{{controller.name}} {{controller.address}} {{controller.email}} {{dpo}} {{customer}} {{date}} {{sub_processors}}"
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "dpa_template", "body": known}, nil); st != 201 {
		t.Errorf("every known placeholder: %d; want 201", st)
	}
	// The privacy policy is not a template: braces are text there.
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": "We write {{this}} as is."}, nil); st != 201 {
		t.Errorf("braces in the privacy policy: %d; want 201", st)
	}
}

// TestBreachNoticeConsequencesAndTemplate: the notice to the people lacked the likely
// consequences (GDPR Art. 33(3)(c), required by Art. 34(2)) and could not be customised; now a
// breach stores likely_consequences, the notice names them, and a published
// breach_notice_template drafts it.
func TestBreachNoticeConsequencesAndTemplate(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_DPO_EMAIL": "dpo@norrsken.example"}))
	var b struct {
		ID                 string `json:"id"`
		LikelyConsequences string `json:"likely_consequences"`
	}
	if st := p.Do("POST", "/api/v1/breaches", map[string]any{"title": "Backup stolen", "categories": []string{"email"}, "likely_consequences": "Phishing mails in our name."}, &b); st != 201 || b.LikelyConsequences != "Phishing mails in our name." {
		t.Fatalf("create: %d %+v", st, b)
	}
	notice := func() string {
		req, _ := http.NewRequest("GET", p.Base+"/api/v1/breaches/"+b.ID+"/notice", nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("notice: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	if n := notice(); !strings.Contains(n, "What this may mean for you: Phishing mails in our name.") {
		t.Errorf("built-in notice lacks the likely consequences:\n%s", n)
	}
	if st := p.Do("PATCH", "/api/v1/breaches/"+b.ID, map[string]any{"likely_consequences": "Unwanted mail."}, &b); st != 200 || b.LikelyConsequences != "Unwanted mail." {
		t.Errorf("patch: %d %+v", st, b)
	}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "breach_notice_template", "body": "{{breach.title}} {{breach.consequences}}"}, &prob); st != 400 || prob.Reason != "unknown_placeholder" || !strings.Contains(prob.Detail, "{{breach.consequences}}") {
		t.Errorf("unknown placeholder: %d %+v", st, prob)
	}
	var v struct{ ID string }
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "breach_notice_template",
		"body": "Hej from {{controller.name}}! {{breach.title}}: {{breach.categories}}. Risk: {{breach.likely_consequences}} Done: {{breach.measures}} Ask {{dpo}}."}, &v); st != 201 {
		t.Fatalf("draft template: %d", st)
	}
	if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
		t.Fatalf("publish template: %d", st)
	}
	want := "Hej from Norrsken AB! Backup stolen: email. Risk: Unwanted mail. Done: [describe the measures taken and what people can do to protect themselves] Ask dpo@norrsken.example."
	if n := notice(); n != want {
		t.Errorf("notice from the template:\n%q\nwant\n%q", n, want)
	}
}
