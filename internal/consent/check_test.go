package consent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

// frozen is a store generation that never moves.
type frozen uint64

func (g frozen) Generation(context.Context) (uint64, error) { return uint64(g), nil }

// TestCheckSeesEveryCommit: the gate is asked at the moment of use (DESIGN §3) and a cached
// answer is served only while the store's generation stands, so a withdrawal stops the next
// check at once (DESIGN §1.1 "honoured before the next send"). With a generation that does not
// move, the cache (filled by Check or Prefetch) is what answers.
func TestCheckSeesEveryCommit(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "cid@example.org")
	other := e.contact(t, "other@example.org")
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given})
	e.consent.Cache, e.consent.Gen = &consent.GateCache{}, e.db
	if d := e.check(t, id, "newsletter"); !d.Allowed {
		t.Fatalf("Check = %+v; want allowed", d)
	}
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	if d := e.check(t, id, "newsletter"); d.Allowed || d.Reason != consent.ReasonWithdrawn || d.State != consent.Withdrawn {
		t.Errorf("Check after the withdrawal = %+v; want withdrawn", d)
	}

	e.consent.Cache, e.consent.Gen = &consent.GateCache{}, frozen(7)
	if err := e.consent.Prefetch(context.Background(), []string{id, other}, "newsletter"); err != nil {
		t.Fatal(err)
	}
	e.record(t, person, consent.Event{ContactID: other, Purpose: "newsletter", State: consent.Given})
	if d := e.check(t, other, "newsletter"); d.Allowed || d.Reason != consent.ReasonNoConsent {
		t.Errorf("Check with the generation frozen = %+v; want the prefetched answer no_consent", d)
	}
	if _, err := e.consent.Check(context.Background(), id, "tips"); apperr.As(err) == nil || apperr.As(err).Reason != "unknown_purpose" {
		t.Errorf("Check of an unknown purpose: %v; want Invalid unknown_purpose", err)
	}
	if _, err := e.consent.Check(context.Background(), "nobody", "newsletter"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Check of an unknown contact: %v; want NotFound", err)
	}
}

// TestCheckEmailIndex: a check by address answers for the contact that has it; for an address
// no contact has it answers suppressed when the address is on the suppression list (an erased
// or bounced person is never mailed again, DESIGN §2), withdrawn (objected, for direct marketing
// on another basis) when an import said it left the purpose's list, and NotFound otherwise.
func TestCheckEmailIndex(t *testing.T) {
	e := newEnv(t)
	offers := e.purpose(t, consent.Purpose{ID: "offers", Name: "Offers", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true})
	id := e.contact(t, "known@example.org")
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given})
	hashes := func(a string) ([][]byte, [][]byte) {
		idx, sup, err := e.contacts.EmailHashes(a)
		if err != nil {
			t.Fatal(err)
		}
		return idx, sup
	}
	_, bouncedAll := hashes("bounced@example.org")
	_, leftAll := hashes("left@example.org")
	bounced, left := bouncedAll[0], leftAll[0]
	e.update(t, func(tx store.Tx) error {
		ctx := context.Background()
		if err := tx.AddSuppression(ctx, consent.Suppression{Hash: bounced, Reason: consent.SuppressionBounced, CreatedAt: start}); err != nil {
			return err
		}
		return tx.AddPurposeUnsubscribes(ctx, []consent.PurposeUnsubscribe{
			{Hash: left, Purpose: "newsletter", At: start.Add(-time.Hour), RecordedAt: start},
			{Hash: left, Purpose: offers.ID, At: start.Add(-time.Hour), RecordedAt: start},
		})
	})
	for _, tc := range []struct {
		address, purpose string
		allowed          bool
		reason           consent.Reason
	}{
		{"Known@Example.org", "newsletter", true, consent.ReasonConsentGiven},
		{"bounced@example.org", "newsletter", false, consent.ReasonSuppressed},
		{"bounced@example.org", offers.ID, false, consent.ReasonSuppressed},
		{"left@example.org", "newsletter", false, consent.ReasonWithdrawn},
		{"left@example.org", offers.ID, false, consent.ReasonObjected},
	} {
		idx, sup := hashes(tc.address)
		d, err := e.consent.CheckEmailIndex(context.Background(), idx, sup, tc.purpose)
		if err != nil || d.Allowed != tc.allowed || d.Reason != tc.reason {
			t.Errorf("CheckEmailIndex(%s, %s) = %+v, %v; want allowed %v, %s", tc.address, tc.purpose, d, err, tc.allowed, tc.reason)
		}
	}
	idx, sup := hashes("stranger@example.org")
	if _, err := e.consent.CheckEmailIndex(context.Background(), idx, sup, "newsletter"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("CheckEmailIndex of an unknown address: %v; want NotFound", err)
	}
	if _, err := e.consent.CheckEmailIndex(context.Background(), idx, sup, "tips"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("CheckEmailIndex of an unknown purpose: %v; want Invalid", err)
	}
}

