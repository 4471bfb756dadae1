package cli_test

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// fixtureSecrets reads every address, and every name, company and tag of five or more letters,
// from the Mailchimp fixtures: the bytes that must never appear in the data directory. (Shorter
// names, like "Lut", are left out: three given bytes turn up by chance in random ciphertext.)
func fixtureSecrets(t *testing.T, dir string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, name := range []string{"subscribed.csv", "unsubscribed.csv", "cleaned.csv"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			for i, cell := range rec {
				col := recs[0][i]
				v := strings.Trim(strings.TrimSpace(cell), `"`)
				keep := col == "Email Address" || ((col == "First Name" || col == "Last Name" || col == "Company" || col == "TAGS") && len(v) >= 5)
				if keep && v != "" && !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d secrets read from the fixtures", len(out))
	}
	return out
}

func TestGhostMailchimpImport(t *testing.T) {
	ext := externalDir(t, "mailchimp-ghost")
	dir := t.TempDir()
	files := []string{filepath.Join(ext, "subscribed.csv"), filepath.Join(ext, "unsubscribed.csv"), filepath.Join(ext, "cleaned.csv")}

	code, out, stderr := runCLI(t, append([]string{"import", "--data", dir, "--format", "mailchimp", "--json"}, files...)...)
	if code != 0 {
		t.Fatalf("tillit import exited %d: %s", code, stderr)
	}
	var got struct{ Reports []reportJSON }
	if err := jsonUnmarshal(out, &got); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if len(got.Reports) != 3 {
		t.Fatalf("%d reports; want 3", len(got.Reports))
	}
	sub, unsub, clean := got.Reports[0], got.Reports[1], got.Reports[2]
	if sub.Rows != 5 || sub.Created != 5 || sub.ConsentsRecorded != 5 || sub.Refused != 0 {
		t.Errorf("subscribed report = %+v; want 5 rows, 5 created, 5 consents", sub)
	}
	if unsub.ListUnsub != 5 || unsub.SuppressionsAdded != 0 || unsub.Created != 0 || clean.SuppressionsAdded != 5 || clean.ListUnsub != 0 || clean.Created != 0 {
		t.Errorf("unsubscribed %+v, cleaned %+v; want 5 suppressions each and no contacts", unsub, clean)
	}

	p := startProgram(t, dir)
	var all listJSON
	if st := p.do("GET", "/api/v1/contacts?limit=100", nil, &all); st != 200 || len(all.Items) != 5 {
		t.Fatalf("list: status %d, %d contacts; want 200 and 5", st, len(all.Items))
	}
	var l listJSON
	if st := p.do("GET", "/api/v1/contacts?email=S5@Example.COM", nil, &l); st != 200 || len(l.Items) != 1 {
		t.Fatalf("lookup: status %d, %d items; want 200 and 1", st, len(l.Items))
	}
	c := l.Items[0]
	if c.FirstName != "Dolor" || c.LastName != "Simet" || c.Company != "Lorem Co." || c.Email != "s5@example.com" || strings.Join(c.Tags, "|") != "Lorem Editors" {
		t.Errorf("s5 = %+v; want Dolor Simet of Lorem Co., tag Lorem Editors", c)
	}
	var ledger struct {
		Current []struct {
			Purpose, State, Method, LawfulBasis string
		} `json:"current"`
		Events []struct {
			State, Method string
			OccurredAt    string `json:"occurred_at"`
			Evidence      struct {
				ConfirmTime string `json:"confirm_time"`
			} `json:"evidence"`
		} `json:"events"`
	}
	if st := p.do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &ledger); st != 200 {
		t.Fatalf("consents: status %d", st)
	}
	if len(ledger.Events) != 1 || ledger.Events[0].State != "dpv:ConsentGiven" || ledger.Events[0].Method != "double-opt-in" ||
		ledger.Events[0].OccurredAt != "2018-02-05T19:28:22Z" || ledger.Events[0].Evidence.ConfirmTime != "2018-02-05T19:28:22Z" {
		t.Errorf("s5 consent events = %+v; want one double-opt-in ConsentGiven at the CONFIRM_TIME 2018-02-05T19:28:22Z", ledger.Events)
	}
	for _, addr := range []string{"u1@example.com", "c3@example.com"} {
		var none listJSON
		if st := p.do("GET", "/api/v1/contacts?email="+addr, nil, &none); st != 200 || len(none.Items) != 0 {
			t.Errorf("lookup %s: status %d, %d items; want no contact for a suppressed address", addr, st, len(none.Items))
		}
	}
	// The unsubscribed people left the list of the import's purpose (kept as keyed hashes for
	// it); the cleaned addresses bounced and are suppressed for every purpose.
	for addr, want := range map[string]string{"u1@example.com": "withdrawn", "u5@example.com": "withdrawn", "c3@example.com": "suppressed"} {
		var d struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		}
		if st := p.do("POST", "/api/v1/consent-checks", map[string]string{"email": addr, "purpose": "newsletter"}, &d); st != 200 || d.Allowed || d.Reason != want {
			t.Errorf("gate for %s: %d %+v; want %s", addr, st, d, want)
		}
	}
	p.stop()

	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := db.CountSuppressions(t.Context())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if counts["bounced"] != 5 || len(counts) != 1 {
		t.Errorf("suppressions by reason = %v; want 5 bounced (unsubscribes have the scope of their list)", counts)
	}
	assertNoPlaintext(t, dir, fixtureSecrets(t, ext))
}

