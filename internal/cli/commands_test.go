package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProcessorTokenFromTheCLI: a processor-scoped token is made with --processor for a
// registered processor only, and reads only what was shared with that processor.
func TestProcessorTokenFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	if code, _, _ := runCLI(t, "token", "create", "--data", dir, "--role", "processor", "--name", "x"); code != 2 {
		t.Errorf("processor token without --processor: exit %d; want 2", code)
	}
	if code, _, _ := runCLI(t, "token", "create", "--data", dir, "--role", "processor", "--processor", "nobody", "--name", "x"); code != 2 {
		t.Errorf("processor token for an unregistered processor: exit %d; want 2", code)
	}
	if code, _, _ := runCLI(t, "token", "create", "--data", dir, "--role", "agent", "--processor", "crm", "--name", "x"); code != 2 {
		t.Errorf("staff token with --processor: exit %d; want 2", code)
	}
	p.do("POST", "/api/v1/processors", map[string]any{"id": "crm", "name": "CRM AB", "purposes": []string{"newsletter"}, "data_categories": []string{"email"},
		"country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z"}, nil)
	code, out, _ := runCLI(t, "token", "create", "--data", dir, "--role", "processor", "--processor", "crm", "--name", "crm integration")
	ptok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(ptok, "tlt_") {
		t.Fatalf("processor token: exit %d %q", code, out)
	}
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "ebba@example.org", "first_name": "Ebba"}, &c)
	p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	if st := p.doAs(ptok, "GET", "/api/v1/shared/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("before the disclosure: %d; want 404", st)
	}
	p.do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "crm", "purpose": "newsletter", "fields": []string{"email"}}, nil)
	var got map[string]any
	if st := p.doAs(ptok, "GET", "/api/v1/shared/contacts/"+c.ID, nil, &got); st != 200 || got["email"] != "ebba@example.org" || got["first_name"] != nil {
		t.Errorf("shared read: %d %v", st, got)
	}
	if st := p.doAs(ptok, "GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 403 {
		t.Errorf("processor token on the staff route: %d; want 403", st)
	}
	if code, out, _ := runCLI(t, "token", "list", "--data", dir); code != 0 || !strings.Contains(out, "\tprocessor:crm\t") {
		t.Errorf("token list: exit %d\n%s; want the processor named", code, out)
	}
	// Found by a fresh-user trial: a name with a newline broke the columns of token list, and
	// an ended processor got a new token.
	if code, _, stderr := runCLI(t, "token", "create", "--data", dir, "--role", "agent", "--name", "evil\nname"); code == 0 || !strings.Contains(stderr, "control characters") {
		t.Errorf("token name with a newline: exit %d %s; want refused", code, stderr)
	}
	if code, _, stderr := runCLI(t, "token", "create", "--data", dir, "--role", "processor", "--name", "x"); code != 2 || !strings.Contains(stderr, "needs --processor") {
		t.Errorf("processor token without --processor: exit %d %s", code, stderr)
	}
	if st := p.do("DELETE", "/api/v1/processors/crm", nil, nil); st != 200 && st != 204 {
		t.Fatalf("end processor: %d", st)
	}
	if code, _, stderr := runCLI(t, "token", "create", "--data", dir, "--role", "processor", "--processor", "crm", "--name", "again"); code != 2 || !strings.Contains(stderr, "engagement ended") {
		t.Errorf("token for an ended processor: exit %d %s; want refused", code, stderr)
	}
}

// TestRetentionSweepCommand: `tillit retention sweep` applies the policies and prints JSON; with
// every contact recent, nothing is erased (the fixed-clock cases are in internal/governance).
func TestRetentionSweepCommand(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	if st := p.do("POST", "/api/v1/retention-policies", map[string]any{"id": "leads-30-days", "kind": "lead", "after_days": 30}, nil); st != 201 {
		t.Fatalf("policy: %d", st)
	}
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"kind": "lead", "email": "fresh.lead@example.org"}, &c)
	for _, args := range [][]string{{"retention", "sweep", "--dry-run", "--data", dir}, {"retention", "sweep", "--data", dir}} {
		code, out, errOut := runCLI(t, args...)
		var res struct {
			DryRun   bool `json:"dry_run"`
			Erased   int  `json:"erased"`
			Policies []struct {
				Policy   string   `json:"policy"`
				Contacts []string `json:"contacts"`
			} `json:"policies"`
		}
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Erased != 0 || len(res.Policies) != 1 || res.Policies[0].Policy != "leads-30-days" || res.DryRun != (args[2] == "--dry-run") {
			t.Errorf("%v: exit %d, %+v, %v\n%s", args, code, res, err, errOut)
		}
	}
	if st := p.do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 {
		t.Errorf("the fresh lead after the sweep: %d", st)
	}
	if code, _, _ := runCLI(t, "retention", "--data", dir); code != 2 {
		t.Errorf("tillit retention without sweep: exit %d; want 2", code)
	}
	if code, _, _ := runCLI(t, "retention", "sweep", "--data", dir, "dry-run"); code != 2 {
		t.Errorf("a stray argument (dry-run without dashes): exit %d; want 2, not a real sweep", code)
	}
}

// TestStrayArgumentsAreUsageErrors: an argument a command does not take is exit 2, never a
// half-understood command (a token named "Jane" for --name Jane Doe).
func TestStrayArgumentsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	startProgram(t, dir).stop()
	for _, args := range [][]string{
		{"token", "create", "--data", dir, "--role", "dpo", "--name", "Jane", "Doe"},
		{"token", "list", "--data", dir, "extra"},
		{"audit", "verify", "--data", dir, "extra"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d; want 2", args, code)
		}
	}
}
