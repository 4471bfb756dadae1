package campaign_test

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
)

// TestRecipientsReasonsFollowTheActor: the list of who a campaign considered gives the reason a
// person was skipped (their consent state) only to an actor that may read contacts (admin, dpo,
// agent, Tillit itself, a local command), read from the context by the service; the auditor sees
// contact ids and outcomes only.
func TestRecipientsReasonsFollowTheActor(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	ctx := staff()
	given := w.person(t, "given@example.org", consent.Given)
	withdrawn := w.person(t, "withdrawn@example.org", consent.Given, consent.Withdrawn)
	c, err := w.svc.Create(ctx, campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		if done, err = w.svc.Step(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	tok := func(role string) context.Context {
		return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-" + role, Role: role})
	}
	cases := []struct {
		name    string
		ctx     context.Context
		reasons bool
	}{
		{"admin", tok("admin"), true}, {"dpo", tok("dpo"), true}, {"agent", tok("agent"), true},
		{"auditor", tok("auditor"), false}, {"processor", tok("processor"), false},
		{"system", context.Background(), true}, {"cli", staff(), true},
		{"public", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "x"}), false},
	}
	for _, tc := range cases {
		items, next, err := w.svc.Recipients(tc.ctx, c.ID, "", 10)
		if err != nil || next != "" || len(items) != 2 {
			t.Fatalf("%s: %+v %q %v; want both people on one page", tc.name, items, next, err)
		}
		got := map[string]campaign.Recipient{}
		for _, r := range items {
			got[r.ContactID] = r
		}
		want := ""
		if tc.reasons {
			want = "withdrawn"
		}
		if r := got[withdrawn]; r.Outcome != campaign.OutcomeSkipped || r.Reason != want {
			t.Errorf("%s: the withdrawn person: %+v; want skipped, reason %q", tc.name, r, want)
		}
		if r := got[given]; r.Outcome != campaign.OutcomeQueued || r.Reason != "" {
			t.Errorf("%s: the consenting person: %+v; want queued, no reason", tc.name, r)
		}
	}
}
