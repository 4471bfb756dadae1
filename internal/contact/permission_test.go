package contact_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// permService is the contact service on a real SQLite store in a temporary directory.
func permService(t *testing.T) *contact.Service {
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
	return &contact.Service{Store: store.Contacts(db), Keys: kr, Now: func() time.Time { return time.Now().UTC() },
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() }}
}

// permCaller is one caller of the contact service, by the actor its context carries.
type permCaller struct {
	name string
	ctx  context.Context
}

func permCallers() []permCaller {
	tok := func(role string) permCaller {
		return permCaller{role, audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-" + role, Role: role})}
	}
	return []permCaller{tok("admin"), tok("dpo"), tok("agent"), tok("auditor"), tok("processor"),
		{"system", context.Background()},
		{"cli", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "import"})},
		{"public", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "subscribe"})},
	}
}

// permForbidden fails unless err is Forbidden with reason role_forbidden on field, and its message
// is want.
func permForbidden(t *testing.T, what string, err error, field, want string) {
	t.Helper()
	if e := apperr.As(err); e == nil || e.Kind != apperr.Forbidden || e.Reason != "role_forbidden" || e.Field != field || e.Message != want {
		t.Errorf("%s: %v; want Forbidden role_forbidden on %q: %q", what, err, field, want)
	}
}

