package governance_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

func ptr[T any](v T) *T { return &v }

func TestBreachDeadlineCountsAndNotice(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	contacts := a.Contacts
	b := *a.Breaches
	b.Controller, b.Policies = consent.Controller{Name: "Norrsken AB", DPOEmail: "dpo@norrsken.example"}, nil

	// A leaked token reads three contacts, one of them twice, between 09:00 and 10:00; another
	// token reads one more; staff read one before the window.
	leaked := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-leaked", Role: "agent"})
	other := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-ok", Role: "dpo"})
	var ids []string
	for i := range 4 {
		c, err := contacts.Create(other, contact.Input{Email: "p" + string(rune('a'+i)) + "@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	contacts.Get(other, ids[0])
	now = now.Add(time.Hour)
	from := now
	for _, i := range []int{0, 1, 2, 2} {
		if _, err := contacts.Get(leaked, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	contacts.Get(other, ids[3])
	now = now.Add(time.Hour)
	to := now

	staff := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-dpo", Role: "dpo"})
	now = now.Add(30 * time.Minute)
	br, err := b.Create(staff, governance.BreachInput{Title: ptr("API token leaked in a public repository"), DetectedAt: ptr(now.Add(-30 * time.Minute)),
		WindowFrom: &from, WindowTo: &to, ActorID: ptr("tok-leaked"), Categories: &[]string{"email", "first_name"}, Risk: ptr(governance.RiskHigh)})
	if err != nil {
		t.Fatal(err)
	}
	if br.PeopleAffected != 3 || br.RecordsAffected != 4 {
		t.Errorf("affected: %d people, %d records; want 3 and 4 (from the audit log, by the leaked token, in the window)", br.PeopleAffected, br.RecordsAffected)
	}
	if want := br.DetectedAt.Add(72 * time.Hour); !br.NotifyBy.Equal(want) || br.HoursLeft != 71 || br.Late {
		t.Errorf("deadline: notify_by %v, %d hours left, late %v; want %v, 71, false", br.NotifyBy, br.HoursLeft, br.Late, want)
	}
	now = now.Add(80 * time.Hour)
	if got, _ := b.Get(staff, br.ID); got.HoursLeft != -8 || !got.Late {
		t.Errorf("80 h later (8 h 30 m late): %d hours left, late %v; want -8, late", got.HoursLeft, got.Late)
	}
	// Whole hours truncated toward zero, on both sides of the deadline (8 h 0 m late showed -9).
	for _, tc := range []struct {
		left time.Duration
		want int
		late bool
	}{
		{time.Hour + 59*time.Minute, 1, false},
		{30 * time.Minute, 0, false},
		{-30 * time.Second, 0, true},
		{-59 * time.Minute, 0, true},
		{-time.Hour, -1, true},
		{-8 * time.Hour, -8, true},
		{-(8*time.Hour + 30*time.Second), -8, true},
		{-(8*time.Hour + 59*time.Minute), -8, true},
	} {
		saved := now
		now = br.NotifyBy.Add(-tc.left)
		if got, _ := b.Get(staff, br.ID); got.HoursLeft != tc.want || got.Late != tc.late {
			t.Errorf("%v before notify_by: %d hours left, late %v; want %d, %v", tc.left, got.HoursLeft, got.Late, tc.want, tc.late)
		}
		now = saved
	}
	notified := now.Add(-time.Hour)
	got, err := b.Update(staff, br.ID, governance.BreachInput{AuthorityNotifiedAt: &notified, InformPeople: ptr(governance.InformRequired), Measures: ptr("The token was revoked; change your password.")})
	if err != nil || got.HoursLeft != -7 || !got.Late || got.InformPeople != governance.InformRequired {
		t.Errorf("after notification: %+v, %v; want late by 7 h 30 m (-7), frozen", got, err)
	}
	notice, err := b.Notice(staff, got)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Norrsken AB", "API token leaked", "email, first_name", "The token was revoked", "dpo@norrsken.example", "Art. 77",
		"What this may mean for you: [describe the likely consequences"} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice lacks %q:\n%s", want, notice)
		}
	}
	// The likely consequences (Art. 33(3)(c)) are stored and go into the notice (Art. 34(2)).
	got, err = b.Update(staff, br.ID, governance.BreachInput{LikelyConsequences: ptr("Phishing mails that use your name.")})
	if err != nil || got.LikelyConsequences != "Phishing mails that use your name." {
		t.Fatalf("likely consequences: %+v, %v", got, err)
	}
	if again, _ := b.Get(staff, br.ID); again.LikelyConsequences != got.LikelyConsequences {
		t.Errorf("likely consequences not stored: %q", again.LikelyConsequences)
	}
	if notice, _ := b.Notice(staff, got); !strings.Contains(notice, "What this may mean for you: Phishing mails that use your name.") {
		t.Errorf("notice lacks the likely consequences:\n%s", notice)
	}
	// A published breach_notice_template drafts the notice instead of the built-in text.
	policies := a.Policies
	b.Policies = policies
	if _, err := policies.Draft(staff, consent.DocBreachNoticeTemplate, "Dear customer of {{controller.name}}: {{breach.titel}}", false); apperr.As(err) == nil || apperr.As(err).Reason != "unknown_placeholder" {
		t.Errorf("an unknown placeholder in a breach_notice_template: %v; want unknown_placeholder", err)
	}
	v, err := policies.Draft(staff, consent.DocBreachNoticeTemplate, "Dear customer of {{controller.name}},\n\n{{breach.title}} ({{breach.detected_at}}; {{breach.categories}}).\n"+
		"{{breach.description}}\nConsequences: {{breach.likely_consequences}}\nMeasures: {{breach.measures}}\nAsk {{dpo}} or {{controller.email}}.\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if notice, _ := b.Notice(staff, got); !strings.Contains(notice, "What this may mean for you") {
		t.Errorf("a draft template was used before publication:\n%s", notice)
	}
	if _, err := policies.Publish(staff, v.ID); err != nil {
		t.Fatal(err)
	}
	notice, err = b.Notice(staff, got)
	want := "Dear customer of Norrsken AB,\n\nAPI token leaked in a public repository (29 November 2026; email, first_name).\n\nConsequences: Phishing mails that use your name.\n" +
		"Measures: The token was revoked; change your password.\nAsk dpo@norrsken.example or .\n"
	if err != nil || notice != want {
		t.Errorf("notice from the template: %v\n%q\nwant\n%q", err, notice, want)
	}
	b.Policies = nil
	for _, tc := range []struct {
		in    governance.BreachInput
		field string
	}{
		{governance.BreachInput{}, "title"},
		{governance.BreachInput{Title: ptr("x"), DetectedAt: ptr(now.Add(time.Hour))}, "detected_at"},
		{governance.BreachInput{Title: ptr("x"), WindowFrom: &to, WindowTo: &from}, "window_to"},
		{governance.BreachInput{Title: ptr("x"), Categories: &[]string{"password"}}, "categories"},
		{governance.BreachInput{Title: ptr("x"), Risk: ptr("medium")}, "risk"},
		{governance.BreachInput{Title: ptr("x"), PeopleAffected: ptr(-1)}, "people_affected"},
		{governance.BreachInput{Title: ptr("x"), DetectedAt: ptr(now.Add(-time.Hour)), AuthorityNotifiedAt: ptr(now.Add(-2 * time.Hour))}, "authority_notified_at"},
	} {
		_, err := b.Create(staff, tc.in)
		if e := apperr.As(err); e == nil || e.Field != tc.field {
			t.Errorf("Create(%+v) = %v; want Invalid on %s", tc.in, err, tc.field)
		}
	}
	if list, _ := b.List(staff); len(list) != 1 {
		t.Errorf("register holds %d breaches; want 1", len(list))
	}
	unlikely, _ := b.Create(staff, governance.BreachInput{Title: ptr("a laptop lost, disk encrypted"), Risk: ptr(governance.RiskUnlikely)})
	now = now.Add(100 * time.Hour)
	if got, _ := b.Get(staff, unlikely.ID); got.Late || got.HoursLeft != 0 {
		t.Errorf("a breach unlikely to result in a risk: %+v; want no deadline (Art. 33(1))", got)
	}
}
