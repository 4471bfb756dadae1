package contact_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// env is the contact service on a real SQLite store under t.TempDir(), with a clock the test
// moves and ids that sort in creation order. All the store wiring of this package's tests is
// here, so that it can become apptest.New(t) in one place.
type env struct {
	db       store.Store
	keys     *keys.Keyring
	now      time.Time
	contacts *contact.Service
	consent  *consent.Service
	dir      string // the keys' directory
}

// t0 is the clock every env starts at.
var t0 = time.Date(2027, 3, 15, 10, 0, 0, 0, time.UTC)

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
	e := &env{db: db, keys: kr, now: t0, dir: dir}
	now := func() time.Time { return e.now }
	n := 0
	id := func() string { n++; return fmt.Sprintf("00000000-0000-7000-8000-%012d", n) }
	e.contacts = &contact.Service{Store: store.Contacts(db), Keys: kr, Now: now, NewID: id, DefaultRegion: "SE"}
	e.consent = &consent.Service{Store: store.Consent(db), Keys: kr, Now: now, NewID: id}
	if err := e.consent.EnsureDefaultPurpose(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// staff is the context of a support agent's API token.
func staff() context.Context { return staffAs("agent") }

// staffAs is the context of an API token with role (a DPO may re-create an erased address and
// correct a restricted contact; an agent may not).
func staffAs(role string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-" + role, Role: role})
}

// view runs fn in a read-only transaction over the whole store.
func (e *env) view(t *testing.T, fn func(tx store.Tx) error) {
	t.Helper()
	if err := e.db.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// audits returns the audit events about contact id, oldest first.
func (e *env) audits(t *testing.T, id string) []audit.Event {
	t.Helper()
	evs, err := e.db.AuditEvents(context.Background(), store.AuditFilter{ObjectKind: "contact", ObjectID: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// changes returns the stream of consent changes processors are told about, oldest first.
func (e *env) changes(t *testing.T) []consent.Change {
	t.Helper()
	var out []consent.Change
	e.view(t, func(tx store.Tx) error {
		var err error
		out, err = tx.ConsentChanges(context.Background(), 0, 1000)
		return err
	})
	return out
}

// record returns the contact as stored (sealed).
func (e *env) record(t *testing.T, id string) *contact.Record {
	t.Helper()
	var rec *contact.Record
	e.view(t, func(tx store.Tx) error {
		var err error
		rec, err = tx.ContactByID(context.Background(), id)
		return err
	})
	return rec
}

// suppression returns the suppression entry of address (ok false when there is none).
func (e *env) suppression(t *testing.T, address string) (consent.Suppression, bool) {
	t.Helper()
	_, h, err := e.contacts.EmailHashes(address)
	if err != nil {
		t.Fatal(err)
	}
	var s consent.Suppression
	ok := true
	e.view(t, func(tx store.Tx) error {
		var err error
		if s, err = tx.Suppression(context.Background(), h...); apperr.Is(err, apperr.NotFound) {
			ok = false
			return nil
		}
		return err
	})
	return s, ok
}
