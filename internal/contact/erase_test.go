package contact_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
)

// erasures returns the erasure ledger.
func (e *env) erasures(t *testing.T) []ledger.Erasure {
	t.Helper()
	var out []ledger.Erasure
	e.view(t, func(tx store.Tx) error {
		var err error
		out, err = tx.LedgerErasures(context.Background(), time.Time{})
		return err
	})
	return out
}

func hasHash(hs [][]byte, h []byte) bool {
	return slices.ContainsFunc(hs, func(g []byte) bool { return bytes.Equal(g, h) })
}

// TestEraseLeavesOnlyTheSuppressionHash: erasure (GDPR Art. 17; DESIGN §4) deletes the data key,
// the contact and its consent, keeps a suppression hash of the current and every former address
// with reason erased (which replaces an earlier bounce as of the erasure: consent.Replaces),
// appends the id with those hashes to the erasure ledger, tells processors, audits it, runs the
// Erasing hook inside the transaction while the contact is still there and AfterErase after it.
func TestEraseLeavesOnlyTheSuppressionHash(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "old@example.se", FirstName: "Eva"})
	if _, err := e.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.contacts.Update(ctx, c.ID, contact.Patch{Email: ptr("new@example.se")}); err != nil {
		t.Fatal(err)
	}
	_, oldHashes, _ := e.contacts.EmailHashes("old@example.se")
	newIdxs, newHashes, _ := e.contacts.EmailHashes("new@example.se")
	oldHash, newIdx, newHash := oldHashes[0], newIdxs[0], newHashes[0]

	bounced := t0.Add(-time.Hour)
	if err := e.db.Update(ctx, func(tx store.Tx) error {
		return tx.AddSuppression(ctx, consent.Suppression{Hash: newHash, Reason: consent.SuppressionBounced, CreatedAt: bounced, RecordedAt: bounced})
	}); err != nil {
		t.Fatal(err)
	}
	var erasing, after []string
	e.contacts.Erasing = func(ctx context.Context, tx contact.Tx, id string, idx [][]byte) error {
		if _, err := tx.ContactByID(ctx, id); err != nil {
			t.Errorf("Erasing: the contact is gone already: %v", err)
		}
		if len(idx) != 1 || !bytes.Equal(idx[0], newIdx) {
			t.Errorf("Erasing got indexes %x; want the current address's %x", idx, newIdx)
		}
		erasing = append(erasing, id)
		return nil
	}
	e.contacts.AfterErase = func(_ context.Context, id string) error {
		if _, err := e.contacts.Get(staff(), id); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("AfterErase: the contact is still there: %v", err)
		}
		after = append(after, id)
		return nil
	}
	e.now = t0.Add(time.Hour)
	if err := e.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}

	if !slices.Equal(erasing, []string{c.ID}) || !slices.Equal(after, []string{c.ID}) {
		t.Errorf("hooks: Erasing %q, AfterErase %q; want the contact once each", erasing, after)
	}
	if _, err := e.contacts.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Get after erasure: %v; want NotFound", err)
	}
	e.view(t, func(tx store.Tx) error {
		if _, _, err := tx.DataKey(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("data key after erasure: %v; want NotFound", err)
		}
		if evs, _, err := tx.ConsentEvents(ctx, c.ID); err != nil || len(evs) != 0 {
			t.Errorf("consent events after erasure: %d, %v; want none", len(evs), err)
		}
		return nil
	})
	for _, a := range []string{"old@example.se", "new@example.se"} {
		if s, ok := e.suppression(t, a); !ok || s.Reason != consent.SuppressionErased || !s.CreatedAt.Equal(e.now) {
			t.Errorf("suppression of %s: %+v %v; want reason erased at %s", a, s, ok, e.now)
		}
	}
	led := e.erasures(t)
	if len(led) != 1 || led[0].ContactID != c.ID || !led[0].ErasedAt.Equal(e.now) || len(led[0].SuppressionHashes) != 2 ||
		!hasHash(led[0].SuppressionHashes, oldHash) || !hasHash(led[0].SuppressionHashes, newHash) {
		t.Errorf("erasure ledger = %+v; want the id at %s with both addresses' hashes", led, e.now)
	}
	cs := e.changes(t)
	if last := cs[len(cs)-1]; last.ContactID != c.ID || last.Change != "erased" {
		t.Errorf("last change = %+v; want erased", last)
	}
	evs := e.audits(t, c.ID)
	if last := evs[len(evs)-1]; last.Action != "contact.erase" || len(last.Fields) != 0 {
		t.Errorf("last audit event = %+v; want contact.erase naming nothing", last)
	}
	if err := e.contacts.Erase(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("second erasure: %v; want NotFound", err)
	}
}

