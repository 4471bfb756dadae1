package governance_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/share"
)

func TestROPAContents(t *testing.T) {
	ctrl := consent.Controller{Name: "Norrsken AB", Email: "privacy@norrsken.example", Street: "Storgatan 1", PostalCode: "903 26", Locality: "Umeå", Country: "SE", DPOEmail: "dpo@norrsken.example"}
	purposes := []consent.Purpose{
		{ID: "newsletter", Name: "Newsletter", LawfulBasis: consent.BasisConsent, RetentionDays: 730},
		{ID: "sales-followup", Name: "Sales follow-up", LawfulBasis: consent.BasisLegitimateInterest},
	}
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	processors := []share.Processor{
		{ID: "mailer", Name: "Mailer AB", Role: share.RoleProcessor, Purposes: []string{"newsletter"}, Country: "SE", TransferMechanism: "none", DPAStatus: share.DPASigned, DataCategories: []string{"email"}},
		{ID: "crm-us", Name: "CRM Inc", Role: share.RoleSubProcessor, Purposes: []string{"newsletter", "sales-followup"}, Country: "US", TransferMechanism: share.TransferSCC, DPAStatus: share.DPASigned},
		{ID: "idle", Name: "Idle Ltd", Role: share.RoleProcessor, Purposes: []string{}, Country: "GB", TransferMechanism: share.TransferAdequacy, DPAStatus: share.DPARequested},
		{ID: "former", Name: "Former AB", Role: share.RoleProcessor, Purposes: []string{"newsletter"}, Country: "SE", DPAStatus: share.DPASigned, EndedAt: &now},
	}
	r := governance.Build(ctrl, purposes, processors, nil, "the store's erasure", now)
	if r.Controller.Name != "Norrsken AB" || r.Controller.DPO != "dpo@norrsken.example" || r.Controller.Address != "Storgatan 1, 903 26 Umeå, SE" || !r.GeneratedAt.Equal(now) {
		t.Errorf("controller %+v", r.Controller)
	}
	if len(r.Activities) != 2 {
		t.Fatalf("%d activities; want one per purpose", len(r.Activities))
	}
	nl, sf := r.Activities[0], r.Activities[1]
	ids := func(rs []governance.Recipient) []string {
		var out []string
		for _, x := range rs {
			out = append(out, x.ID)
		}
		return out
	}
	if nl.Article != "GDPR Art. 6(1)(a)" || nl.Retention != "730 days" || !slices.Equal(ids(nl.Recipients), []string{"mailer", "crm-us"}) || !slices.Equal(ids(nl.Transfers), []string{"crm-us"}) {
		t.Errorf("newsletter activity %+v", nl)
	}
	if sf.Article != "GDPR Art. 6(1)(f)" || sf.Retention != "while the lawful basis lasts" || !slices.Equal(ids(sf.Recipients), []string{"crm-us"}) || nl.Transfers[0].TransferMechanism != "scc" {
		t.Errorf("sales-followup activity %+v", sf)
	}
	if !slices.Equal(nl.Recipients[0].DataCategories, []string{"email"}) {
		t.Errorf("recipient categories %v; want what it may receive", nl.Recipients[0].DataCategories)
	}
	if !slices.Contains(nl.DataCategories, "email") || !slices.Contains(nl.DataCategories, "address") || len(r.SecurityMeasures) < 6 || r.SecurityMeasures[5] != "the store's erasure" {
		t.Errorf("categories %v, measures %v", nl.DataCategories, r.SecurityMeasures)
	}
	b, err := r.CSV()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][11] != "security_measures" || !strings.Contains(rows[1][11], "AES-256-GCM") || rows[0][0] != "purpose" || rows[1][0] != "newsletter" || rows[1][7] != "CRM Inc (US, scc)" || rows[2][8] != "while the lawful basis lasts" || rows[1][10] != "dpo@norrsken.example" {
		t.Errorf("CSV %q, %v", rows, err)
	}
}

// TestROPARetentionPolicies: every activity said "while the lawful basis lasts" and the CSV had
// no retention policies (nor the description) though policies erase contacts (Art. 30(1)(f));
// now each activity names the policies that apply to it.
func TestROPARetentionPolicies(t *testing.T) {
	purposes := []consent.Purpose{
		{ID: "newsletter", Name: "Newsletter", Description: "News, monthly", LawfulBasis: consent.BasisConsent},
		{ID: "sales-followup", Name: "Sales follow-up", LawfulBasis: consent.BasisLegitimateInterest, RetentionDays: 365},
	}
	policies := []governance.Policy{
		{ID: "leads-30-days", Kind: "lead", AfterDays: 30},
		{ID: "newsletter-unconfirmed", Kind: "lead", Purpose: "newsletter", AfterDays: 7},
	}
	r := governance.Build(consent.Controller{Name: "Norrsken AB"}, purposes, nil, policies, "", time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	nl, sf := r.Activities[0], r.Activities[1]
	wantNL := "while the lawful basis lasts; leads: erased 30 days after their last consent event or change, with no consent in force (retention policy leads-30-days); " +
		"leads collected for newsletter: erased 7 days after their last consent event or change, with no consent in force (retention policy newsletter-unconfirmed)"
	if nl.Retention != wantNL || !slices.Equal(nl.RetentionPolicies, []string{"leads-30-days", "newsletter-unconfirmed"}) {
		t.Errorf("newsletter retention %q %v;\nwant %q", nl.Retention, nl.RetentionPolicies, wantNL)
	}
	wantSF := "365 days; leads: erased 30 days after their last consent event or change, with no consent in force (retention policy leads-30-days)"
	if sf.Retention != wantSF || !slices.Equal(sf.RetentionPolicies, []string{"leads-30-days"}) {
		t.Errorf("sales-followup retention %q %v;\nwant %q", sf.Retention, sf.RetentionPolicies, wantSF)
	}
	if len(r.RetentionPolicies) != 2 {
		t.Errorf("top-level policies %v", r.RetentionPolicies)
	}
	b, err := r.CSV()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 3 || len(rows[0]) != 14 {
		t.Fatalf("CSV %q, %v", rows, err)
	}
	if rows[0][8] != "retention" || rows[1][8] != wantNL || rows[0][12] != "description" || rows[1][12] != "News, monthly" || rows[0][13] != "retention_policies" ||
		!strings.Contains(rows[1][13], "(retention policy newsletter-unconfirmed)") || strings.Contains(rows[2][13], "newsletter-unconfirmed") || !strings.Contains(rows[2][13], "leads-30-days") {
		t.Errorf("CSV retention and description columns: %q", rows)
	}
}
