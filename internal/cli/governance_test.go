package cli_test

import (
	"strings"
	"testing"
)

// TestBreachActorMustBeKnown: a breach's actor_id that names no token, processor or audit log
// actor is 400 (it counted 0 people and records and answered 201); a revoked token, an ended
// processor and a command of the audit log are accepted, on POST and on PATCH.
func TestBreachActorMustBeKnown(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	window := map[string]any{"title": "t", "window_from": "2026-01-01T00:00:00Z", "window_to": "2026-01-02T00:00:00Z"}
	with := func(actor string) map[string]any {
		m := map[string]any{"actor_id": actor}
		for k, v := range window {
			m[k] = v
		}
		return m
	}
	for _, actor := range []string{"nobody", "processor:nosuch", "processor:"} {
		var prob problemJSON
		if st := p.do("POST", "/api/v1/breaches", with(actor), &prob); st != 400 || prob.Field != "actor_id" || prob.Reason != "unknown_actor" {
			t.Errorf("actor_id %q: %d %+v; want 400 on actor_id, unknown_actor", actor, st, prob)
		}
	}

	// A revoked token did read data; an ended processor did receive it.
	if code, _, stderr := runCLI(t, "token", "create", "--data", dir, "--role", "agent", "--name", "leaked"); code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	_, out, _ := runCLI(t, "token", "list", "--data", dir)
	var leakedID string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "\tleaked") || strings.HasSuffix(line, "leaked") {
			leakedID = strings.Split(line, "\t")[0]
		}
	}
	if leakedID == "" {
		t.Fatalf("token list: no leaked token in %q", out)
	}
	if code, _, stderr := runCLI(t, "token", "revoke", "--data", dir, leakedID); code != 0 {
		t.Fatalf("token revoke: exit %d: %s", code, stderr)
	}
	if st := p.do("POST", "/api/v1/processors", map[string]any{"id": "old-mailer", "name": "Old Mailer AB", "country": "SE", "purposes": []string{"newsletter"}}, nil); st != 201 {
		t.Fatalf("register processor: %d", st)
	}
	if st := p.do("DELETE", "/api/v1/processors/old-mailer", nil, nil); st != 200 {
		t.Fatalf("end processor: %d", st)
	}
	var b struct {
		ID      string `json:"id"`
		ActorID string `json:"actor_id"`
	}
	for _, actor := range []string{leakedID, "processor:old-mailer", "token-create"} {
		if st := p.do("POST", "/api/v1/breaches", with(actor), &b); st != 201 || b.ActorID != actor {
			t.Errorf("actor_id %q: %d %+v; want 201", actor, st, b)
		}
	}
	var prob problemJSON
	if st := p.do("PATCH", "/api/v1/breaches/"+b.ID, map[string]any{"actor_id": "nobody"}, &prob); st != 400 || prob.Field != "actor_id" || prob.Reason != "unknown_actor" {
		t.Errorf("PATCH actor_id nobody: %d %+v; want 400 on actor_id", st, prob)
	}
	var cleared struct {
		ActorID *string `json:"actor_id"`
	}
	if st := p.do("PATCH", "/api/v1/breaches/"+b.ID, map[string]any{"actor_id": ""}, &cleared); st != 200 || cleared.ActorID != nil {
		t.Errorf("PATCH actor_id \"\" (every actor): %d %+v; want 200 without an actor", st, cleared)
	}
}