// TestObjection: the right to object (GDPR Art. 21) applies to direct marketing on any basis
// (absolute, 21(2)-(3)) and to purposes on legitimate interest or a public task (21(1)); consent
// is withdrawn instead. An objection stops the gate at once, is audited and told to processors;
// the first objection stands; lifting it lets processing resume; a GPC signal objects to every
// sale-or-sharing purpose.
func TestObjection(t *testing.T) {
	e := newEnv(t)
	e.purpose(t, consent.Purpose{ID: "events", Name: "Events", LawfulBasis: consent.BasisConsent})
	e.purpose(t, consent.Purpose{ID: "analytics", Name: "Analytics", LawfulBasis: consent.BasisLegitimateInterest})
	e.purpose(t, consent.Purpose{ID: "partners", Name: "Partners", LawfulBasis: consent.BasisLegitimateInterest, SaleOrSharing: true})
	id := e.contact(t, "obi@example.org")
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given})
	if d := e.check(t, id, "analytics"); !d.Allowed || d.Reason != consent.ReasonBasisLegitimate {
		t.Fatalf("analytics before an objection: %+v; want allowed on legitimate interest", d)
	}
	seq := e.lastSeq(t)
	e.now = start.Add(time.Minute)
	o, err := e.consent.Object(staffA, id, consent.ScopeDirectMarketing, consent.MethodAPI)
	if err != nil || o.Scope != consent.ScopeDirectMarketing || !o.OccurredAt.Equal(e.now) || o.Actor != "token:tokA" {
		t.Fatalf("Object = %+v, %v", o, err)
	}
	if d := e.check(t, id, "newsletter"); d.Allowed || d.Reason != consent.ReasonObjected {
		t.Errorf("newsletter (direct marketing) after the objection: %+v; want objected though consent is given", d)
	}
	if _, err := e.consent.Object(staffA, id, consent.ScopeDirectMarketing, consent.MethodAPI); err != nil {
		t.Errorf("objecting again: %v", err)
	}
	if err := e.db.Update(context.Background(), func(tx store.Tx) error { return e.consent.ObjectIn(staffA, tx, id, "analytics", consent.MethodStaff) }); err != nil {
		t.Fatal(err)
	}
	if d := e.check(t, id, "analytics"); d.Allowed || d.Reason != consent.ReasonObjected {
		t.Errorf("analytics after an objection to it: %+v; want objected", d)
	}
	var got []string
	for _, c := range e.changes(t, seq) {
		got = append(got, c.Purpose+":"+c.Change)
	}
	if want := []string{"direct_marketing:objected", "analytics:objected"}; !slices.Equal(got, want) {
		t.Errorf("changes = %q; want %q (the repeated objection changes nothing)", got, want)
	}
	audits := e.audits(t, "contact", id)
	if last := audits[len(audits)-1]; last.Action != "consent.object" || last.Purpose != "analytics" {
		t.Errorf("last audit event = %+v; want consent.object for analytics", last)
	}

	for _, tc := range []struct {
		scope  string
		method consent.Method
		id     string
		kind   apperr.Kind
		reason string
	}{
		{"", consent.MethodAPI, id, apperr.Invalid, "required"},
		{"tips", consent.MethodAPI, id, apperr.Invalid, "unknown_purpose"},
		{"events", consent.MethodAPI, id, apperr.Invalid, "objection_not_applicable"},
		{"analytics", "fax", id, apperr.Invalid, "invalid_method"},
		{"analytics", consent.MethodAPI, "nobody", apperr.NotFound, ""},
	} {
		_, err := e.consent.Object(staffA, tc.id, tc.scope, tc.method)
		if ae := apperr.As(err); ae == nil || ae.Kind != tc.kind || ae.Reason != tc.reason {
			t.Errorf("Object(%q, %s, %s): %v; want %s %s", tc.scope, tc.method, tc.id, err, tc.kind, tc.reason)
		}
	}

	if err := e.consent.LiftObjection(staffA, id, consent.ScopeDirectMarketing); err != nil {
		t.Fatal(err)
	}
	if d := e.check(t, id, "newsletter"); !d.Allowed {
		t.Errorf("newsletter after lifting the objection: %+v; want allowed again", d)
	}
	if cs := e.changes(t, 0); cs[len(cs)-1].Change != "objection_lifted" || cs[len(cs)-1].Purpose != consent.ScopeDirectMarketing {
		t.Errorf("last change = %+v; want objection_lifted", cs[len(cs)-1])
	}
	if err := e.consent.LiftObjection(staffA, id, consent.ScopeDirectMarketing); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("lifting it again: %v; want NotFound", err)
	}

	scopes, err := e.consent.ApplyGPC(person, id)
	if err != nil || !slices.Equal(scopes, []string{"partners"}) {
		t.Errorf("ApplyGPC = %q, %v; want the sale-or-sharing purpose", scopes, err)
	}
	led, _ := e.consent.History(staffA, id)
	var objs []string
	for _, o := range led.Objections {
		objs = append(objs, o.Scope+":"+string(o.Method))
	}
	slices.Sort(objs)
	if want := []string{"analytics:staff", "partners:gpc"}; !slices.Equal(objs, want) {
		t.Errorf("objections on record = %q; want %q", objs, want)
	}

	at := start.Add(-30 * 24 * time.Hour)
	var first, second bool
	e.update(t, func(tx store.Tx) error {
		var err error
		if first, err = e.consent.ObjectAtIn(staffA, tx, id, "newsletter", consent.MethodImport, at); err != nil {
			return err
		}
		second, err = e.consent.ObjectAtIn(staffA, tx, id, "newsletter", consent.MethodImport, at)
		return err
	})
	if !first || second {
		t.Errorf("ObjectAtIn twice = %v, %v; want recorded once", first, second)
	}
	if cs := e.changes(t, 0); !cs[len(cs)-1].OccurredAt.Equal(at) {
		t.Errorf("the imported objection's change occurred at %s; want %s", cs[len(cs)-1].OccurredAt, at)
	}
}

