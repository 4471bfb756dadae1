package importer_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestImportWithinOneFile covers rows of one batch that depend on each other: the same person
// twice, and a subscribe followed by an unsubscribe of the same address.
func TestImportWithinOneFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := importGeneric(t, dir, "subscribed", "email,first_name\nmia@example.org,Mia\nMIA@Example.org,Mia again\nnils@example.org,Nils\n")
	if rep.Created != 2 || rep.Existing != 1 || rep.ConsentsRecorded != 2 {
		t.Errorf("duplicate rows: %+v; want 2 created, 1 existing, 2 consents", rep)
	}
	rep = importGeneric(t, dir, "", "email,first_name,status\nolle@example.org,Olle,subscribed\nolle@example.org,Olle,unsubscribed\nolle@example.org,Olle,subscribed\n")
	if rep.Created != 1 || rep.Withdrawals != 1 || rep.ListUnsub != 1 || rep.SuppressionsAdded != 0 || rep.Suppressed != 1 || rep.ConsentsRecorded != 1 {
		t.Errorf("subscribe, unsubscribe, subscribe in one file: %+v; want created, withdrawn, suppressed", rep)
	}
	p := apptest.Serve(t, apptest.Dir(dir))
	var l apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "mia@example.org"}, &l)
	if len(l.Items) != 1 || l.Items[0].FirstName != "Mia" {
		t.Errorf("mia = %+v; want the first row's name kept", l.Items)
	}
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "olle@example.org"}, &l)
	var ledger struct {
		Current []struct{ State string } `json:"current"`
		Events  []struct{ State string } `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID+"/consents", nil, &ledger)
	var states []string
	for _, e := range ledger.Events {
		states = append(states, e.State)
	}
	if strings.Join(states, ",") != "dpv:ConsentGiven,dpv:ConsentWithdrawn" || len(ledger.Current) != 1 || ledger.Current[0].State != "dpv:ConsentWithdrawn" {
		t.Errorf("olle's ledger = %+v; want given then withdrawn, currently withdrawn", ledger)
	}
	var v struct {
		OK      bool  `json:"ok"`
		Checked int64 `json:"checked"`
	}
	if p.Do("GET", "/api/v1/audit/verify", nil, &v); !v.OK {
		t.Errorf("audit chain broken after bulk imports: %+v", v)
	}
}

// importGeneric imports body as a generic CSV file into dir, with the status option when
// status is not "", as tillit import --format generic does.
func importGeneric(t *testing.T, dir, status, body string) apptest.ImportReport {
	t.Helper()
	o := map[string]string{"format": "generic"}
	if status != "" {
		o["status"] = status
	}
	return apptest.ImportDir(t, dir, o, apptest.WriteFile(t, "in.csv", body))
}

// TestOutdatedUnsubscribe: found by a new-user trial, an unsubscribe older than the consent on
// record was counted as a withdrawal though the consent stayed current.
func TestOutdatedUnsubscribe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "s.csv", "Email Address,First Name,OPTIN_TIME\nrita@example.org,Rita,2023-05-01 10:00:00\n"))
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "u.csv", "Email Address,UNSUB_TIME\nrita@example.org,2018-01-01 10:00:00\n"))
	if rep.Withdrawals != 0 || rep.Outdated != 1 || rep.ListUnsub != 1 || rep.SuppressionsAdded != 0 {
		t.Errorf("report %+v; want 0 withdrawals, 1 outdated, 1 list unsubscribe, no suppression", rep)
	}
}

// TestConsentWithoutOptinTime: found by a new-user trial, a subscribed row without OPTIN_TIME got
// the import time as its consent time with nothing saying so.
func TestConsentWithoutOptinTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "s.csv", "Email Address,OPTIN_TIME,LAST_CHANGED\nnotime@example.org,,\nchanged@example.org,,2021-03-04 05:06:07\n"))
	p := apptest.Serve(t, apptest.Dir(dir))
	for email, want := range map[string]string{"notime@example.org": "time of the import", "changed@example.org": "2021-03-04T05:06:07Z"} {
		var l apptest.List
		p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": email}, &l)
		var ledger struct {
			Events []struct {
				OccurredAt string `json:"occurred_at"`
				Evidence   struct {
					Note string `json:"note"`
				} `json:"evidence"`
			} `json:"events"`
		}
		p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID+"/consents", nil, &ledger)
		e := ledger.Events[0]
		if !strings.Contains(e.Evidence.Note, "no opt-in time") || (strings.HasPrefix(want, "2021") && e.OccurredAt != want) || (!strings.HasPrefix(want, "2021") && !strings.Contains(e.Evidence.Note, want)) {
			t.Errorf("%s: occurred_at %s, note %q; want %s said in the evidence", email, e.OccurredAt, e.Evidence.Note, want)
		}
	}
}

// TestImportDoesNotOverrideAStateWithoutATime: found by a second new-user trial, a subscribed row
// without an opt-in time turned an expired consent back into a given one, dated at import time.
func TestImportDoesNotOverrideAStateWithoutATime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "exp@example.org"}, &c)
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentExpired", "method": "api"}, nil); st != 201 {
		t.Fatalf("expire: %d", st)
	}
	p.Close()
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "s.csv", "Email Address,OPTIN_TIME,CONFIRM_TIME\nexp@example.org,,\nbad@example.org,2024-02-02 10:00:00,2024-02-01 10:00:00\n"))
	if rep.ConsentsRecorded != 0 || rep.Existing != 1 || rep.Refused != 1 || rep.Errors[0].Line != 3 {
		t.Errorf("report %+v; want nothing recorded for the expired contact and line 3 refused (confirmation before opt-in)", rep)
	}
}

// TestImportRecordsNoConsentForARestrictedContact: a restricted contact (GDPR Art. 18) takes no new
// consent through the API; the bulk importer recorded one from a subscribed row all the same.
func TestImportRecordsNoConsentForARestrictedContact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "held@example.org"}, &c)
	if st := p.Do("PUT", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	p.Close()
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "r.csv", "Email Address,OPTIN_TIME,CONFIRM_TIME\nheld@example.org,2024-02-01 10:00:00,2024-02-01 10:05:00\nfree@example.org,2024-02-01 10:00:00,2024-02-01 10:05:00\n"))
	if rep.Restricted != 1 || rep.ConsentsRecorded != 1 || rep.Created != 1 {
		t.Errorf("report %+v; want restricted 1, one consent (the new contact's), one created", rep)
	}
	token := p.Token
	p = apptest.Serve(t, apptest.Dir(dir))
	p.Token = token
	var list struct {
		Data []struct {
			Purpose string `json:"purpose"`
		} `json:"data"`
	}
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &list); st != 200 || len(list.Data) != 0 {
		t.Errorf("restricted contact's consents: %d %+v; want none", st, list.Data)
	}
}

// TestFutureOptinTimeNamesTheColumn: found by a trial. A row whose OPTIN_TIME lies in the future
// was refused naming the API's occurred_at, which is not a column of the file.
func TestFutureOptinTimeNamesTheColumn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "f.csv", "Email Address,OPTIN_TIME\nlater@example.org,2099-01-01 00:00:00\n"))
	if rep.Refused != 1 || rep.Errors[0].Line != 2 || !strings.HasPrefix(rep.Errors[0].Reason, "OPTIN_TIME:") {
		t.Errorf("report %+v; want line 2 refused naming OPTIN_TIME", rep)
	}
}