// TestRecreatingAnErasedAddressNeedsErase: staff use an address erased at its person's request
// again only with recreate_erased, which only an actor that may erase sets (admin, dpo, Tillit
// itself, a local command), on create and on update alike; the refusal comes before the input
// or the contact is looked at. Without the flag the address is a Conflict for everyone.
func TestRecreatingAnErasedAddressNeedsErase(t *testing.T) {
	s := permService(t)
	sys := context.Background()
	gone, err := s.Create(sys, contact.Input{Email: "gone@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(sys, gone.ID); err != nil {
		t.Fatal(err)
	}
	may := []string{"admin", "dpo", "system", "cli"}
	for _, c := range permCallers() {
		_, err := s.CreateByStaff(c.ctx, contact.Input{Email: "gone@example.org"}, false)
		if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Reason != "erased" {
			t.Errorf("%s creating the erased address without the flag: %v; want Conflict erased", c.name, err)
		}
		other, err := s.Create(sys, contact.Input{Email: "other." + c.name + "@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateByStaff(c.ctx, other.ID, contact.Patch{Email: permPtr("gone@example.org")}, false)
		if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Reason != "erased" {
			t.Errorf("%s moving a contact to the erased address without the flag: %v; want Conflict erased", c.name, err)
		}
		want := "recreate_erased: the " + c.name + " role may not use an erased address again (needs contacts.erase)"
		if !slices.Contains(may, c.name) {
			_, err := s.CreateByStaff(c.ctx, contact.Input{Email: "gone@example.org"}, true)
			permForbidden(t, c.name+" creating with recreate_erased", err, "recreate_erased", want)
			_, err = s.CreateByStaff(c.ctx, contact.Input{Email: "not an address"}, true)
			permForbidden(t, c.name+" creating an invalid contact with recreate_erased", err, "recreate_erased", want)
			_, err = s.UpdateByStaff(c.ctx, other.ID, contact.Patch{Email: permPtr("gone@example.org")}, true)
			permForbidden(t, c.name+" updating with recreate_erased", err, "recreate_erased", want)
			_, err = s.UpdateByStaff(c.ctx, "no-such-contact", contact.Patch{Email: permPtr("gone@example.org")}, true)
			permForbidden(t, c.name+" updating an unknown contact with recreate_erased", err, "recreate_erased", want)
			if got, _ := s.Get(sys, other.ID); got.Email != "other."+c.name+"@example.org" || got.Version != 1 {
				t.Errorf("%s: contact after the refusal %q version %d; want unchanged", c.name, got.Email, got.Version)
			}
			continue
		}
		// Allowed: the address moves to this caller's contact, and is freed for the next caller.
		got, err := s.UpdateByStaff(c.ctx, other.ID, contact.Patch{Email: permPtr("gone@example.org")}, true)
		if err != nil || got.Email != "gone@example.org" {
			t.Errorf("%s updating with recreate_erased: %q, %v; want the erased address", c.name, got.Email, err)
		}
		if err := s.Erase(sys, other.ID); err != nil {
			t.Fatal(err)
		}
		created, err := s.CreateByStaff(c.ctx, contact.Input{Email: "gone@example.org"}, true)
		if err != nil || created.Email != "gone@example.org" || created.ID == gone.ID {
			t.Errorf("%s creating with recreate_erased: %+v, %v; want a new contact", c.name, created, err)
		}
		if err := s.Erase(sys, created.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRectifyingARestrictedContactNeedsRestrict: a data subject request corrects a restricted
// contact only for an actor that may restrict (admin, dpo, Tillit itself, a local command),
// checked on the record the correction's transaction reads; a contact that is not restricted is
// corrected for anyone, and a staff update of a restricted one is refused for everyone.
func TestRectifyingARestrictedContactNeedsRestrict(t *testing.T) {
	s := permService(t)
	sys := context.Background()
	may := []string{"admin", "dpo", "system", "cli"}
	for _, c := range permCallers() {
		plain, err := s.Create(sys, contact.Input{Email: "plain." + c.name + "@example.org", LastName: "Lind"})
		if err != nil {
			t.Fatal(err)
		}
		if _, changed, err := s.Rectify(c.ctx, plain.ID, contact.Patch{LastName: permPtr("Berg")}); err != nil || !slices.Equal(changed, []string{"last_name"}) {
			t.Errorf("%s rectifying a contact that is not restricted: %v, %v; want last_name changed", c.name, changed, err)
		}
		held, err := s.Create(sys, contact.Input{Email: "held." + c.name + "@example.org", LastName: "Lind"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetRestricted(sys, held.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(c.ctx, held.ID, contact.Patch{LastName: permPtr("Berg")}); apperr.As(err) == nil || apperr.As(err).Reason != "restricted" {
			t.Errorf("%s updating a restricted contact: %v; want Forbidden restricted", c.name, err)
		}
		_, changed, err := s.Rectify(c.ctx, held.ID, contact.Patch{LastName: permPtr("Berg")})
		if slices.Contains(may, c.name) {
			if err != nil || !slices.Equal(changed, []string{"last_name"}) {
				t.Errorf("%s rectifying a restricted contact: %v, %v; want last_name changed", c.name, changed, err)
			}
			continue
		}
		permForbidden(t, c.name+" rectifying a restricted contact", err, "",
			"the "+c.name+" role may not correct a restricted contact (GDPR Art. 18; needs contacts.restrict)")
		if got, _ := s.Get(sys, held.ID); got.LastName != "Lind" || !got.Restricted {
			t.Errorf("%s: contact after the refusal %q, restricted %v; want Lind, restricted", c.name, got.LastName, got.Restricted)
		}
	}
}

// TestEraseGuarded: the guard runs inside the erasure's transaction on the record found, and its
// error refuses the erasure as it is; an unknown contact is NotFound before the guard.
func TestEraseGuarded(t *testing.T) {
	s := permService(t)
	ctx := context.Background()
	c, err := s.Create(ctx, contact.Input{Email: "guarded@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	stop := &apperr.Error{Kind: apperr.Conflict, Reason: "not_now", Message: "not now"}
	var seen []string
	guard := func(refuse error) contact.Guard {
		return func(ctx context.Context, tx contact.Tx, rec *contact.Record) error {
			seen = append(seen, rec.ID)
			if _, err := tx.ContactByID(ctx, rec.ID); err != nil {
				return err // the guard reads in the erasure's transaction: the contact is there
			}
			return refuse
		}
	}
	if err := s.EraseGuarded(ctx, "no-such-contact", guard(nil)); !apperr.Is(err, apperr.NotFound) || len(seen) != 0 {
		t.Errorf("unknown contact: %v, guard saw %q; want NotFound, guard not run", err, seen)
	}
	if err := s.EraseGuarded(ctx, c.ID, guard(stop)); !errors.Is(err, stop) {
		t.Errorf("refused: %v; want the guard's error", err)
	}
	if got, err := s.Get(ctx, c.ID); err != nil || got.Email != "guarded@example.org" {
		t.Errorf("after the refusal: %+v, %v; want the contact kept", got, err)
	}
	if err := s.EraseGuarded(ctx, c.ID, guard(nil)); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	if _, err := s.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("after the erasure: %v; want NotFound", err)
	}
	if !slices.Equal(seen, []string{c.ID, c.ID}) {
		t.Errorf("guard saw %q; want the contact twice", seen)
	}
	if _, err := s.CreateByStaff(ctx, contact.Input{Email: "guarded@example.org"}, false); apperr.As(err) == nil || apperr.As(err).Reason != "erased" {
		t.Errorf("the address after a guarded erasure: %v; want Conflict erased (erased as Erase does)", err)
	}
}

func permPtr(s string) *string { return &s }