func TestAuditVerifyCommandFindsTampering(t *testing.T) {
	dir := t.TempDir()
	importJSON(t, dir, writeFile(t, "s.csv", "Email Address,First Name,OPTIN_TIME\na1@example.org,Alpha,\na2@example.org,Beta,\na3@example.org,Gamma,\n"))
	code, out, _ := runCLI(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify untouched log: exit %d, %q", code, out)
	}
	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	tamper(t, dir, "UPDATE audit_events SET action = 'contact.nothing' WHERE seq = 4")
	code, out, _ = runCLI(t, "audit", "verify", "--data", dir, "--json")
	if code != 1 || !strings.Contains(out, `"first_broken":4`) {
		t.Errorf("verify tampered log: exit %d, %q; want exit 1 and first_broken 4", code, out)
	}
}

func TestTokenRolesAndCLI(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	code, out, _ := runCLI(t, "token", "create", "--data", dir, "--role", "auditor", "--name", "external-audit")
	auditor := strings.TrimSpace(out)
	if code != 0 || !tokenRE.MatchString(auditor) || strings.Count(out, "\n") != 1 {
		t.Fatalf("token create: exit %d, stdout %q; want only the token", code, out)
	}
	if code, _, _ := runCLI(t, "token", "create", "--data", dir, "--role", "root", "--name", "x"); code != 2 {
		t.Errorf("token create with an unknown role: exit %d; want 2 (bad usage)", code)
	}
	if code, _, _ := runCLI(t, "token", "create", "--data", dir); code != 2 {
		t.Errorf("token create without flags: exit %d; want 2", code)
	}
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "x@example.org"}, &c)
	var prob problemJSON
	if st := p.doAs(auditor, "GET", "/api/v1/contacts/"+c.ID, nil, &prob); st != 403 || prob.Code != "forbidden" {
		t.Errorf("auditor reads a contact: %d %+v; want 403", st, prob)
	}
	if st := p.doAs(auditor, "GET", "/api/v1/audit/verify", nil, nil); st != 200 {
		t.Errorf("auditor verifies the audit log: %d; want 200", st)
	}
	if st := p.doAs("", "GET", "/api/v1/contacts", nil, &prob); st != 401 || prob.Code != "unauthenticated" {
		t.Errorf("no token: %d %+v; want 401", st, prob)
	}
	if st := p.doAs("tlt_not-a-real-token", "GET", "/api/v1/contacts", nil, nil); st != 401 {
		t.Errorf("bad token: %d; want 401", st)
	}
	var dup problemJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": " X@EXAMPLE.org\u200b"}, &dup); st != 409 || dup.ID != c.ID || dup.Reason != "duplicate_email" {
		t.Errorf("duplicate create: %d %+v; want 409 with the existing id %s", st, dup, c.ID)
	}
	var audit struct {
		Items []struct {
			Action    string `json:"action"`
			ActorKind string `json:"actor_kind"`
		} `json:"items"`
	}
	p.do("GET", "/api/v1/contacts/"+c.ID+"/audit", nil, &audit)
	if len(audit.Items) == 0 || audit.Items[0].Action != "contact.create" || audit.Items[0].ActorKind != "token" {
		t.Errorf("contact audit = %+v; want contact.create by a token first", audit.Items)
	}
	code, out, _ = runCLI(t, "token", "list", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "\tauditor\t") || strings.Contains(out, "tlt_") {
		t.Fatalf("token list: exit %d, %q; want the admin and the auditor, no secrets", code, out)
	}
	auditorID := strings.Split(lines[1], "\t")[0]
	if code, _, stderr := runCLI(t, "token", "revoke", "--data", dir, auditorID); code != 0 {
		t.Fatalf("token revoke: exit %d: %s", code, stderr)
	}
	// The CLI is another process for the server: its commit is seen within the poll interval.
	time.Sleep(2 * store.GenerationLag)
	if st := p.doAs(auditor, "GET", "/api/v1/audit/verify", nil, nil); st != 401 {
		t.Errorf("revoked token: %d; want 401", st)
	}
	if code, _, _ := runCLI(t, "token", "revoke", "--data", dir, auditorID); code != 1 {
		t.Errorf("revoking twice: exit %d; want 1", code)
	}
	resp, err := http.Get(p.base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}

