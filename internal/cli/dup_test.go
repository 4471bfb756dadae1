package cli_test

import (
	"strings"
	"testing"
)

// TestImportWithinOneFile covers rows of one batch that depend on each other: the same person
// twice, and a subscribe followed by an unsubscribe of the same address.
func TestImportWithinOneFile(t *testing.T) {
	dir := t.TempDir()
	rep := importGeneric(t, dir, "subscribed", "email,first_name\nmia@example.org,Mia\nMIA@Example.org,Mia again\nnils@example.org,Nils\n")
	if rep.Created != 2 || rep.Existing != 1 || rep.ConsentsRecorded != 2 {
		t.Errorf("duplicate rows: %+v; want 2 created, 1 existing, 2 consents", rep)
	}
	rep = importGeneric(t, dir, "", "email,first_name,status\nolle@example.org,Olle,subscribed\nolle@example.org,Olle,unsubscribed\nolle@example.org,Olle,subscribed\n")
	if rep.Created != 1 || rep.Withdrawals != 1 || rep.SuppressionsAdded != 1 || rep.Suppressed != 1 {
		t.Errorf("subscribe, unsubscribe, subscribe in one file: %+v; want created, withdrawn, suppressed", rep)
	}
	p := startProgram(t, dir)
	var l listJSON
	p.do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "mia@example.org"}, &l)
	if len(l.Items) != 1 || l.Items[0].FirstName != "Mia" {
		t.Errorf("mia = %+v; want the first row's name kept", l.Items)
	}
	p.do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "olle@example.org"}, &l)
	var ledger struct {
		Current []struct{ State string } `json:"current"`
		Events  []struct{ State string } `json:"events"`
	}
	p.do("GET", "/api/v1/contacts/"+l.Items[0].ID+"/consents", nil, &ledger)
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
	if p.do("GET", "/api/v1/audit/verify", nil, &v); !v.OK {
		t.Errorf("audit chain broken after bulk imports: %+v", v)
	}
}

func importGeneric(t *testing.T, dir, status, body string) reportJSON {
	t.Helper()
	args := []string{"import", "--data", dir, "--format", "generic", "--json"}
	if status != "" {
		args = append(args, "--status", status)
	}
	code, out, stderr := runCLI(t, append(args, writeFile(t, "in.csv", body))...)
	if code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr)
	}
	var got struct{ Reports []reportJSON }
	if err := jsonUnmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got.Reports[0]
}
