package importer_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestMergedMailchimpExportsReadEachRow (found by a fresh-user trial): a marketer merged
// Mailchimp's three exports (subscribed, unsubscribed, cleaned) into one sheet. The status came
// from the header's columns, so every row was an unsubscribe: ccc, subscribed, was withdrawn;
// eee, cleaned, only left the import's list instead of being suppressed (an import for another
// purpose re-created it); an existing subscriber whose UNSUB_TIME cell is empty got a
// dpv:ConsentWithdrawn at LAST_CHANGED, a withdrawal the person never made. Each row's status now
// comes from its own cells, and a row that says nothing is refused naming UNSUB_TIME.
func TestMergedMailchimpExportsReadEachRow(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "offers", "name": "Offers", "lawful_basis": "dpv:Consent"}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	var sub apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "sub@example.com"}, &sub)
	if st := p.Do("POST", "/api/v1/contacts/"+sub.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven",
		"method": "web-form", "occurred_at": "2019-01-01T00:05:00Z"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}

	merged := "Email Address,OPTIN_TIME,CONFIRM_TIME,LAST_CHANGED,UNSUB_TIME,CLEAN_TIME\n" +
		"ccc@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,2021-01-01 00:00:00,,\n" +
		"sub@example.com,2019-01-01 00:00:00,2019-01-01 00:05:00,2021-06-01 00:00:00,,\n" +
		"ddd@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,,2022-01-01 00:00:00,\n" +
		"eee@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,,,2023-01-01 00:00:00\n" +
		"fff@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,,2022-01-01 00:00:00,\n" +
		"fff@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,2021-01-01 00:00:00,,\n" +
		"ggg@example.com,,,2021-01-01 00:00:00,,\n"
	st, rep := importCSV(t, p, "format=mailchimp&purpose=newsletter", merged)
	if st != 200 || rep.Rows != 7 || rep.Created != 1 || rep.ConsentsRecorded != 1 || rep.Existing != 1 || rep.Withdrawals != 0 ||
		rep.ListUnsub != 2 || rep.ListUnsubKnown != 0 || rep.SuppressionsAdded != 1 || rep.SuppressionsKnown != 0 || rep.Suppressed != 1 || rep.Refused != 1 {
		t.Fatalf("merged export: %d %+v; want ccc created with consent, sub existing, ddd and fff off the list, eee suppressed, fff's subscribed row suppressed, ggg refused", st, rep)
	}
	if e := rep.RowErrors[0]; e.Line != 8 || e.Field != "UNSUB_TIME" || e.Code != "status_unknown" {
		t.Errorf("ggg's refusal: %+v; want line 8, UNSUB_TIME, status_unknown", e)
	}
	for email, want := range map[string]string{"ccc@example.com": "consent_given", "sub@example.com": "consent_given",
		"ddd@example.com": "withdrawn", "eee@example.com": "suppressed", "fff@example.com": "withdrawn"} {
		if ok, reason := p.Check(map[string]string{"email": email}, "newsletter"); reason != want || ok != (want == "consent_given") {
			t.Errorf("%s newsletter: %v %s; want %s", email, ok, reason, want)
		}
	}
	var ledger struct {
		Events []struct {
			State string `json:"state"`
		} `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+sub.ID+"/consents", nil, &ledger)
	for _, e := range ledger.Events {
		if e.State != "dpv:ConsentGiven" {
			t.Errorf("sub's ledger has a %s event; the row withdrew nothing", e.State)
		}
	}

	// eee bounced: a list for another purpose does not bring the address back.
	st, offers := importCSV(t, p, "format=mailchimp&purpose=offers", "Email Address,OPTIN_TIME\neee@example.com,2024-03-01 09:00:00\n")
	if st != 200 || offers.Created != 0 || offers.Suppressed != 1 {
		t.Errorf("offers list with eee: %d %+v; want eee not imported (suppressed)", st, offers)
	}
	if ok, reason := p.Check(map[string]string{"email": "eee@example.com"}, "offers"); ok || reason != "suppressed" {
		t.Errorf("eee offers: %v %s; want suppressed", ok, reason)
	}
}

// TestImportRefusesWhatItCannotProve (found by a fresh-user trial): IP cells that are no address
// were stored as double-opt-in evidence, a row cut off before its evidence columns was stored as
// subscribed with the import's time, consents expired already went unreported and a pending row
// counted as a consent recorded.
func TestImportRefusesWhatItCannotProve(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "yearly", "name": "Yearly", "lawful_basis": "dpv:Consent", "consent_valid_days": 365}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	body := "Email Address,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED,TAGS\n" +
		"a@example.com,2018-02-05 19:28:23,192.0.2.1,2018-02-05 19:30:00,192.0.2.1,,\n" +
		"b@example.com,2018-02-05 19:28:23,,2018-02-05 19:30:00,999.1.1.1,,\n" +
		"c@example.com,2018-02-05 19:28:23,=cmd|calc,2018-02-05 19:30:00,,,\n" +
		"d@example.com,2018-02-05 19:28:23\n"
	st, rep := importCSV(t, p, "format=mailchimp&purpose=yearly", body)
	if st != 200 || rep.Created != 1 || rep.ConsentsRecorded != 1 || rep.Expired != 1 || rep.Refused != 3 || len(rep.RowErrors) != 3 {
		t.Fatalf("import: %d %+v; want a created with an expired consent, 3 refused", st, rep)
	}
	want := []rowReport{
		{Line: 3, Field: "CONFIRM_IP", Code: "invalid_ip", Reason: "CONFIRM_IP: not an IPv4 or IPv6 address"},
		{Line: 4, Field: "OPTIN_IP", Code: "invalid_ip", Reason: "OPTIN_IP: not an IPv4 or IPv6 address"},
		{Line: 5, Field: "OPTIN_IP", Code: "too_few_cells", Reason: "OPTIN_IP: missing, the row has 2 cells and the header 7 (a row cut off or broken by a line break outside quotes)"},
	}
	for i, w := range want {
		if rep.RowErrors[i] != w {
			t.Errorf("refusal %d: %+v; want %+v", i, rep.RowErrors[i], w)
		}
	}
	if ok, reason := p.Check(map[string]string{"email": "a@example.com"}, "yearly"); ok || reason != "expired" {
		t.Errorf("a: %v %s; want expired", ok, reason)
	}
	st, pending := importCSV(t, p, "format=mailchimp&status=pending", "Email Address,OPTIN_TIME\np@example.com,2024-01-01 00:00:00\n")
	if st != 200 || pending.Requests != 1 || pending.ConsentsRecorded != 0 || pending.Created != 1 {
		t.Errorf("pending: %d %+v; want 1 request, no consent recorded", st, pending)
	}
}

// TestImportBadCountryIsNoRegion (found by a fresh-user trial): with TILLIT_DEFAULT_REGION=DE a
// CC cell that is no country code fell back to DE without a word, and without the setting the
// warning asked for the country in CC, which the row had given.
func TestImportBadCountryIsNoRegion(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_DEFAULT_REGION": "DE"}))
	st, rep := importCSV(t, p, "format=mailchimp", "Email Address,Phone Number,CC,OPTIN_TIME,CONFIRM_TIME\n"+
		"xx@example.org,030 1234567,XX,2024-01-02 10:00:00,2024-01-02 10:05:00\n")
	if st != 200 || rep.Created != 1 || rep.LeftOut != 2 || rep.WarningCounts["invalid_country"] != 1 || rep.WarningCounts["region_required"] != 1 {
		t.Fatalf("import: %d %+v; want the person stored, CC and the phone left out", st, rep)
	}
	if w := rep.Warnings[0]; w.Field != "CC" || w.Reason != "CC: left out, not a country code (ISO 3166-1 alpha-2, such as DE)" {
		t.Errorf("CC warning %+v", w)
	}
	if w := rep.Warnings[1]; w.Field != "Phone Number" || strings.Contains(w.Reason, "give the row's country") || !strings.Contains(w.Reason, "CC is not a country code") {
		t.Errorf("phone warning %+v; want it to say CC is not a country code", w)
	}
	var l struct {
		Items []struct {
			Phone string `json:"phone"`
		} `json:"items"`
	}
	if st := p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "xx@example.org"}, &l); st != 200 || len(l.Items) != 1 || l.Items[0].Phone != "" {
		t.Errorf("lookup: %d %+v; want the contact without a phone (no silent DE)", st, l)
	}
}