// TestEraseWithoutAnAddress: a contact with a phone only is erased with nothing to suppress,
// and the ledger still records it (GDPR Art. 17: a restore must not bring it back).
func TestEraseWithoutAnAddress(t *testing.T) {
	e := newEnv(t)
	c, _ := e.contacts.Create(staff(), contact.Input{Phone: "+46701234567"})
	if err := e.contacts.Erase(staff(), c.ID); err != nil {
		t.Fatal(err)
	}
	if led := e.erasures(t); len(led) != 1 || led[0].ContactID != c.ID || len(led[0].SuppressionHashes) != 0 {
		t.Errorf("erasure ledger = %+v; want the id without hashes", led)
	}
	if found, err := e.contacts.FindByPhone(staff(), "+46701234567"); err != nil || len(found) != 0 {
		t.Errorf("FindByPhone after erasure = %+v, %v; want none", found, err)
	}
}

// TestReplayErasure: the ledger replayed on a store restored from a backup (DESIGN §4 "the
// erasure ledger that every restore replays") erases a contact the backup holds at the ledger's
// time and suppresses the ledger's hashes; for a contact it does not hold it puts the hashes
// back and records the id; a second replay changes nothing; a line without hashes for an
// unknown contact is NotFound with the id recorded; a malformed hash is Invalid.
func TestReplayErasure(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	at := t0.Add(-48 * time.Hour)
	held, _ := e.contacts.Create(ctx, contact.Input{Email: "held@example.se"})
	_, extra, _ := e.contacts.EmailHashes("earlier@example.se")
	if ok, err := e.contacts.ReplayErasure(ctx, held.ID, at, extra[:1]); !ok || err != nil {
		t.Fatalf("ReplayErasure of a held contact = %v, %v; want applied", ok, err)
	}
	if _, err := e.contacts.Get(ctx, held.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("the replayed contact is still there: %v", err)
	}
	for _, a := range []string{"held@example.se", "earlier@example.se"} {
		if s, ok := e.suppression(t, a); !ok || s.Reason != consent.SuppressionErased || !s.CreatedAt.Equal(at) {
			t.Errorf("suppression of %s: %+v %v; want erased at the ledger's time %s", a, s, ok, at)
		}
	}
	if ok, err := e.contacts.ReplayErasure(ctx, held.ID, at, extra[:1]); ok || err != nil {
		t.Errorf("second ReplayErasure = %v, %v; want nothing to do", ok, err)
	}

	const absent = "00000000-0000-7000-8000-000000000777"
	_, lost, _ := e.contacts.EmailHashes("lost@example.se")
	if ok, err := e.contacts.ReplayErasure(ctx, absent, at, lost[:1]); !ok || err != nil {
		t.Errorf("ReplayErasure of a contact not held = %v, %v; want the hashes put back", ok, err)
	}
	if s, ok := e.suppression(t, "lost@example.se"); !ok || s.Reason != consent.SuppressionErased {
		t.Errorf("suppression put back: %+v %v", s, ok)
	}
	if evs := e.audits(t, absent); len(evs) != 1 || evs[0].Action != "contact.erase" || !slices.Equal(evs[0].Fields, []string{"erasure_ledger", "suppressions"}) {
		t.Errorf("audit of the replay = %q", actions(evs))
	}

	const old = "00000000-0000-7000-8000-000000000778"
	if ok, err := e.contacts.ReplayErasure(ctx, old, at, nil); ok || !apperr.Is(err, apperr.NotFound) {
		t.Errorf("ReplayErasure of the old form for an unknown contact = %v, %v; want NotFound", ok, err)
	}
	ids := map[string]bool{}
	for _, l := range e.erasures(t) {
		ids[l.ContactID] = true
	}
	if !ids[held.ID] || !ids[absent] || !ids[old] || len(ids) != 3 {
		t.Errorf("erasure ledger ids = %v; want the three replayed", ids)
	}
	if ok, err := e.contacts.ReplayErasure(ctx, absent, at, [][]byte{[]byte("short")}); ok || apperr.As(err) == nil || apperr.As(err).Reason != "invalid_hash" {
		t.Errorf("ReplayErasure of a malformed hash = %v, %v; want Invalid invalid_hash", ok, err)
	}
}