// TestRepermissionAndExpiry: a consent older than the purpose's consent_valid_days counts as
// expired (GDPR Art. 7: consent is not forever), the re-permission list is exactly whom a
// consent-request campaign asks (consent.AskOf: lapsed or unanswered, never who said no or may
// not be processed, never who has no history), in pages; the expiry sweep records each lapsed
// consent as dpv:ConsentExpired at the time it lapsed, at most batch per call.
func TestRepermissionAndExpiry(t *testing.T) {
	e := newEnv(t)
	day := 24 * time.Hour
	e.purpose(t, consent.Purpose{ID: "tips", Name: "Tips", LawfulBasis: consent.BasisConsent, DirectMarketing: true, ConsentValidDays: 30})
	people := map[string]string{}
	for _, name := range []string{"a-lapsed", "b-fresh", "c-requested", "d-withdrawn", "e-none", "f-restricted", "g-expired", "h-objected"} {
		people[name] = e.contact(t, name+"@example.org")
	}
	rec := func(name string, s consent.State, age time.Duration) {
		e.record(t, person, consent.Event{ContactID: people[name], Purpose: "tips", State: s, OccurredAt: start.Add(-age)})
	}
	rec("a-lapsed", consent.Given, 40*day)
	rec("b-fresh", consent.Given, day)
	rec("c-requested", consent.Requested, day)
	rec("d-withdrawn", consent.Withdrawn, day)
	rec("f-restricted", consent.Given, 40*day)
	rec("g-expired", consent.Expired, day)
	rec("h-objected", consent.Given, 40*day)
	if _, err := e.contacts.SetRestricted(staffA, people["f-restricted"], true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.consent.Object(staffA, people["h-objected"], consent.ScopeDirectMarketing, consent.MethodAPI); err != nil {
		t.Fatal(err)
	}
	if d := e.check(t, people["a-lapsed"], "tips"); d.Allowed || d.Reason != consent.ReasonExpired || d.State != consent.Given {
		t.Errorf("a consent of 40 days under a validity of 30: %+v; want expired", d)
	}

	page1, next, err := e.consent.Repermission(context.Background(), "tips", "", 2)
	if err != nil || len(page1) != 2 || next != people["c-requested"] {
		t.Fatalf("first page = %+v, %q, %v; want two and a cursor", page1, next, err)
	}
	page2, end, err := e.consent.Repermission(context.Background(), "tips", next, 2)
	if err != nil || end != "" {
		t.Fatalf("second page = %+v, %q, %v; want the last", page2, end, err)
	}
	var got []string
	for _, l := range append(page1, page2...) {
		got = append(got, l.ContactID+":"+string(l.Reason))
	}
	want := []string{people["a-lapsed"] + ":expired", people["c-requested"] + ":no_consent", people["g-expired"] + ":expired"}
	if !slices.Equal(got, want) {
		t.Errorf("re-permission list = %q; want %q", got, want)
	}
	if page1[0].OccurredAt != start.Add(-40*day) {
		t.Errorf("the lapsed consent's time = %s; want when it was given", page1[0].OccurredAt)
	}
	if _, _, err := e.consent.Repermission(context.Background(), "tips", "", 1001); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("limit 1001: %v; want Invalid", err)
	}
	if _, _, err := e.consent.Repermission(context.Background(), "nope", "", 10); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("an unknown purpose: %v; want NotFound", err)
	}

	seq := e.lastSeq(t)
	var counts []int
	for range 3 {
		n, err := e.consent.SweepExpired(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
	}
	if !slices.Equal(counts, []int{2, 1, 0}) {
		t.Errorf("sweeps expired %v; want 2, 1, 0 (a, f and h, two per call)", counts)
	}
	for _, c := range e.changes(t, seq) {
		if c.Change != "expired" || !c.OccurredAt.Equal(start.Add(-10*day)) {
			t.Errorf("sweep change %+v; want expired when the 30 days ran out", c)
		}
	}
	led, _ := e.consent.History(staffA, people["a-lapsed"])
	last := led.Events[len(led.Events)-1]
	if last.State != consent.Expired || last.Actor != "system:expiry" || last.Method != consent.MethodAPI || last.Evidence.Note == "" {
		t.Errorf("the recorded expiry = %+v; want dpv:ConsentExpired by system:expiry with a note", last)
	}
	if d := e.check(t, people["b-fresh"], "tips"); !d.Allowed {
		t.Errorf("a fresh consent after the sweep: %+v; want allowed", d)
	}
}
