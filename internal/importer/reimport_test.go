package importer_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

func TestReimportIsIdempotentAndNeverLiftsSuppression(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := apptest.WriteFile(t, "subscribed.csv", "Email Address,First Name,Last Name,OPTIN_TIME,CONFIRM_TIME\n"+
		"anna.berg@example.org,Anna,Berg,2024-01-02 10:00:00,2024-01-02 10:05:00\n"+
		"bo.ek@example.org,Bo,Ek,2024-01-03 10:00:00,\n"+
		"carl+news@example.org,Carl,Dahl,2024-01-04 10:00:00,2024-01-04 10:01:00\n")
	unsub := apptest.WriteFile(t, "unsubscribed.csv", "Email Address,First Name,UNSUB_TIME\n"+
		"BO.EK@example.org,Bo,2024-06-01 12:00:00\n"+
		"dana.fors@example.org,Dana,2024-06-02 12:00:00\n")

	first := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, sub)
	if first.Created != 3 || first.ConsentsRecorded != 3 {
		t.Fatalf("first import %+v; want 3 created with consent", first)
	}
	again := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, sub)
	if again.Created != 0 || again.ConsentsRecorded != 0 || again.Existing != 3 {
		t.Errorf("re-import %+v; want nothing new, 3 existing", again)
	}
	u := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, unsub)
	if u.ListUnsub != 2 || u.Withdrawals != 1 || u.ConsentsRecorded != 0 || u.Created != 0 {
		t.Errorf("unsubscribe import %+v; want 2 list unsubscribes and a withdrawal for Bo", u)
	}
	u2 := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, unsub)
	if u2.ListUnsub != 0 || u2.ListUnsubKnown != 2 || u2.Withdrawals != 0 {
		t.Errorf("repeated unsubscribe import %+v; want nothing new", u2)
	}
	// The subscribed file says Bo is subscribed: the suppression wins, and Dana never appears.
	third := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, sub, apptest.WriteFile(t, "dana.csv", "Email Address,First Name,OPTIN_TIME\ndana.fors@example.org,Dana,2025-01-01 00:00:00\n"))
	if third.Created != 0 || third.Suppressed != 2 || third.ConsentsRecorded != 0 {
		t.Errorf("import after unsubscribe %+v; want Bo and Dana counted suppressed, nothing created", third)
	}

	p := apptest.Serve(t, apptest.Dir(dir))
	var l apptest.List
	p.Do("GET", "/api/v1/contacts?email=bo.ek@example.org", nil, &l)
	if len(l.Items) != 1 {
		t.Fatalf("Bo's contact is gone: %+v", l)
	}
	var ledger struct {
		Current []struct{ State string } `json:"current"`
		Events  []struct{ State string } `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID+"/consents", nil, &ledger)
	if len(ledger.Current) != 1 || ledger.Current[0].State != "dpv:ConsentWithdrawn" || len(ledger.Events) != 2 {
		t.Errorf("Bo's consent = %+v; want withdrawn after given, two events", ledger)
	}

	// A withdrawal recorded through the API is not lifted by an import either.
	p.Do("GET", "/api/v1/contacts?email=anna.berg@example.org", nil, &l)
	anna := l.Items[0].ID
	if st := p.Do("POST", "/api/v1/contacts/"+anna+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "api"}, nil); st != 201 {
		t.Fatalf("withdraw: status %d", st)
	}
	p.Close()
	fourth := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, sub)
	if fourth.Suppressed != 2 || fourth.Existing != 1 || fourth.ConsentsRecorded != 0 {
		t.Errorf("import after API withdrawal %+v; want Anna and Bo suppressed, Carl existing", fourth)
	}
}
