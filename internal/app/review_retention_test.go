package app_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
)

// TestRetentionKeepsAContactWithAnUnverifiedRequest (review of issue 12): a retention
// sweep erased a lead whose person had an open access request from the lead's own address still
// waiting for identity (contact_id not yet bound), and the erasure rejected that request
// silently: Candidate.OpenRequest reads only requests bound by contact id
// (store/sqlite/retention.go RetentionCandidates), while the erasure closes the unverified ones
// too (dsr.Service.ErasingIn). The data the answer needs is gone before the answer (Art. 12(3), 15).
func TestRetentionKeepsAContactWithAnUnverifiedRequest(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func(c *app.Config) {
		c.Now = func() time.Time { return time.Now().UTC().Add(time.Duration(offset.Load())) }
	}
	p := apptest.Serve(t, clock)
	var c struct{ ID string }
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"kind": "lead", "email": "una.waiting@example.org"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/retention-policies", map[string]any{"id": "leads-30", "kind": "lead", "after_days": 30}, nil); st != 201 {
		t.Fatalf("policy: %d", st)
	}
	offset.Store(int64(40 * 24 * time.Hour)) // the lead has been idle for 40 days
	var r apptest.Request
	if st := p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "email": "una.waiting@example.org"}, &r); st != 201 {
		t.Fatalf("request: %d", st)
	}
	if r.ContactID != "" {
		t.Fatalf("the request was bound at once (%s): the case needs one still waiting for identity", r.ContactID)
	}
	var res struct {
		Erased int `json:"erased"`
	}
	if st := p.Do("POST", "/api/v1/retention/sweep", nil, &res); st != 200 {
		t.Fatalf("sweep: %d", st)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 || res.Erased != 0 {
		t.Errorf("sweep with the person's access request open: contact %d, erased %d; want 200 and 0 (the request needs the data)", st, res.Erased)
	}
	var after apptest.Request
	p.Do("GET", "/api/v1/requests/"+r.ID, nil, &after)
	if after.State == "rejected" || after.State == "completed" {
		t.Errorf("the person's access request after the sweep: %s; want it still open", after.State)
	}
}

// TestSweepRefusesAnAmbiguousDryRun (review of issue 12): POST
// /api/v1/retention/sweep?dry_run (the flag form), ?dry_run= and ?dry_run=false&dry_run=true
// each ran a real, destructive sweep: boolParam (internal/api/requests.go) takes "" as false and
// the sweep handler (internal/api/share.go sweep) reads only the first value, though the route
// means "a misspelled dry run must not run a real sweep". Each must be refused (400) or dry.
func TestSweepRefusesAnAmbiguousDryRun(t *testing.T) {
	t.Parallel()
	for _, q := range []string{"?dry_run", "?dry_run=", "?dry_run=false&dry_run=true"} {
		t.Run(q, func(t *testing.T) {
			var offset atomic.Int64
			p := apptest.Serve(t, func(c *app.Config) {
				c.Now = func() time.Time { return time.Now().UTC().Add(time.Duration(offset.Load())) }
			})
			var c struct{ ID string }
			if st := p.Do("POST", "/api/v1/contacts", map[string]any{"kind": "lead", "email": "idle.lead@example.org"}, &c); st != 201 {
				t.Fatalf("create: %d", st)
			}
			if st := p.Do("POST", "/api/v1/retention-policies", map[string]any{"id": "leads-30", "kind": "lead", "after_days": 30}, nil); st != 201 {
				t.Fatalf("policy: %d", st)
			}
			offset.Store(int64(40 * 24 * time.Hour))
			var res struct {
				DryRun bool `json:"dry_run"`
				Erased int  `json:"erased"`
			}
			st := p.Do("POST", "/api/v1/retention/sweep"+q, nil, &res)
			if st == 200 && (!res.DryRun || res.Erased != 0) {
				t.Errorf("sweep%s: 200, dry_run %v, erased %d; want 400 or a dry run", q, res.DryRun, res.Erased)
			}
			if got := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, nil); got != 200 {
				t.Errorf("the idle lead after sweep%s: %d; want 200 (not erased)", q, got)
			}
		})
	}
}
