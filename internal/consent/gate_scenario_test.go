package consent_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestConsentGateThroughTheProgram walks one person through the states the gate must tell apart,
// over HTTP, and checks the stream of changes processors will be told about.
func TestConsentGateThroughTheProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	check := func(contactID, purpose string) (bool, string) {
		t.Helper()
		var d struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		}
		if st := p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": contactID, "purpose": purpose}, &d); st != 200 {
			t.Fatalf("consent-check: %d", st)
		}
		return d.Allowed, d.Reason
	}
	want := func(step, contactID, purpose string, allowed bool, reason string) {
		t.Helper()
		if a, r := check(contactID, purpose); a != allowed || r != reason {
			t.Errorf("%s: gate = %v %s; want %v %s", step, a, r, allowed, reason)
		}
	}
	for _, pur := range []map[string]any{
		{"id": "sales-followup", "name": "Sales follow-up", "lawful_basis": "dpv:LegitimateInterest", "direct_marketing": true},
		{"id": "offers", "name": "Partner offers", "lawful_basis": "dpv:Consent", "consent_valid_days": 365, "sale_or_sharing": true},
	} {
		if st := p.Do("POST", "/api/v1/purposes", pur, nil); st != 201 {
			t.Fatalf("purpose %v: %d", pur["id"], st)
		}
	}
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "gate.walker@example.org"}, &c)
	consentTo := func(purpose, state string, at time.Time) {
		t.Helper()
		if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": purpose, "state": state, "method": "web-form", "occurred_at": at.Format(time.RFC3339)}, nil); st != 201 {
			t.Fatalf("record %s %s: %d", purpose, state, st)
		}
	}
	now := time.Now().UTC()

	want("nothing recorded", c.ID, "newsletter", false, "no_consent")
	want("legitimate interest", c.ID, "sales-followup", true, "basis_legitimate_interest")
	consentTo("newsletter", "dpv:ConsentGiven", now.Add(-time.Hour))
	want("given", c.ID, "newsletter", true, "consent_given")
	consentTo("offers", "dpv:ConsentGiven", now.AddDate(-2, 0, 0))
	want("given two years ago, valid one year", c.ID, "offers", false, "expired")
	var lapsed struct {
		Items []struct {
			ContactID string `json:"contact_id"`
			Reason    string `json:"reason"`
		} `json:"items"`
	}
	p.Do("GET", "/api/v1/purposes/offers/repermission", nil, &lapsed)
	if len(lapsed.Items) != 1 || lapsed.Items[0].ContactID != c.ID || lapsed.Items[0].Reason != "expired" {
		t.Errorf("re-permission list for offers = %+v; want the contact, expired", lapsed.Items)
	}

	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/objections", map[string]string{"scope": "direct_marketing"}, nil); st != 201 {
		t.Fatalf("object: %d", st)
	}
	want("objection to direct marketing beats legitimate interest (Art. 21(3))", c.ID, "sales-followup", false, "objected")
	want("objection to direct marketing beats consent", c.ID, "newsletter", false, "objected")
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID+"/objections/direct_marketing", nil, nil); st != 204 {
		t.Fatalf("lift objection: %d", st)
	}
	want("objection lifted", c.ID, "newsletter", true, "consent_given")

	if st := p.Do("PUT", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	want("restricted (Art. 18)", c.ID, "sales-followup", false, "restricted")
	var prob apptest.Problem
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "X"}, &prob); st != 403 || prob.Reason != "restricted" {
		t.Errorf("edit while restricted: %d %+v; want 403 restricted", st, prob)
	}
	p.Do("DELETE", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil)
	want("restriction lifted", c.ID, "newsletter", true, "consent_given")

	consentTo("newsletter", "dpv:ConsentWithdrawn", now)
	want("withdrawn", c.ID, "newsletter", false, "withdrawn")
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.Do("POST", "/api/v1/consent-checks", map[string]string{"email": "GATE.Walker@Example.org", "purpose": "newsletter"}, &d); st != 200 || d.Reason != "withdrawn" {
		t.Errorf("check by e-mail = %+v; want the same answer as by id", d)
	}
	p.Close()

	// An unsubscribe arriving by import has the scope of its list (the newsletter); a bounce
	// arriving by import puts the address on the suppression list.
	apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "u.csv", "Email Address,UNSUB_TIME\ngate.walker@example.org,2026-01-01 00:00:00\n"))
	token := p.Token
	p = apptest.Serve(t, apptest.Dir(dir))
	p.Token = token
	want("an imported unsubscribe from the newsletter leaves another purpose", c.ID, "sales-followup", true, "basis_legitimate_interest")
	p.Close()
	apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "c.csv", "Email Address,CLEAN_TIME\ngate.walker@example.org,2026-01-02 00:00:00\n"))
	p = apptest.Serve(t, apptest.Dir(dir))
	p.Token = token
	want("suppressed", c.ID, "sales-followup", false, "suppressed")
	p.Close()

	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var changes []consent.Change
	db.View(t.Context(), func(tx store.Tx) error {
		changes, err = tx.ConsentChanges(t.Context(), 0, 100)
		return err
	})
	var got []string
	for _, ch := range changes {
		if ch.ContactID != c.ID {
			t.Errorf("change for another contact: %+v", ch)
		}
		got = append(got, ch.Purpose+":"+ch.Change)
	}
	// offers:expired is written by the expiry sweep that runs when the server starts again.
	wantChanges := "newsletter:given offers:given direct_marketing:objected direct_marketing:objection_lifted :restricted :restriction_lifted newsletter:withdrawn offers:expired"
	if strings.Join(got, " ") != wantChanges {
		t.Errorf("changes = %s\nwant      %s", strings.Join(got, " "), wantChanges)
	}
}

