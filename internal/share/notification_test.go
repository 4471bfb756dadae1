package share_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
)

// TestRecipientsNobodyToldGetATask: a recipient without a webhook gets one to-do per person and
// kind of Art. 19 change (a correction, a restriction, an erasure; none for a consent change),
// and so does one whose webhook gave up; staff mark a to-do done with a note, audited, once.
func TestRecipientsNobodyToldGetATask(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rc := &receiver{now: func() time.Time { return w.now }, statuses: slices.Repeat([]int{500}, 100)}
	hooks := &share.Webhooks{Store: store.Webhooks(w.db), Keys: w.svc.Keys, Sender: rc, Now: func() time.Time { return w.now }, NewID: w.svc.NewID}
	signed(t, w, "paper") // no webhook
	signed(t, w, "mailer")
	if _, err := w.svc.Update(ctx, "mailer", share.Input{WebhookURL: ptr("https://hooks.example.com/hook")}); err != nil {
		t.Fatal(err)
	}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "tove@example.org", FirstName: "Tove"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	for _, p := range []string{"paper", "mailer"} {
		if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: p, Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
			t.Fatal(err)
		}
	}
	open := func() []share.NotificationTask {
		t.Helper()
		ts, _, err := hooks.Tasks(ctx, share.TaskFilter{State: share.TaskOpen})
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	kinds := func(ts []share.NotificationTask) (out []string) {
		for _, x := range ts {
			out = append(out, x.ProcessorID+"/"+x.Kind+"/"+x.Cause)
		}
		return out
	}
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodWebForm})
	hooks.Fanout(ctx, 100)
	if ts := open(); len(ts) != 0 {
		t.Errorf("tasks after a consent change: %q; want none (not an Art. 19 change)", kinds(ts))
	}
	for _, name := range []string{"Tova", "Tove"} { // two corrections: one to-do tells both
		if _, err := w.contacts.Update(ctx, c.ID, contact.Patch{FirstName: ptr(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.contacts.SetRestricted(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	hooks.Fanout(ctx, 100)
	if got, want := kinds(open()), []string{"paper/rectified/no_webhook", "paper/restricted/no_webhook"}; !slices.Equal(got, want) {
		t.Errorf("open tasks %q; want %q", got, want)
	}
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	hooks.Fanout(ctx, 100)
	for range len(share.WebhookBackoff) + 1 { // the mailer's receiver never takes an event
		hooks.SendDue(ctx, 100)
		w.now = w.now.Add(25 * time.Hour)
	}
	ts := open()
	if got, want := kinds(ts), []string{"paper/rectified/no_webhook", "paper/restricted/no_webhook", "paper/erased/no_webhook", "mailer/erased/webhook_failed"}; !slices.Equal(got, want) {
		t.Errorf("open tasks %q; want %q (the mailer's earlier events were superseded by the erasure)", got, want)
	}
	if ts[0].ProcessorName != "Mailer AB" || ts[0].State != share.TaskOpen || ts[0].ContactID != c.ID {
		t.Errorf("task %+v; want the recipient's name, open, the contact id", ts[0])
	}

	staff := audit.WithActor(ctx, audit.Actor{Kind: audit.ActorToken, ID: "tok-dpo", Role: "dpo"})
	id := ts[2].ID
	if _, err := hooks.TaskDone(staff, id, "  "); !apperr.Is(err, apperr.Invalid) || apperr.As(err).Field != "note" {
		t.Errorf("done without a note: %v; want invalid note", err)
	}
	done, err := hooks.TaskDone(staff, id, "Wrote to privacy@paper.example, ticket 4711.")
	if err != nil || done.State != share.TaskDone || done.DoneAt == nil || !done.DoneAt.Equal(w.now) || done.DoneBy != "token:tok-dpo" || done.Note != "Wrote to privacy@paper.example, ticket 4711." {
		t.Fatalf("TaskDone = %+v, %v", done, err)
	}
	if _, err := hooks.TaskDone(staff, id, "again"); apperr.As(err) == nil || apperr.As(err).Reason != "already_done" {
		t.Errorf("done twice: %v; want conflict already_done", err)
	}
	if _, err := hooks.TaskDone(staff, "no-such-task", "x"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("unknown task: %v; want not found", err)
	}
	if got, _, err := hooks.Tasks(ctx, share.TaskFilter{State: share.TaskDone}); err != nil || len(got) != 1 || got[0].ID != id {
		t.Errorf("done tasks %+v, %v; want the one marked done", got, err)
	}
	if got, _, err := hooks.Tasks(ctx, share.TaskFilter{ProcessorID: "mailer"}); err != nil || len(got) != 1 {
		t.Errorf("the mailer's tasks %+v, %v; want one", got, err)
	}
	if _, _, err := hooks.Tasks(ctx, share.TaskFilter{State: "later"}); apperr.As(err) == nil || apperr.As(err).Field != "state" {
		t.Errorf("an unknown state: %v; want invalid state", err)
	}
	page, next, err := hooks.Tasks(ctx, share.TaskFilter{Limit: 3})
	if rest, _, _ := hooks.Tasks(ctx, share.TaskFilter{After: next}); err != nil || len(page) != 3 || next != page[2].ID || len(rest) != 1 {
		t.Errorf("pages of 3: %d, next %q, then %d; want 3 and 1", len(page), next, len(rest))
	}
	if err := w.db.Update(ctx, func(tx store.Tx) error {
		evs, err := tx.AuditEventsAbout(ctx, "notification_task", id)
		if err == nil && (len(evs) != 1 || evs[0].Action != "notification_task.done" || !slices.Equal(evs[0].Fields, []string{"note"})) {
			t.Errorf("audit events %+v; want notification_task.done with the field note", evs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
