package consent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// env is the consent service, the policy service and the contact service on a real SQLite store
// under t.TempDir(), with a clock the test moves and ids that sort in creation order. All the
// store wiring of this package's tests is here, so that it can become apptest.New(t) in one place.
type env struct {
	db       store.Store
	keys     *keys.Keyring
	now      time.Time
	consent  *consent.Service
	policies *consent.Policies
	contacts *contact.Service
}

// start is the clock every env starts at.
var start = time.Date(2027, 5, 3, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, keys: kr, now: start}
	clock := func() time.Time { return e.now }
	n := 0
	id := func() string { n++; return fmt.Sprintf("00000000-0000-7000-8000-%012d", n) }
	e.consent = &consent.Service{Store: store.Consent(db), Keys: kr, Now: clock, NewID: id}
	e.policies = &consent.Policies{Store: store.Policies(db), Now: clock, NewID: id}
	e.contacts = &contact.Service{Store: store.Contacts(db), Keys: kr, Now: clock, NewID: id}
	if err := e.consent.EnsureDefaultPurpose(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// The actors of the tests: two staff members' API tokens, and the person on a public page.
var (
	staffA = audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tokA", Role: "agent"})
	staffB = audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tokB", Role: "dpo"})
	person = audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "subscribe"})
)

// contact creates a contact with the address and returns its id.
func (e *env) contact(t *testing.T, email string) string {
	t.Helper()
	c, err := e.contacts.Create(staffA, contact.Input{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// record records an event (method web-form unless set, by the person unless ctx says otherwise)
// and fails the test on an error.
func (e *env) record(t *testing.T, ctx context.Context, ev consent.Event) consent.Event {
	t.Helper()
	if ev.Method == "" {
		ev.Method = consent.MethodWebForm
	}
	out, err := e.consent.Record(ctx, ev)
	if err != nil {
		t.Fatalf("Record(%s %s): %v", ev.Purpose, ev.State, err)
	}
	return out
}

// purpose creates a purpose and fails the test on an error.
func (e *env) purpose(t *testing.T, p consent.Purpose) consent.Purpose {
	t.Helper()
	out, err := e.consent.CreatePurpose(staffA, p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// update runs fn in one read-write transaction over the whole store.
func (e *env) update(t *testing.T, fn func(tx store.Tx) error) {
	t.Helper()
	if err := e.db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// changes returns the stream of consent changes after seq, oldest first.
func (e *env) changes(t *testing.T, after int64) []consent.Change {
	t.Helper()
	var out []consent.Change
	if err := e.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.ConsentChanges(context.Background(), after, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// lastSeq is the sequence number of the newest change (0 when none).
func (e *env) lastSeq(t *testing.T) int64 {
	t.Helper()
	cs := e.changes(t, 0)
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].Seq
}

// audits returns the audit events about object kind/id, oldest first.
func (e *env) audits(t *testing.T, kind, id string) []audit.Event {
	t.Helper()
	evs, err := e.db.AuditEvents(context.Background(), store.AuditFilter{ObjectKind: kind, ObjectID: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// check is the gate's decision, failing the test on an error.
func (e *env) check(t *testing.T, contactID, purpose string) consent.Decision {
	t.Helper()
	d, err := e.consent.Check(context.Background(), contactID, purpose)
	if err != nil {
		t.Fatalf("Check(%s): %v", purpose, err)
	}
	return d
}