// TestPolicyPublishRules: the first published version never asks for re-consent even when marked
// material, and a version dated in the future is refused (it would mark consents too early).
func TestPolicyPublishRules(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "policy.reader@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "api"}, nil)
	var v struct {
		ID string `json:"id"`
	}
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": "# Privacy\nv1", "material": true}, &v); st != 201 {
		t.Fatalf("draft: %d", st)
	}
	var res struct {
		Reconsent int `json:"reconsent"`
	}
	if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, &res); st != 200 || res.Reconsent != 0 {
		t.Errorf("first material version: %d, reconsent %d; want 200 and 0", st, res.Reconsent)
	}
	var prob apptest.Problem
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	if st := p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": "v2", "material": true, "effective_at": future}, &prob); st != 400 || prob.Field != "effective_at" {
		t.Errorf("future version: %d %+v; want 400 on effective_at", st, prob)
	}
	var d struct {
		Reason string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
	if d.Reason != "consent_given" {
		t.Errorf("gate after the first policy = %s; want consent_given", d.Reason)
	}
}

// TestTermsAcceptanceThroughTheAPI: accepting the terms is a consent event carrying the version; a material
// new version of the terms asks for acceptance again.
func TestTermsAcceptanceThroughTheAPI(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "terms.reader@example.org"}, &c)
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "terms-of-service", "state": "dpv:ConsentGiven", "method": "web-form"}, &prob); st != 400 || prob.Reason != "terms_version_required" {
		t.Errorf("accepting unpublished terms: %d %+v; want 400 terms_version_required", st, prob)
	}
	publish := func(body string, material bool) int {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		p.Do("POST", "/api/v1/policies", map[string]any{"document": "terms_of_service", "body": body, "material": material}, &v)
		var res struct {
			Reconsent int `json:"reconsent"`
		}
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, &res); st != 200 {
			t.Fatalf("publish: %d", st)
		}
		return res.Reconsent
	}
	publish("# Terms v1", false)
	var ev struct {
		PolicyVersions map[string]string `json:"policy_versions"`
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "terms-of-service", "state": "dpv:ConsentGiven", "method": "web-form"}, &ev); st != 201 || ev.PolicyVersions["terms_of_service"] != "1" {
		t.Fatalf("accept terms v1: %d %+v", st, ev)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "terms-of-service"}, &d)
	if !d.Allowed || d.Reason != "consent_given" {
		t.Errorf("gate after acceptance = %+v; want consent_given", d)
	}
	if n := publish("# Terms v2, materially changed", true); n != 1 {
		t.Errorf("material terms v2 marked %d acceptances; want 1", n)
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "terms-of-service"}, &d)
	if d.Allowed || d.Reason != "needs_reconsent" {
		t.Errorf("gate after material terms change = %+v; want needs_reconsent", d)
	}
}

