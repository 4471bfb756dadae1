package contact_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/store"
)

// actions returns the action and field names of the audit events, one "action:f1,f2" each.
func actions(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action + ":" + strings.Join(e.Fields, ",")
	}
	return out
}

// TestCreateSealsAndAudits: a created contact is stored sealed under its own data key with blind
// indexes of its normalized address and phone (DESIGN §4), its creation is audited by field name
// and actor, and a read returns what was given, normalized, with its own audit event (doc.go:
// every decrypting read is audited in the same transaction).
func TestCreateSealsAndAudits(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, err := e.contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: " Lena.Holm@Example.SE ", FirstName: "Lena", Phone: "070-123 45 67", Notes: "met at the fair", Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != contact.KindLead || c.Email != "lena.holm@example.se" || c.Phone != "+46701234567" || c.Version != 1 || !c.CreatedAt.Equal(t0) || c.Restricted {
		t.Errorf("created %+v; want a lead at version 1, normalized, created at %s", c, t0)
	}

	rec := e.record(t, c.ID)
	for col, ct := range rec.Sealed {
		for _, plain := range []string{"lena", "Lena", "+4670", "fair"} {
			if bytes.Contains(ct, []byte(plain)) {
				t.Errorf("sealed column %s holds %q in plain text", col, plain)
			}
		}
	}
	idxAll, supAll, err := e.contacts.EmailHashes("LENA.HOLM@example.se")
	if err != nil {
		t.Fatal(err)
	}
	idx, sup := idxAll[0], supAll[0]
	if !bytes.Equal(rec.EmailIndex, idx) || !bytes.Equal(rec.SuppressionHash, sup) || bytes.Equal(idx, sup) || rec.PhoneIndex == nil {
		t.Errorf("stored indexes: email %x suppression %x phone %x; want the blind index %x and the suppression hash %x (different keys) of the normalized address, and a phone index",
			rec.EmailIndex, rec.SuppressionHash, rec.PhoneIndex, idx, sup)
	}
	if only, err := e.contacts.EmailIndex("lena.holm@EXAMPLE.se"); err != nil || len(only) != 1 || !bytes.Equal(only[0], idx) {
		t.Errorf("EmailIndex = %x, %v; want %x", only, err, idx)
	}
	if _, _, err := e.contacts.EmailHashes("no address"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("EmailHashes of a non-address: %v; want Invalid", err)
	}
	if _, err := e.contacts.EmailIndex("no address"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("EmailIndex of a non-address: %v; want Invalid", err)
	}

	got, err := e.contacts.Get(ctx, c.ID)
	if err != nil || got.Email != c.Email || got.FirstName != "Lena" || got.Notes != "met at the fair" || got.Source != "api" {
		t.Errorf("Get = %+v, %v; want what was created", got, err)
	}
	evs := e.audits(t, c.ID)
	want := []string{"contact.create:email,first_name,phone,notes", "contact.read:email,first_name,phone,notes"}
	if !slices.Equal(actions(evs), want) {
		t.Errorf("audit = %q; want %q", actions(evs), want)
	}
	if a := evs[0].Actor; a.Kind != audit.ActorToken || a.ID != "tok-agent" {
		t.Errorf("audit actor %+v; want the token", a)
	}
	if _, err := e.contacts.Get(ctx, "00000000-0000-7000-8000-999999999999"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Get of an unknown id: %v; want NotFound", err)
	}
}

