package app_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestRetentionInRecordAndNotice: with a retention policy for the newsletter and one for every
// lead, the record of processing said "while the lawful basis lasts" for every activity, its CSV
// had no retention policies and no description, and /p/privacy said "while the basis lasts"; now
// the JSON, the CSV, the privacy notice and the printable console page name the policies.
func TestRetentionInRecordAndNotice(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, pol := range []map[string]any{
		{"id": "newsletter-unconfirmed", "kind": "lead", "purpose": "newsletter", "after_days": 7},
		{"id": "leads-90-days", "kind": "lead", "after_days": 90},
	} {
		if st := p.Do("POST", "/api/v1/retention-policies", pol, nil); st != 201 {
			t.Fatalf("policy %v: %d", pol["id"], st)
		}
	}
	nlPolicy := "leads collected for newsletter: erased 7 days after their last consent event or change, with no consent in force (retention policy newsletter-unconfirmed)"
	leadPolicy := "leads: erased 90 days after their last consent event or change, with no consent in force (retention policy leads-90-days)"
	var ropa struct {
		Activities []struct {
			Purpose           string   `json:"purpose"`
			Retention         string   `json:"retention"`
			RetentionPolicies []string `json:"retention_policies"`
		} `json:"activities"`
	}
	p.Do("GET", "/api/v1/ropa", nil, &ropa)
	if len(ropa.Activities) < 2 {
		t.Fatalf("activities %+v", ropa.Activities)
	}
	for _, a := range ropa.Activities {
		if !strings.Contains(a.Retention, leadPolicy) || strings.Contains(a.Retention, nlPolicy) != (a.Purpose == "newsletter") {
			t.Errorf("activity %s: retention %q %v; want the lead policy, and the newsletter one only for the newsletter", a.Purpose, a.Retention, a.RetentionPolicies)
		}
	}
	req, _ := http.NewRequest("GET", p.Base+"/api/v1/ropa?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) < 2 {
		t.Fatalf("CSV: %v %q", err, rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if _, ok := col["description"]; !ok {
		t.Errorf("CSV header %q lacks description", rows[0])
	}
	if _, ok := col["retention_policies"]; !ok {
		t.Fatalf("CSV header %q lacks retention_policies", rows[0])
	}
	for _, r := range rows[1:] {
		if r[0] == "newsletter" && (!strings.Contains(r[col["retention_policies"]], "newsletter-unconfirmed") || !strings.Contains(r[col["retention"]], nlPolicy)) {
			t.Errorf("CSV newsletter row: %q", r)
		}
	}
	b := apptest.NewBrowser(t, p.Base)
	if st, page, _ := b.Get("/p/privacy"); st != 200 || !strings.Contains(page, nlPolicy) || !strings.Contains(page, leadPolicy) || strings.Contains(page, "while the basis lasts") {
		t.Errorf("/p/privacy: %d; want the policies in each purpose's retention\n%s", st, page)
	}
	if st, _, _ := b.Post("/console/login", url.Values{"token": {p.Token}}); st != 303 {
		t.Fatalf("console sign-in: %d", st)
	}
	if st, page, _ := b.Get("/console/ropa"); st != 200 || !strings.Contains(page, nlPolicy) {
		t.Errorf("/console/ropa: %d; want the newsletter policy in its retention\n%s", st, page)
	}
}
