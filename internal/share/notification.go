package share

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// Art19Kinds are the changes every recipient of a person's data must be told of (GDPR Art. 19):
// a rectification (Art. 16), an erasure (Art. 17(1)) and a restriction (Art. 18). A recipient
// with a webhook is told by it; one without, or whose webhook gave up, gets a NotificationTask.
var Art19Kinds = []string{"rectified", "erased", "restricted"}

// Why a notification task was made.
const (
	CauseNoWebhook     = "no_webhook"     // the recipient has no webhook
	CauseWebhookFailed = "webhook_failed" // its webhook did not take the event after the last retry
)

// Task states.
const (
	TaskOpen = "open"
	TaskDone = "done"
)

// MaxTaskNote bounds the note that marks a task done, in characters.
const MaxTaskNote = 2000

// NotificationTask is a to-do for staff (the DPO): tell a recipient by hand of a change to a
// person's data it received (GDPR Art. 19), because no webhook told it. It names ids only; the
// note, written by staff when it is done, says how and when the recipient was told (a channel, a
// date, a reference), never the person's data.
type NotificationTask struct {
	ID            string     `json:"id"`
	ProcessorID   string     `json:"processor_id"`
	ProcessorName string     `json:"processor_name"` // from the register, when read
	ContactID     string     `json:"contact_id"`
	Kind          string     `json:"kind"`  // one of Art19Kinds
	Cause         string     `json:"cause"` // CauseNoWebhook or CauseWebhookFailed
	State         string     `json:"state"` // TaskOpen or TaskDone, when read
	CreatedAt     time.Time  `json:"created_at"`
	DoneAt        *time.Time `json:"done_at,omitempty"`
	DoneBy        string     `json:"done_by,omitempty"` // the audit actor, "token:<id>"
	Note          string     `json:"note,omitempty"`
}

// TaskFilter selects notification tasks. Zero values select everything.
type TaskFilter struct {
	State       string // TaskOpen, TaskDone, or "" for both
	ProcessorID string
	ContactID   string
	After       string // cursor: the last id of the previous page (ids are time-ordered)
	Limit       int
}

// taskIn makes a task for the recipient to be told of kind about the contact, unless one is
// open already (one to-do per recipient, person and kind: several corrections are told at once).
func (w *Webhooks) taskIn(ctx context.Context, tx WebhookTx, processorID, contactID, kind, cause string) error {
	open, err := tx.NotificationTasks(ctx, TaskFilter{State: TaskOpen, ProcessorID: processorID, ContactID: contactID, Limit: 100})
	if err != nil {
		return err
	}
	if slices.ContainsFunc(open, func(t NotificationTask) bool { return t.Kind == kind }) {
		return nil
	}
	return tx.InsertNotificationTask(ctx, NotificationTask{ID: w.NewID(), ProcessorID: processorID, ContactID: contactID, Kind: kind, Cause: cause, CreatedAt: w.Now().UTC()})
}

// Tasks returns a page of notification tasks matching f, oldest first, with the recipient's name
// and state, and the cursor of the next page ("" after the last). Limit defaults to 100, at most
// 500. Invalid for an unknown state or a limit over 500.
func (w *Webhooks) Tasks(ctx context.Context, f TaskFilter) ([]NotificationTask, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 500 {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: at most 500")
	}
	if f.State != "" && f.State != TaskOpen && f.State != TaskDone {
		return nil, "", apperr.Invalidf("state", "invalid_state", "state: open or done")
	}
	want := f.Limit
	f.Limit++
	var out []NotificationTask
	next := ""
	err := w.Store.Update(ctx, func(tx WebhookTx) error {
		ts, err := tx.NotificationTasks(ctx, f)
		if err != nil {
			return err
		}
		if len(ts) > want {
			ts = ts[:want]
			next = ts[want-1].ID
		}
		out, err = w.named(ctx, tx, ts)
		return err
	})
	return out, next, err
}

// named fills in each task's recipient name and state.
func (w *Webhooks) named(ctx context.Context, tx WebhookTx, ts []NotificationTask) ([]NotificationTask, error) {
	names := map[string]string{}
	for i := range ts {
		if _, ok := names[ts[i].ProcessorID]; !ok {
			p, err := tx.ProcessorByID(ctx, ts[i].ProcessorID)
			if err != nil {
				return nil, err
			}
			names[p.ID] = p.Name
		}
		ts[i].ProcessorName, ts[i].State = names[ts[i].ProcessorID], TaskOpen
		if ts[i].DoneAt != nil {
			ts[i].State = TaskDone
		}
	}
	return ts, nil
}

// TaskDone records that staff told the recipient, with a note saying how (required: a channel, a
// date, a reference; never the person's data), audited as "notification_task.done". Invalid for
// an empty note or one over MaxTaskNote characters; NotFound for an unknown task; Conflict
// (reason already_done) when it was done already.
func (w *Webhooks) TaskDone(ctx context.Context, id, note string) (NotificationTask, error) {
	note = strings.TrimSpace(note)
	if note == "" || !utf8.ValidString(note) {
		return NotificationTask{}, apperr.Invalidf("note", "required", "note: how and when the recipient was told")
	}
	if utf8.RuneCountInString(note) > MaxTaskNote {
		return NotificationTask{}, apperr.Invalidf("note", "too_long", "note: at most %d characters", MaxTaskNote)
	}
	var out NotificationTask
	err := w.Store.Update(ctx, func(tx WebhookTx) error {
		t, err := tx.NotificationTaskByID(ctx, id)
		if err != nil {
			return err
		}
		if t.DoneAt != nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "already_done", ID: t.ID, Message: "the task was marked done already"}
		}
		now := w.Now().UTC()
		a := audit.ActorFrom(ctx)
		t.DoneAt, t.DoneBy, t.Note = &now, a.Kind+":"+a.ID, note
		if err := tx.UpdateNotificationTask(ctx, t); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "notification_task.done", "notification_task", t.ID, "note")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		ts, err := w.named(ctx, tx, []NotificationTask{t})
		if err == nil {
			out = ts[0]
		}
		return err
	})
	return out, err
}
