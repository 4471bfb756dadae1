package ledger_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// world is one data directory with the whole app (apptest) on it; the replay uses its services.
type world struct {
	a        *app.App
	db       store.Store
	contacts *contact.Service
	consent  *consent.Service
	store    store.Scoped[ledger.Tx]
	replayer *ledger.Replayer
}

// openWorld opens the app on dir: new keys and store when dir is empty, else the ones there.
func openWorld(t *testing.T, dir string) *world {
	t.Helper()
	a := apptest.New(t, func(c *app.Config) { c.Settings.DataDir = dir })
	return &world{a: a, db: a.Store, contacts: a.Contacts, consent: a.Consent, store: store.Ledger(a.Store), replayer: a.Ledger}
}

// copyFiles copies the files of the data directory src into dst (a backup), and src's store into
// dst's where it is not files (testdb.CopyStore).
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	testdb.CopyStore(t, src, dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestReplayReappliesEveryChoice: choices made after a backup, exported and replayed on the
// backup, hold there as they did; a second replay changes nothing; the restored store exports
// the same ledger (less what it cannot hold).
func TestReplayReappliesEveryChoice(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
	dir := t.TempDir()
	w := openWorld(t, dir)
	mk := func(email string) string {
		c := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: email}))
		must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}))
		return c.ID
	}
	withdrew, refused, objected, restricted, erased, kept := mk("w@example.org"), mk("r@example.org"), mk("o@example.org"), mk("x@example.org"), mk("e@example.org"), mk("k@example.org")
	w.a.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyFiles(t, dir, backup)

	w = openWorld(t, dir)
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: withdrew, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick,
		Evidence: consent.Evidence{IP: "198.51.100.7", UserAgent: "Mail/1.0"}}))
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: refused, Purpose: "newsletter", State: consent.Refused, Method: consent.MethodAPI}))
	must[consent.Purpose](t)(w.consent.CreatePurpose(ctx, consent.Purpose{ID: "partners", Name: "Partners", LawfulBasis: consent.BasisLegitimateInterest}))
	must[consent.Objection](t)(w.consent.Object(ctx, objected, "partners", consent.MethodAPI)) // a purpose the backup lacks
	must[contact.Contact](t)(w.contacts.SetRestricted(ctx, restricted, true))
	if err := w.contacts.Erase(ctx, erased); err != nil {
		t.Fatal(err)
	}
	late := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "late@example.org"}))
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: late.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodAPI}))
	if err := w.contacts.Erase(ctx, late.ID); err != nil { // never in the backup
		t.Fatal(err)
	}
	gone := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "gone@example.org"}))
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: gone.ID, Purpose: "newsletter", State: consent.Refused, Method: consent.MethodAPI}))
	exported := must[[]ledger.Entry](t)(ledger.Export(ctx, w.store, time.Time{}))
	lateHash := must[[]byte](t)(suppressionHash(w, "late@example.org"))
	w.a.Close()

	r := openWorld(t, backup)
	defer r.db.Close()
	res := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	// late's erasure and suppression, e's erasure and suppression; gone, whom the backup lacks,
	// left the newsletter's list by address (the hash its refusal line carries).
	want := map[string]ledger.Counts{
		"erasure": {Applied: 2}, "suppression": {AlreadyPresent: 2}, "withdrawal": {Applied: 1},
		"refusal": {Applied: 2}, "objection": {Applied: 1}, "restriction": {Applied: 1},
	}
	for typ, c := range want {
		if *res.Types[typ] != c {
			t.Errorf("replay %s: %+v; want %+v", typ, *res.Types[typ], c)
		}
	}
	check := func(id string, reason consent.Reason) {
		t.Helper()
		d, err := r.consent.Check(ctx, id, "newsletter")
		if err != nil || d.Reason != reason {
			t.Errorf("gate for %s: %+v %v; want %s", id, d, err, reason)
		}
	}
	check(withdrew, consent.ReasonWithdrawn)
	check(refused, consent.ReasonRefused)
	check(restricted, consent.ReasonRestricted)
	check(kept, consent.ReasonConsentGiven)
	if d, err := r.consent.Check(ctx, objected, "partners"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("gate for the purpose the backup lacks: %+v %v; want Invalid unknown purpose", d, err)
	}
	if _, err := r.contacts.Get(ctx, erased); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("erased contact after the replay: %v; want NotFound", err)
	}
	err := r.db.View(ctx, func(tx store.Tx) error {
		reason, err := tx.SuppressionReason(ctx, lateHash)
		if err != nil || reason != consent.SuppressionErased {
			t.Errorf("suppression of the address erased after the backup: %q %v; want erased", reason, err)
		}
		objs, err := tx.Objections(ctx, objected)
		if err != nil || len(objs) != 1 || objs[0].Scope != "partners" || objs[0].Method != consent.MethodAPI {
			t.Errorf("objections after the replay: %+v %v; want the one to partners, as recorded", objs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ledgerEvents := must[consent.Ledger](t)(r.consent.History(ctx, withdrew))
	if n := len(ledgerEvents.Events); n != 2 || ledgerEvents.Events[1].Evidence.IP != "198.51.100.7" {
		t.Errorf("events after the replay: %+v; want the withdrawal with its evidence readable", ledgerEvents.Events)
	}

	again := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	for typ, c := range again.Types {
		if c.Applied != 0 {
			t.Errorf("second replay applied %d %s lines; want none", c.Applied, typ)
		}
	}
	got := must[[]ledger.Entry](t)(ledger.Export(ctx, r.store, time.Time{}))
	var held []ledger.Entry
	for _, e := range exported {
		if e.ContactID != gone.ID {
			held = append(held, e)
			continue
		}
		if e.Hash == "" {
			t.Errorf("gone's %s line carries no hash", e.Type)
		}
		held = append(held, ledger.Entry{Type: ledger.TypeListUnsubscribe, Hash: e.Hash, Purpose: e.Purpose, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt})
	}
	var a, b bytes.Buffer
	ledger.Write(&a, held)
	ledger.Write(&b, got)
	if a.String() != b.String() {
		t.Errorf("export of the restored store:\n%s\nwant the replayed ledger less what it cannot hold:\n%s", b.String(), a.String())
	}
	events := must[[]audit.Event](t)(r.db.AuditEvents(ctx, store.AuditFilter{ObjectKind: "ledger", Limit: 10}))
	if len(events) != 2 || events[0].Action != "ledger.replay" || len(events[0].Fields) != 5 || len(events[1].Fields) != 0 {
		t.Errorf("replay audit events %+v; want two ledger.replay, the first naming the five types it applied", events)
	}
}

func suppressionHash(w *world, email string) ([]byte, error) {
	_, h, err := w.contacts.EmailHashes(email)
	if err != nil {
		return nil, err
	}
	return h[0], nil
}

// TestReplayEventKeepsALaterConsent: a withdrawal that happened before the consent on record
// (an imported UNSUB_TIME older than a new sign-up) is appended but does not become current;
// evidence the store cannot open is replaced by a note, so the record stays readable.
func TestReplayEventKeepsALaterConsent(t *testing.T) {
	ctx := context.Background()
	w := openWorld(t, t.TempDir())
	c := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "back@example.org"}))
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}))
	old := time.Now().UTC().Add(-48 * time.Hour)
	e := consent.Event{ID: "ev-old", ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodImport,
		OccurredAt: old, RecordedAt: old, Actor: "cli:import"}
	if applied, err := w.consent.ReplayEvent(ctx, e, []byte("sealed under another key")); !applied || err != nil {
		t.Fatalf("ReplayEvent = %v, %v; want applied", applied, err)
	}
	if d := must[consent.Decision](t)(w.consent.Check(ctx, c.ID, "newsletter")); d.Reason != consent.ReasonConsentGiven {
		t.Errorf("gate after an older withdrawal: %+v; want consent_given (the later consent stays current)", d)
	}
	h := must[consent.Ledger](t)(w.consent.History(ctx, c.ID))
	if len(h.Events) != 2 || h.Events[1].ID != "ev-old" || h.Events[1].Evidence.Note == "" || h.Events[1].Evidence.IP != "" {
		t.Errorf("history %+v; want the replayed event with a note in place of the unreadable evidence", h.Events)
	}
	if applied, err := w.consent.ReplayEvent(ctx, e, nil); applied || err != nil {
		t.Errorf("ReplayEvent again = %v, %v; want false, nil", applied, err)
	}
	if _, err := w.consent.ReplayEvent(ctx, consent.Event{ID: "x", ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodAPI}, nil); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("ReplayEvent of a given consent: %v; want Invalid (the ledger carries withdrawals and refusals)", err)
	}
	if _, err := w.consent.ReplayEvent(ctx, consent.Event{ID: "y", ContactID: "nobody", Purpose: "newsletter", State: consent.Refused, Method: consent.MethodAPI, OccurredAt: old, RecordedAt: old}, nil); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("ReplayEvent for a contact not held: %v; want NotFound", err)
	}
}