// importJSON runs tillit import --format mailchimp --json on files and sums the reports.
func importJSON(t *testing.T, dir string, files ...string) reportJSON {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"import", "--data", dir, "--format", "mailchimp", "--json"}, files...)...)
	if code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr)
	}
	var got struct{ Reports []reportJSON }
	if err := jsonUnmarshal(out, &got); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	var sum reportJSON
	for _, r := range got.Reports {
		sum.Rows += r.Rows
		sum.Created += r.Created
		sum.ConsentsRecorded += r.ConsentsRecorded
		sum.Existing += r.Existing
		sum.Suppressed += r.Suppressed
		sum.SuppressionsAdded += r.SuppressionsAdded
		sum.SuppressionsKnown += r.SuppressionsKnown
		sum.ListUnsub += r.ListUnsub
		sum.ListUnsubKnown += r.ListUnsubKnown
		sum.Withdrawals += r.Withdrawals
		sum.Outdated += r.Outdated
		sum.Restricted += r.Restricted
		sum.Refused += r.Refused
		sum.Errors = append(sum.Errors, r.Errors...)
	}
	return sum
}

// TestMissingKeyFilesAreRefused: a data directory that lost a key file must not start with new
// keys (its people would become unreadable and could be stored twice).
func TestMissingKeyFilesAreRefused(t *testing.T) {
	for _, lost := range []string{"keysets.json", "keys.db", "root.key", "tillit.db"} {
		t.Run(lost, func(t *testing.T) {
			if strings.HasSuffix(lost, ".db") {
				testdb.RequireSQLite(t, "SQLite's files: it removes one of the store's two files")
			}
			dir := t.TempDir()
			importJSON(t, dir, writeFile(t, "s.csv", "Email Address,First Name,OPTIN_TIME\nkeep@example.org,Keep,\n"))
			for _, f := range []string{"keys.db-wal", "keys.db-shm", "tillit.db-wal", "tillit.db-shm"} {
				os.Remove(filepath.Join(dir, f))
			}
			if err := os.Remove(filepath.Join(dir, lost)); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadDir(dir)
			code, _, stderr := runCLI(t, "serve", "--data", dir, "--listen", "127.0.0.1:0")
			if code != 1 || !strings.Contains(stderr, "restore") {
				t.Errorf("serve without %s: exit %d, stderr %q; want exit 1 asking to restore it", lost, code, stderr)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("serve without %s wrote into the data directory: %d files before, %d after", lost, len(before), len(after))
			}
		})
	}
}