// TestOnePersonOneContact: a second contact with the same normalized address, however written,
// is a Conflict carrying the existing contact's id (DESIGN §2 "one person is one contact"; §5
// "409 with the existing id"), and the refused create leaves nothing behind.
func TestOnePersonOneContact(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	first, err := e.contacts.Create(ctx, contact.Input{Email: "ann@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.contacts.Create(ctx, contact.Input{Email: "\u200bANN@Example.ORG ", FirstName: "Ann"})
	if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Reason != "duplicate_email" || ae.ID != first.ID {
		t.Fatalf("second create: %v; want Conflict duplicate_email with id %s", err, first.ID)
	}
	list, _, err := e.contacts.List(ctx, "", "", 0)
	if err != nil || len(list) != 1 {
		t.Errorf("List after the refused create: %d contacts, %v; want 1", len(list), err)
	}
	if _, err := e.contacts.Create(ctx, contact.Input{Email: "ann+news@example.org"}); err != nil {
		t.Errorf("a +tag sub-address is another address (normalize.Email): %v", err)
	}
}

// TestFindByEmailAndPhone: lookups go through the normalization every path shares (DESIGN §4),
// so an address or number written another way finds the person; a phone may belong to a
// household, so it finds every contact that has it. Each found contact is an audited read.
func TestFindByEmailAndPhone(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	a, _ := e.contacts.Create(ctx, contact.Input{Email: "per@example.se", Phone: "+46 8 123 456 78"})
	b, _ := e.contacts.Create(ctx, contact.Input{Email: "pia@example.se", Phone: "08-12345678"})
	got, err := e.contacts.FindByEmail(ctx, " PER@example.SE")
	if err != nil || got.ID != a.ID {
		t.Errorf("FindByEmail = %s, %v; want %s", got.ID, err, a.ID)
	}
	if _, err := e.contacts.FindByEmail(ctx, "nobody@example.se"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("FindByEmail of an unknown address: %v; want NotFound", err)
	}
	if _, err := e.contacts.FindByEmail(ctx, "not an address"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("FindByEmail of a non-address: %v; want Invalid", err)
	}
	home, err := e.contacts.FindByPhone(ctx, "(08) 123 456 78")
	if err != nil || len(home) != 2 || home[0].ID != a.ID || home[1].ID != b.ID {
		t.Errorf("FindByPhone = %+v, %v; want both contacts of the number", home, err)
	}
	if none, err := e.contacts.FindByPhone(ctx, "+46 31 000 00 00"); err != nil || len(none) != 0 {
		t.Errorf("FindByPhone of an unknown number = %+v, %v; want none", none, err)
	}
	if _, err := e.contacts.FindByPhone(ctx, "call me"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("FindByPhone of a non-number: %v; want Invalid", err)
	}
	reads := 0
	for _, id := range []string{a.ID, b.ID} {
		for _, ev := range e.audits(t, id) {
			if ev.Action == "contact.read" {
				reads++
			}
		}
	}
	if reads != 3 {
		t.Errorf("%d audited reads; want 3 (one by e-mail, two by phone)", reads)
	}
}

// TestListPagesByKind: a page holds up to limit contacts in id order with the cursor of the
// next page, "" at the end; kind filters; a limit outside 1–500 or an unknown kind is Invalid
// naming the field (DESIGN §5 list contract).
func TestListPagesByKind(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	var ids []string
	for i, k := range []contact.Kind{contact.KindLead, contact.KindContact, contact.KindLead, contact.KindContact, contact.KindLead} {
		c, err := e.contacts.Create(ctx, contact.Input{Kind: k, Email: string(rune('a'+i)) + "@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	var seen []string
	cursor, pages := "", 0
	for {
		page, next, err := e.contacts.List(ctx, "", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page {
			seen = append(seen, c.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || !slices.Equal(seen, ids) {
		t.Errorf("%d pages, %q; want 3 pages of all five in id order", pages, seen)
	}
	leads, next, err := e.contacts.List(ctx, contact.KindLead, "", 10)
	if err != nil || next != "" || len(leads) != 3 || leads[0].ID != ids[0] || leads[1].ID != ids[2] || leads[2].ID != ids[4] {
		t.Errorf("leads = %+v, %q, %v; want the three leads, no next page", leads, next, err)
	}
	for _, tc := range []struct {
		kind  contact.Kind
		limit int
		field string
	}{{"", 501, "limit"}, {"", -1, "limit"}, {"customer", 10, "kind"}} {
		if _, _, err := e.contacts.List(ctx, tc.kind, "", tc.limit); apperr.As(err) == nil || apperr.As(err).Field != tc.field {
			t.Errorf("List(%q, %d): %v; want Invalid on %s", tc.kind, tc.limit, err, tc.field)
		}
	}
}

// TestCreateByStaffRefusesAnErasedAddress: staff re-creating an address erased at its person's
// request is a Conflict with reason erased (GDPR Art. 17), unless they say the person asked
// again; even then the address stays suppressed (reason erased) until that person's own double
// opt-in (DESIGN §2). An address merely held by another contact answers duplicate_email.
func TestCreateByStaffRefusesAnErasedAddress(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "gone@example.org"})
	if err := e.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.contacts.CreateByStaff(ctx, contact.Input{Email: "Gone@example.org"}, false)
	if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Reason != "erased" || ae.Field != "email" || strings.Contains(ae.Message, "gone@") {
		t.Fatalf("CreateByStaff of an erased address: %v; want Conflict erased on email, without the address", err)
	}
	again, err := e.contacts.CreateByStaff(staffAs("dpo"), contact.Input{Email: "gone@example.org"}, true)
	if err != nil || again.ID == c.ID {
		t.Fatalf("CreateByStaff with recreate_erased: %+v, %v; want a new contact", again, err)
	}
	if s, ok := e.suppression(t, "gone@example.org"); !ok || s.Reason != "erased" {
		t.Errorf("suppression after re-creating: %+v %v; want reason erased kept", s, ok)
	}
	_, err = e.contacts.CreateByStaff(ctx, contact.Input{Email: "gone@example.org"}, false)
	if ae := apperr.As(err); ae == nil || ae.Reason != "duplicate_email" || ae.ID != again.ID {
		t.Errorf("CreateByStaff of an address a contact holds: %v; want duplicate_email with %s", err, again.ID)
	}
	if _, err := e.contacts.CreateByStaff(ctx, contact.Input{Phone: "+46701234567"}, false); err != nil {
		t.Errorf("CreateByStaff without an address: %v", err)
	}
	if _, err := e.contacts.CreateByStaff(ctx, contact.Input{}, false); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("CreateByStaff of nothing: %v; want Invalid", err)
	}
}

// TestPrepareTouchesNoStore: Prepare validates, assigns an id and times and seals under a new
// key without a store (the importer inserts prepared rows in bulk); its audit event names the
// fields it holds, and CreateIn inserts it inside the caller's transaction.
func TestPrepareTouchesNoStore(t *testing.T) {
	e := newEnv(t)
	p, err := e.contacts.Prepare(contact.Input{Email: "bulk@example.org", LastName: "Bulk"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Contact.ID == "" || p.Record.ID != p.Contact.ID || p.Key == nil || len(p.WrappedKey) == 0 || p.Record.KeyVersion != 1 || p.Record.Sealed["last_name"] == nil {
		t.Errorf("Prepared = %+v; want an id, a key and sealed fields", p)
	}
	ev := p.AuditEvent(staff())
	if ev.Action != "contact.create" || ev.ObjectID != p.Contact.ID || !slices.Equal(ev.Fields, []string{"email", "last_name"}) {
		t.Errorf("AuditEvent = %+v", ev)
	}
	if _, err := e.contacts.Prepare(contact.Input{Email: "x"}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Prepare of a bad address: %v; want Invalid", err)
	}
	var c contact.Contact
	err = e.db.Update(staff(), func(tx store.Tx) error {
		c, err = e.contacts.CreateIn(staff(), tx, contact.Input{Email: "in@example.org"})
		return err
	})
	if got, gerr := e.contacts.Get(staff(), c.ID); err != nil || gerr != nil || got.Email != "in@example.org" {
		t.Errorf("CreateIn: %+v, %v, %v", got, err, gerr)
	}
}

// failingAudit is the contact store with an audit log that takes ok events per transaction and
// then cannot be written.
type failingAudit struct {
	contact.Store
	ok int
}

var errAudit = errors.New("audit log unavailable")

func (s failingAudit) Update(ctx context.Context, fn func(contact.Tx) error) error {
	return s.Store.Update(ctx, func(tx contact.Tx) error { return fn(&noAuditTx{tx, s.ok}) })
}

type noAuditTx struct {
	contact.Tx
	left int
}

func (tx *noAuditTx) AppendAudit(ctx context.Context, e *audit.Event) error {
	if tx.left == 0 {
		return errAudit
	}
	tx.left--
	return tx.Tx.AppendAudit(ctx, e)
}

// TestReadFailsClosed: when the audit event of a read cannot be written, no plaintext is
// returned (doc.go; DESIGN §3 "the decrypt path always writes an audit event in the same
// transaction (fail closed)"), not even of the contacts read before it in the same call, whose
// events go with the rolled-back transaction; and a create is not stored.
func TestReadFailsClosed(t *testing.T) {
	e := newEnv(t)
	c, _ := e.contacts.Create(staff(), contact.Input{Email: "closed@example.org", FirstName: "Clo", Phone: "+46701234567"})
	e.contacts.Create(staff(), contact.Input{Email: "shut@example.org", FirstName: "Shu", Phone: "+46701234567"})
	broken := *e.contacts
	broken.Store = failingAudit{Store: e.contacts.Store}
	got, err := broken.Get(staff(), c.ID)
	if !errors.Is(err, errAudit) || got.Email != "" || got.FirstName != "" {
		t.Errorf("Get without an audit log = %+v, %v; want no plaintext and the audit error", got, err)
	}
	broken.Store = failingAudit{Store: e.contacts.Store, ok: 1} // the first read is audited, the second is not
	page, _, err := broken.List(staff(), "", "", 10)
	if !errors.Is(err, errAudit) || len(page) != 0 {
		t.Errorf("List with the second read unaudited = %+v, %v; want no contact", page, err)
	}
	home, err := broken.FindByPhone(staff(), "+46701234567")
	if !errors.Is(err, errAudit) || len(home) != 0 {
		t.Errorf("FindByPhone with the second read unaudited = %+v, %v; want no contact", home, err)
	}
	broken.Store = failingAudit{Store: e.contacts.Store}
	if _, err := broken.Create(staff(), contact.Input{Email: "new@example.org"}); !errors.Is(err, errAudit) {
		t.Errorf("Create without an audit log: %v; want the audit error", err)
	}
	if _, err := e.contacts.FindByEmail(staff(), "new@example.org"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("the create without an audit event was stored: %v", err)
	}
}

// TestOpenFieldsInReadsOnlyTheListed: a disclosure decrypts only the fields it shares and adds
// no read event of its own (the caller's share.disclose event names them): GDPR Art. 5(1)(c).
func TestOpenFieldsInReadsOnlyTheListed(t *testing.T) {
	e := newEnv(t)
	c, _ := e.contacts.Create(staff(), contact.Input{Email: "part@example.org", FirstName: "Part", LastName: "Ial", Notes: "private"})
	before := len(e.audits(t, c.ID))
	var got contact.Contact
	err := e.db.Update(staff(), func(tx store.Tx) error {
		rec, err := tx.ContactByID(staff(), c.ID)
		if err != nil {
			return err
		}
		got, err = e.contacts.OpenFieldsIn(staff(), tx, rec, []string{"email", "first_name"})
		return err
	})
	if err != nil || got.Email != "part@example.org" || got.FirstName != "Part" || got.LastName != "" || got.Notes != "" || got.ID != c.ID {
		t.Errorf("OpenFieldsIn = %+v, %v; want the e-mail and first name only", got, err)
	}
	if after := len(e.audits(t, c.ID)); after != before {
		t.Errorf("OpenFieldsIn wrote %d audit events; want none", after-before)
	}
	err = e.db.Update(staff(), func(tx store.Tx) error {
		rec, err := tx.ContactByID(staff(), c.ID)
		if err != nil {
			return err
		}
		got, err = e.contacts.OpenIn(staff(), tx, rec)
		return err
	})
	if evs := e.audits(t, c.ID); err != nil || got.Notes != "private" || evs[len(evs)-1].Action != "contact.read" {
		t.Errorf("OpenIn = %+v, %v; want every field and a read event", got, err)
	}
}