// TestGateFindingsOfTheThirdTrial covers what a trial found the gate allowing wrongly.
func TestGateFindingsOfTheThirdTrial(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	gate := func(id, purpose string) string {
		t.Helper()
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": id, "purpose": purpose}, &d)
		return d.Reason
	}
	record := func(id string, body map[string]any) (int, apptest.Problem) {
		t.Helper()
		var prob apptest.Problem
		st := p.Do("POST", "/api/v1/contacts/"+id+"/consents", body, &prob)
		return st, prob
	}
	newContact := func(email string) string {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": email}, &c)
		return c.ID
	}
	publish := func(doc, body string, material bool) {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		p.Do("POST", "/api/v1/policies", map[string]any{"document": doc, "body": body, "material": material}, &v)
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
			t.Fatalf("publish %s: %d", doc, st)
		}
	}

	// 1. A consent dated a minute ahead must not outrank the unsubscribe that follows it.
	a := newContact("ahead@example.org")
	record(a, map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)})
	if st, prob := record(a, map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339)}); st != 201 {
		t.Fatalf("a time within the clock skew: %d %+v", st, prob)
	}
	record(a, map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "one-click-unsubscribe"})
	if r := gate(a, "newsletter"); r != "withdrawn" {
		t.Errorf("unsubscribe after a consent dated ahead: %s; want withdrawn", r)
	}

	// 2. Policy versions named by the caller must exist; consent under a superseded material
	// version needs re-consent.
	publish("privacy_policy", "# v1", false)
	publish("privacy_policy", "# v2", true)
	b := newContact("versions@example.org")
	if st, prob := record(b, map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "policy_versions": map[string]string{"privacy_policy": "99"}}); st != 400 || prob.Reason != "unknown_version" {
		t.Errorf("an unpublished version: %d %+v; want 400 unknown_version", st, prob)
	}
	record(b, map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "policy_versions": map[string]string{"privacy_policy": "1"}})
	if r := gate(b, "newsletter"); r != "needs_reconsent" {
		t.Errorf("consent under v1 after a material v2: %s; want needs_reconsent", r)
	}

	// 3 and 4. Staff approval whatever the method, and checked against a material change made
	// while the consent waited.
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "calls", "name": "Sales calls", "lawful_basis": "dpv:Consent", "staff_approval": true}, nil); st != 201 {
		t.Fatal("purpose")
	}
	c := newContact("approval@example.org")
	var ev struct {
		ID       string `json:"id"`
		Approval string `json:"approval"`
	}
	p.Do("POST", "/api/v1/contacts/"+c+"/consents", map[string]any{"purpose": "calls", "state": "dpv:ConsentGiven", "method": "web-form"}, &ev)
	if ev.Approval != "pending" || gate(c, "calls") != "pending_approval" {
		t.Errorf("staff recording with method web-form: approval %q, gate %s; want pending", ev.Approval, gate(c, "calls"))
	}
	publish("privacy_policy", "# v3", true)
	dpo := p.Mint("dpo", "second", "")
	if st := p.DoAs(strings.TrimSpace(dpo), "POST", "/api/v1/contacts/"+c+"/consents/"+ev.ID+"/approve", nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	if r := gate(c, "calls"); r != "needs_reconsent" {
		t.Errorf("approved after a material change: %s; want needs_reconsent", r)
	}

	// No objection where Art. 21 does not apply; no consent receipt for a withdrawal.
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts/"+a+"/objections", map[string]string{"scope": "terms-of-service"}, &prob); st != 400 || prob.Reason != "objection_not_applicable" {
		t.Errorf("objection to a contract purpose: %d %+v; want 400 objection_not_applicable", st, prob)
	}
	var ledger struct {
		Events []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+a+"/consents", nil, &ledger)
	last := ledger.Events[len(ledger.Events)-1]
	if st := p.Do("GET", "/api/v1/contacts/"+a+"/consents/"+last.ID+"/receipt", nil, &prob); st != 409 || prob.Reason != "no_receipt" || last.State != "dpv:ConsentWithdrawn" {
		t.Errorf("receipt of a withdrawal: %d %+v; want 409 no_receipt", st, prob)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+a+"/consents/"+last.ID+"/receipt?format=iso27560", nil, nil); st != 200 {
		t.Errorf("ISO record of a withdrawal: %d; want 200", st)
	}
}