// TestReplayListUnsubscribe: an address that left one purpose's list after the backup (an
// imported unsubscribed row, its UNSUB_TIME long before the backup) is exported by when it was
// recorded and replayed on the backup, where no import subscribes it again and the gate reads
// it as that purpose's withdrawal; a contact the backup holds with the address gets a
// "withdrawn" change; a purpose the backup lacks counts as not present; a second replay changes
// nothing; the restored store exports the same lines.
func TestReplayListUnsubscribe(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
	dir := t.TempDir()
	w := openWorld(t, dir)
	must[consent.Purpose](t)(w.consent.CreatePurpose(ctx, consent.Purpose{ID: "offers", Name: "Offers", LawfulBasis: consent.BasisConsent}))
	held := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "held@example.org"}))
	must[consent.Event](t)(w.consent.Record(ctx, consent.Event{ContactID: held.ID, Purpose: "offers", State: consent.Given, Method: consent.MethodWebForm,
		OccurredAt: time.Now().UTC().Add(-72 * time.Hour)}))
	w.a.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyFiles(t, dir, backup)
	backupAt := time.Now().UTC()

	w = openWorld(t, dir)
	must[consent.Purpose](t)(w.consent.CreatePurpose(ctx, consent.Purpose{ID: "later", Name: "Later", LawfulBasis: consent.BasisConsent}))
	hash := func(email string) []byte { return must[[]byte](t)(suppressionHash(w, email)) }
	now := time.Now().UTC()
	us := []consent.PurposeUnsubscribe{
		{Hash: hash("nobody@example.org"), Purpose: "offers", At: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), RecordedAt: now},
		{Hash: hash("held@example.org"), Purpose: "offers", At: now.Add(-time.Hour), RecordedAt: now},
		{Hash: hash("nobody@example.org"), Purpose: "later", At: now.Add(-time.Hour), RecordedAt: now},
	}
	if err := w.db.Update(ctx, func(tx store.Tx) error { return tx.AddPurposeUnsubscribes(ctx, us) }); err != nil {
		t.Fatal(err)
	}
	exported := must[[]ledger.Entry](t)(ledger.Export(ctx, w.store, backupAt))
	w.a.Close()
	if len(exported) != 3 {
		t.Fatalf("export since the backup: %+v; want the three list unsubscribes (recorded after it)", exported)
	}
	for _, e := range exported {
		if e.Type != ledger.TypeListUnsubscribe || !e.RecordedAt.Equal(now) {
			t.Errorf("exported %+v; want list_unsubscribe lines recorded at %v", e, now)
		}
	}

	r := openWorld(t, backup)
	defer r.db.Close()
	res := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	if c := *res.Types[ledger.TypeListUnsubscribe]; c != (ledger.Counts{Applied: 2, NotPresent: 1}) {
		t.Errorf("replay: %+v; want 2 applied, the purpose the backup lacks not present", c)
	}
	idx, sup := must2(t)(r.contacts.EmailHashes("nobody@example.org"))
	if d := must[consent.Decision](t)(r.consent.CheckEmailIndex(ctx, idx, sup, "offers")); d.Allowed || d.Reason != consent.ReasonWithdrawn {
		t.Errorf("gate for the address without a contact: %+v; want withdrawn", d)
	}
	if d := must[consent.Decision](t)(r.consent.Check(ctx, held.ID, "offers")); d.Allowed || d.Reason != consent.ReasonWithdrawn {
		t.Errorf("gate for the contact the backup holds: %+v; want withdrawn (the unsubscribe is later than its consent)", d)
	}
	err := r.db.View(ctx, func(tx store.Tx) error {
		cs, err := tx.ConsentChanges(ctx, 0, 100)
		var withdrawn []consent.Change
		for _, c := range cs {
			if c.Change == "withdrawn" {
				withdrawn = append(withdrawn, c)
			}
		}
		if err != nil || len(withdrawn) != 1 || withdrawn[0].ContactID != held.ID || withdrawn[0].Purpose != "offers" || !withdrawn[0].OccurredAt.Equal(us[1].At) {
			t.Errorf("withdrawn changes after the replay: %+v %v; want one for the contact and offers at the unsubscribe's time", withdrawn, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	again := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	if c := *again.Types[ledger.TypeListUnsubscribe]; c != (ledger.Counts{AlreadyPresent: 2, NotPresent: 1}) {
		t.Errorf("second replay: %+v; want 2 already present", c)
	}
	var heldLines []ledger.Entry
	for _, e := range exported {
		if e.Purpose != "later" {
			heldLines = append(heldLines, e)
		}
	}
	var a, b bytes.Buffer
	ledger.Write(&a, heldLines)
	ledger.Write(&b, must[[]ledger.Entry](t)(ledger.Export(ctx, r.store, backupAt)))
	if a.String() != b.String() {
		t.Errorf("export of the restored store:\n%s\nwant the lines it holds:\n%s", b.String(), a.String())
	}
}

func must2(t *testing.T) func(a, b [][]byte, err error) ([][]byte, [][]byte) {
	return func(a, b [][]byte, err error) ([][]byte, [][]byte) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// TestReplayErasureWinsOverAnEarlierSuppression: erasing a person whose address bounced before
// makes its entry reason erased at the erasure's time (so staff re-creating it are told it was
// erased), live and on replay: an erasure line, or an erased suppression line on its own, whose
// hash the backup holds as bounced makes it erased; a bounced line never undoes an erasure.
func TestReplayErasureWinsOverAnEarlierSuppression(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
	dir := t.TempDir()
	w := openWorld(t, dir)
	bounced := time.Now().UTC().Add(-48 * time.Hour)
	held := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "held@example.org"}))
	heldHash, laterHash := must[[]byte](t)(suppressionHash(w, "held@example.org")), must[[]byte](t)(suppressionHash(w, "later@example.org"))
	err := w.db.Update(ctx, func(tx store.Tx) error {
		return tx.AddSuppressions(ctx, []consent.Suppression{{Hash: heldHash, Reason: consent.SuppressionBounced, CreatedAt: bounced},
			{Hash: laterHash, Reason: consent.SuppressionBounced, CreatedAt: bounced}})
	})
	if err != nil {
		t.Fatal(err)
	}
	w.a.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyFiles(t, dir, backup)
	copyFiles(t, dir, backup+"-2")
	backupAt := time.Now().UTC()

	w = openWorld(t, dir)
	later := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "later@example.org"}))
	for _, id := range []string{held.ID, later.ID} {
		if err := w.contacts.Erase(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	reasons := func(db store.Store) (out [2]consent.Suppression) {
		t.Helper()
		err := db.View(ctx, func(tx store.Tx) error {
			for i, h := range [][]byte{heldHash, laterHash} {
				var err error
				if out[i], err = tx.Suppression(ctx, h); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	live := reasons(w.db)
	for i, s := range live {
		if s.Reason != consent.SuppressionErased || !s.CreatedAt.After(backupAt) {
			t.Errorf("live entry %d after the erasure: %s at %v; want erased at the erasure's time", i, s.Reason, s.CreatedAt)
		}
	}
	exported := must[[]ledger.Entry](t)(ledger.Export(ctx, w.store, backupAt))
	w.a.Close()

	r := openWorld(t, backup)
	defer r.db.Close()
	res := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	if *res.Types["erasure"] != (ledger.Counts{Applied: 2}) || *res.Types["suppression"] != (ledger.Counts{AlreadyPresent: 2}) {
		t.Errorf("replay: erasure %+v, suppression %+v; want both erasures applied, their entries already erased by them", *res.Types["erasure"], *res.Types["suppression"])
	}
	if got := reasons(r.db); !got[0].CreatedAt.Equal(live[0].CreatedAt) || got[0].Reason != consent.SuppressionErased || !got[1].CreatedAt.Equal(live[1].CreatedAt) || got[1].Reason != consent.SuppressionErased {
		t.Errorf("restored entries: %+v; want them as live: %+v", got, live)
	}
	var a, b bytes.Buffer
	ledger.Write(&a, exported)
	ledger.Write(&b, must[[]ledger.Entry](t)(ledger.Export(ctx, r.store, backupAt)))
	if a.String() != b.String() {
		t.Errorf("export of the restored store:\n%s\nwant the replayed ledger:\n%s", b.String(), a.String())
	}

	// The suppression lines alone (a ledger of suppressions only), then a bounced line after them.
	r2 := openWorld(t, backup+"-2")
	defer r2.db.Close()
	var sups []ledger.Entry
	for _, e := range exported {
		if e.Type == ledger.TypeSuppression {
			sups = append(sups, e)
		}
	}
	bounce := ledger.Entry{Type: ledger.TypeSuppression, Hash: sups[0].Hash, Reason: consent.SuppressionBounced, CreatedAt: time.Now().UTC()}
	res = must[ledger.Result](t)(r2.replayer.Replay(ctx, append(sups, bounce)))
	if *res.Types["suppression"] != (ledger.Counts{Applied: 2, AlreadyPresent: 1}) {
		t.Errorf("replay of the suppression lines: %+v; want the two erased entries applied over the bounced ones, the bounce already present", *res.Types["suppression"])
	}
	if got := reasons(r2.db); got[0].Reason != consent.SuppressionErased || got[1].Reason != consent.SuppressionErased {
		t.Errorf("entries after the suppression lines: %+v; want erased", got)
	}
}

// TestReplayClosesARequestAtItsOwnTime: the backup holds a verified erasure request open; after
// it, staff completed the request, which erased the person. The ledger's erasure line came before
// its request line, so the replayed erasure closed the held request at the replay's time (the
// record said the person was answered weeks late, on restore day), and the request line then
// found it closed. Request lines now replay first: the request closes at the ledger's time.
func TestReplayClosesARequestAtItsOwnTime(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
	dir := t.TempDir()
	w := openWorld(t, dir)
	c := must[contact.Contact](t)(w.contacts.Create(ctx, contact.Input{Email: "answered@example.org"}))
	req := must[dsr.View](t)(w.a.Requests.Create(ctx, dsr.Input{Type: dsr.TypeErasure, Channel: dsr.ChannelLetter, Email: "answered@example.org"}))
	must[dsr.View](t)(w.a.Requests.Verify(ctx, req.ID, c.ID, "identity checked by letter"))
	w.a.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyFiles(t, dir, backup)

	w = openWorld(t, dir)
	done := must[dsr.View](t)(w.a.Requests.Complete(ctx, req.ID, dsr.Completion{}))
	exported := must[[]ledger.Entry](t)(ledger.Export(ctx, w.store, time.Time{}))
	w.a.Close()
	if done.CompletedAt == nil {
		t.Fatalf("completed request without a time: %+v", done)
	}

	r := openWorld(t, backup)
	defer r.db.Close()
	res := must[ledger.Result](t)(r.replayer.Replay(ctx, exported))
	if c := *res.Types["request"]; c.Applied != 1 {
		t.Errorf("replay request lines: %+v; want the held open request closed by its line", c)
	}
	got := must[dsr.View](t)(r.a.Requests.Get(ctx, req.ID))
	if got.State != dsr.StateCompleted || got.CompletedAt == nil || !got.CompletedAt.Equal(*done.CompletedAt) {
		t.Errorf("request after the replay: %s at %v; want completed at %v, as before the restore", got.State, got.CompletedAt, *done.CompletedAt)
	}
	if _, err := r.contacts.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("contact after the replay: %v; want erased", err)
	}
}
