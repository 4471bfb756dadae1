package campaign_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3", to read the outbox as it is on disk

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
)

// world is the campaign service of a whole app (apptest) on a real SQLite store in dir, as
// tillit serve wires it (the outbox writes files; it is not run here, so queued messages stay
// queued), walking audiences in batches of 3.
type world struct {
	a        *app.App
	db       store.Store
	svc      *campaign.Service
	contacts *contact.Service
	consent  *consent.Service
}

func open(t *testing.T, dir string) *world {
	t.Helper()
	a := apptest.New(t, func(c *app.Config) { c.Settings.DataDir = dir })
	svc := *a.Campaigns
	svc.Batch = 3
	return &world{a: a, db: a.Store, svc: &svc, contacts: a.Contacts, consent: a.Consent}
}

func staff() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
}

// person creates a contact (with an address unless email is "") and records its newsletter
// consent states in order.
func (w *world) person(t *testing.T, email string, states ...consent.State) string {
	t.Helper()
	in := contact.Input{Email: email, FirstName: "Test"}
	if email == "" {
		in.Phone = "+46701234567"
	}
	c, err := w.contacts.Create(staff(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if _, err := w.consent.Record(staff(), consent.Event{ContactID: c.ID, Purpose: "newsletter", State: st, Method: consent.MethodWebForm,
			Evidence: consent.Evidence{IP: "192.0.2.7", UserAgent: "test", FormID: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

// outboxRows reads the campaign's outbox rows from the file: contact id → statuses.
func outboxRows(t *testing.T, dir, campaignID string) map[string][]string {
	t.Helper()
	parts, err := store.Parts(dir)
	if err != nil || parts[0].What != "the database" {
		t.Fatalf("store.Parts: %+v %v; want the database first", parts, err)
	}
	db, err := sql.Open("sqlite3", "file:"+parts[0].Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT contact_id, status FROM outbox WHERE campaign_id = ?", campaignID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], status)
	}
	return out
}

var errCrash = errors.New("crash")

// crashingStore fails the after+1st InsertOutbox of a transaction, as a crash in mid-batch would
// end it: the transaction rolls back.
type crashingStore struct {
	campaign.Store
	after int
}

func (s crashingStore) Update(ctx context.Context, fn func(campaign.Tx) error) error {
	return s.Store.Update(ctx, func(tx campaign.Tx) error { return fn(&crashingTx{Tx: tx, left: s.after}) })
}

type crashingTx struct {
	campaign.Tx
	left int
}

func (tx *crashingTx) InsertOutbox(ctx context.Context, e mail.Entry) error {
	if tx.left == 0 {
		return errCrash
	}
	tx.left--
	return tx.Tx.InsertOutbox(ctx, e)
}

// TestWalkResumesFromCursor: the audience is walked three contacts per transaction in id order;
// a batch that fails in mid-way leaves nothing behind (cursor, counts and outbox rows as before);
// after the store is opened again the walk goes on from the cursor and ends with exactly one
// outbox row per allowed person, none for a refused one, the refusals counted by reason, and
// nobody added after the send.
func TestWalkResumesFromCursor(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	ctx := staff()
	g, wd := consent.Given, consent.Withdrawn
	var ids []string
	for i, states := range [][]consent.State{{g}, {g}, {g}, {g, wd}, {g}, {g}, nil, {g}, {g}, {g}} {
		email := fmt.Sprintf("p%d@example.org", i)
		if i == 9 {
			email = "" // a phone number only: walked, left out
		}
		ids = append(ids, w.person(t, email, states...))
	}
	allowed := []string{ids[0], ids[1], ids[2], ids[4], ids[5], ids[7], ids[8]}

	c, err := w.svc.Create(ctx, campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello."})
	if err != nil || c.Status != campaign.StatusDraft {
		t.Fatalf("create: %+v %v; want a draft", c, err)
	}
	if c, err = w.svc.Send(ctx, c.ID); err != nil || c.Status != campaign.StatusSending || c.Counts.Walked != 0 || c.FinishedAt != nil {
		t.Fatalf("send: %+v %v; want sending, nothing walked", c, err)
	}
	late := w.person(t, "late@example.org", g) // after the send: not in the audience

	if done, err := w.svc.Step(ctx, c.ID); err != nil || done {
		t.Fatalf("first step: done %v, %v; want a batch walked", done, err)
	}
	got, _ := w.svc.Get(ctx, c.ID)
	if got.Counts.Walked != 3 || got.Counts.Messages != 3 || got.Counts.Queued != 3 || got.Status != campaign.StatusSending {
		t.Fatalf("after the first batch: %s %+v; want sending, 3 walked, 3 queued", got.Status, got.Counts)
	}

	// The second batch (p3 withdrawn, p4, p5) fails at p5's message: nothing of it stays.
	crashing := *w.svc
	crashing.Store = crashingStore{Store: w.svc.Store, after: 1}
	if _, err := crashing.Step(ctx, c.ID); !errors.Is(err, errCrash) {
		t.Fatalf("crashing step: %v; want the crash", err)
	}
	got, _ = w.svc.Get(ctx, c.ID)
	rows := outboxRows(t, dir, c.ID)
	if got.Counts.Walked != 3 || got.Counts.Messages != 3 || got.Counts.Skipped != 0 || len(rows) != 3 || rows[ids[4]] != nil {
		t.Fatalf("after the failed batch: %+v, outbox %v; want the first batch only", got.Counts, rows)
	}
	if err := w.a.Close(); err != nil {
		t.Fatal(err)
	}

	w = open(t, dir) // a restart
	steps := 0
	for done := false; !done; steps++ {
		if done, err = w.svc.Step(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if steps > 10 {
			t.Fatal("the walk does not end")
		}
	}
	if steps != 3 { // p3-p5, p6-p8, p9 and the end (p10 came later)
		t.Errorf("%d steps after the restart; want 3", steps)
	}
	got, err = w.svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := campaign.Counts{Walked: 10, Messages: 7, Queued: 7, Skipped: 2, SkippedBy: map[string]int{"no_consent": 1, "withdrawn": 1}}
	if got.Status != campaign.StatusSent || got.FinishedAt == nil || got.FinishedAt.Before(*got.QueuedAt) || fmt.Sprint(*got.Counts) != fmt.Sprint(want) {
		t.Errorf("after the walk: %s finished %v, %+v; want sent, %+v", got.Status, got.FinishedAt, got.Counts, want)
	}
	rows = outboxRows(t, dir, c.ID)
	for _, id := range allowed {
		if !slices.Equal(rows[id], []string{mail.StatusQueued}) {
			t.Errorf("outbox rows of %s: %v; want one queued", id, rows[id])
		}
		delete(rows, id)
	}
	if len(rows) != 0 {
		t.Errorf("outbox rows for people refused, without an address or added later (%s): %v; want none", late, rows)
	}

	// A walk that ended stays ended; a second send is refused.
	if done, err := w.svc.Step(ctx, c.ID); err != nil || !done {
		t.Errorf("step after the end: %v %v; want done", done, err)
	}
	if again, _ := w.svc.Get(ctx, c.ID); fmt.Sprint(*again.Counts) != fmt.Sprint(want) {
		t.Errorf("counts after one more step: %+v; want unchanged", again.Counts)
	}
	if _, err := w.svc.Send(ctx, c.ID); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("second send: %v; want Conflict", err)
	}
}

// TestWalkEmptyAudience: a send to an audience with nobody in it ends at the first step.
func TestWalkEmptyAudience(t *testing.T) {
	w := open(t, t.TempDir())
	ctx := staff()
	w.person(t, "someone@example.org", consent.Given) // a contact, not a lead
	c, err := w.svc.Create(ctx, campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello.", Audience: campaign.Audience{Kind: contact.KindLead}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if done, err := w.svc.Step(ctx, c.ID); err != nil || !done {
		t.Fatalf("step: %v %v; want done at once", done, err)
	}
	got, _ := w.svc.Get(ctx, c.ID)
	if got.Status != campaign.StatusSent || got.Counts.Walked != 0 || got.Counts.Messages != 0 {
		t.Errorf("%s %+v; want sent with nothing walked", got.Status, got.Counts)
	}
}

// TestSendOutlivesTheClient: found by a trial. A client that hung up while the send was being
// recorded got 500 or 503 for sends that were recorded all the same.
func TestSendOutlivesTheClient(t *testing.T) {
	w := open(t, t.TempDir())
	c, err := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello.", Audience: campaign.Audience{Kind: contact.KindContact}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(staff())
	cancel()
	got, err := w.svc.Send(ctx, c.ID)
	if err != nil || got.Status != campaign.StatusSending {
		t.Errorf("send with the client gone: %+v, %v; want recorded and sending", got.Status, err)
	}
}