// TestFindingsOfTheFinalTrial: a change of one document re-asks only the purposes it governs; a
// back-dated consent cites the versions in force at its time; an erased address is refused for
// every purpose.
func TestFindingsOfTheFinalTrial(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	publish := func(doc, body string, material bool) {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		p.Do("POST", "/api/v1/policies", map[string]any{"document": doc, "body": body, "material": material}, &v)
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
			t.Fatalf("publish %s: %d", doc, st)
		}
	}
	gate := func(id, purpose string) string {
		t.Helper()
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": id, "purpose": purpose}, &d)
		return d.Reason
	}
	publish("privacy_policy", "# p1", false)
	publish("terms_of_service", "# t1", false)
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "both@example.org"}, &c)
	for _, pur := range []string{"newsletter", "terms-of-service"} {
		if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": pur, "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
			t.Fatalf("consent %s: %d", pur, st)
		}
	}
	publish("terms_of_service", "# t2", true)
	if n, t2 := gate(c.ID, "newsletter"), gate(c.ID, "terms-of-service"); n != "consent_given" || t2 != "needs_reconsent" {
		t.Errorf("after material terms: newsletter %s, terms %s; want consent_given and needs_reconsent", n, t2)
	}
	publish("privacy_policy", "# p2", true)
	if n := gate(c.ID, "newsletter"); n != "needs_reconsent" {
		t.Errorf("after material privacy policy: newsletter %s; want needs_reconsent", n)
	}

	var prob apptest.Problem
	back := time.Now().AddDate(-1, 0, 0).UTC().Format(time.RFC3339)
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": back, "policy_versions": map[string]string{"privacy_policy": "2"}}, &prob); st != 400 || prob.Reason != "unknown_version" {
		t.Errorf("a consent of last year citing this year's version: %d %+v; want 400 unknown_version", st, prob)
	}
	var ev struct {
		PolicyVersions map[string]string `json:"policy_versions"`
	}
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": back}, &ev)
	if len(ev.PolicyVersions) != 0 {
		t.Errorf("a back-dated consent recorded versions %v; want none (none was in force then)", ev.PolicyVersions)
	}

	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "analytics", "name": "Analytics", "lawful_basis": "dpv:LegitimateInterest"}, nil); st != 201 {
		t.Fatal("purpose")
	}
	p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil)
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.Do("POST", "/api/v1/consent-checks", map[string]string{"email": "both@example.org", "purpose": "analytics"}, &d)
	if d.Allowed || d.Reason != "suppressed" {
		t.Errorf("an erased address for a legitimate-interest purpose: %+v; want refused, suppressed", d)
	}
}

// TestStaffCannotUndoAWithdrawal: found by a whole-product trial. After a person withdrew, an
// agent recorded ConsentGiven through the API (method api, web-form, even double-opt-in, no
// evidence) and the gate, campaigns and processors took it. Now a withdrawal or refusal is lifted
// only by the person's own opt-in, and double-opt-in is Tillit's own confirmation's method.
func TestStaffCannotUndoAWithdrawal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c, fresh apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "karin.n@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "fresh.one@example.org"}, &fresh)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("withdraw: %d", st)
	}
	for _, method := range []string{"api", "web-form", "double-opt-in"} {
		var prob apptest.Problem
		if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": method}, &prob); st != 409 || prob.Reason != "withdrawn" {
			t.Errorf("staff consent (%s) after a withdrawal: %d %+v; want 409 withdrawn", method, st, prob)
		}
	}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts/"+fresh.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "double-opt-in"}, &prob); st != 400 || prob.Reason != "method_reserved" {
		t.Errorf("staff claiming double-opt-in: %d %+v; want 400 method_reserved", st, prob)
	}
	gate := func(id string) string {
		var d struct{ Reason string }
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": id, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	if r := gate(c.ID); r != "withdrawn" {
		t.Errorf("gate after the refused attempts: %s; want withdrawn", r)
	}
	// The person's own confirmed opt-in lifts it.
	if st, _ := apptest.PostForm(t, p.Base, "/p/subscribe", url.Values{"email": {"karin.n@example.org"}}); st != 200 {
		t.Fatal("subscribe")
	}
	// Anyone may post the address: until it is confirmed, the withdrawal stays what the gate
	// (and a consent-request campaign) sees.
	if r := gate(c.ID); r != "withdrawn" {
		t.Errorf("gate after an unconfirmed subscription: %s; want withdrawn", r)
	}
	var files []string
	for deadline := time.Now().Add(60 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	}
	if len(files) != 1 {
		t.Fatalf("mail files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	u, _ := url.Parse(apptest.ConfirmLink.FindString(strings.ReplaceAll(string(b), "=\r\n", "")))
	if st, _ := apptest.PostForm(t, p.Base, u.Path, nil); st != 200 {
		t.Fatalf("confirm: %d", st)
	}
	if r := gate(c.ID); r != "consent_given" {
		t.Errorf("gate after the person's own confirmation: %s; want consent_given", r)
	}
}

// TestRefusalAdviceIsTrue: found by a fresh-user trial (issue 11). Staff recording consent over
// a person's refusal got 409 advising "ask them with POST /p/subscribe … or a consent_request
// campaign", but a consent-request campaign never asks someone who refused or withdrew. Now the
// advice names only the ways that lift it (the person's own sign-up or preference center, and
// their confirmation), says a campaign does not ask them, and the campaign indeed skips them.
func TestRefusalAdviceIsTrue(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, tc := range []struct{ state, reason string }{{"dpv:ConsentRefused", "refused"}, {"dpv:ConsentWithdrawn", "withdrawn"}} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": tc.reason + ".advice@example.org"}, &c)
		p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentRequested", "method": "web-form"}, nil)
		if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": tc.state, "method": "web-form"}, nil); st != 201 {
			t.Fatalf("%s: %d", tc.state, st)
		}
		var prob apptest.Problem
		st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "staff", "evidence": "Said yes on the phone."}, &prob)
		if st != 409 || prob.Reason != tc.reason || !strings.Contains(prob.Detail, "POST /p/subscribe") || !strings.Contains(prob.Detail, "preference center") ||
			strings.Contains(prob.Detail, "or a consent_request campaign") || !strings.Contains(prob.Detail, "a consent_request campaign does not ask them") {
			t.Errorf("staff consent after %s: %d %+v; want 409 %s with true advice", tc.reason, st, prob, tc.reason)
		}
	}
	var camp struct{ ID string }
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "newsletter", "subject": "May we?", "text": "Hello."}, &camp); st != 201 {
		t.Fatalf("campaign: %d", st)
	}
	if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
		t.Fatalf("send: %d", st)
	}
	if got := p.WaitWalked(camp.ID); got.Counts.Messages != 0 || got.Counts.SkippedBy["refused"] != 1 || got.Counts.SkippedBy["withdrawn"] != 1 {
		t.Errorf("consent-request campaign counts %+v; want both skipped, as the advice says", got.Counts)
	}
}
