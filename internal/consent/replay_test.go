package consent_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
)

// TestReplayEvent: a withdrawal the ledger carries is put back on a restored store as it was
// recorded (same id, time, method, actor), so a restore never undoes a person's "no" (GDPR Art.
// 7(3)); it becomes current only when it supersedes what the store holds; evidence sealed under
// a key this store does not hold is replaced by a note, so the record stays readable; a second
// replay changes nothing.
func TestReplayEvent(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "dag@example.org")
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, OccurredAt: start.Add(-2 * time.Hour)})

	dir := t.TempDir()
	foreign, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "k.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	fk, _, _ := foreign.NewDataKey(id, 1)
	plain, _ := json.Marshal(consent.Evidence{IP: "198.51.100.9"})
	sealed, _ := fk.Seal(consent.EventTable, "evidence", "ledger-ev-1", plain)

	w := consent.Event{ID: "ledger-ev-1", ContactID: id, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick,
		OccurredAt: start.Add(-time.Hour), RecordedAt: start.Add(-time.Hour), Actor: "public:unsubscribe"}
	seq := e.lastSeq(t)
	if ok, err := e.consent.ReplayEvent(staffA, w, sealed); !ok || err != nil {
		t.Fatalf("ReplayEvent = %v, %v; want applied", ok, err)
	}
	if d := e.check(t, id, "newsletter"); d.Allowed || d.Reason != consent.ReasonWithdrawn {
		t.Errorf("Check after the replayed withdrawal = %+v; want withdrawn", d)
	}
	if cs := e.changes(t, seq); len(cs) != 1 || cs[0].Change != "withdrawn" || !cs[0].OccurredAt.Equal(w.OccurredAt) {
		t.Errorf("changes = %+v; want withdrawn at the ledger's time", cs)
	}
	led, err := e.consent.History(staffA, id)
	if err != nil {
		t.Fatal(err)
	}
	got := led.Events[len(led.Events)-1]
	if got.ID != w.ID || got.Actor != w.Actor || got.Method != w.Method || !got.OccurredAt.Equal(w.OccurredAt) || got.Evidence.IP != "" || got.Evidence.Note == "" {
		t.Errorf("replayed event = %+v; want it as recorded, the unreadable evidence replaced by a note", got)
	}
	if ok, err := e.consent.ReplayEvent(staffA, w, sealed); ok || err != nil {
		t.Errorf("second ReplayEvent = %v, %v; want nothing to do", ok, err)
	}

	// A refusal older than a consent given later stays in the history only.
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given})
	old := consent.Event{ID: "ledger-ev-2", ContactID: id, Purpose: "newsletter", State: consent.Refused, Method: consent.MethodWebForm, OccurredAt: start.Add(-3 * time.Hour), RecordedAt: start.Add(-3 * time.Hour)}
	if ok, err := e.consent.ReplayEvent(staffA, old, nil); !ok || err != nil {
		t.Errorf("ReplayEvent of an older refusal = %v, %v; want appended", ok, err)
	}
	if d := e.check(t, id, "newsletter"); !d.Allowed {
		t.Errorf("Check after an older refusal = %+v; want the later consent current", d)
	}

	for _, tc := range []struct {
		name string
		mod  func(*consent.Event)
		kind apperr.Kind
	}{
		{"a given consent", func(ev *consent.Event) { ev.State = consent.Given }, apperr.Invalid},
		{"an unknown method", func(ev *consent.Event) { ev.Method = "fax" }, apperr.Invalid},
		{"an unknown contact", func(ev *consent.Event) { ev.ContactID = "nobody" }, apperr.NotFound},
		{"an unknown purpose", func(ev *consent.Event) { ev.Purpose = "tips" }, apperr.NotFound},
	} {
		ev := w
		ev.ID = "ledger-ev-x"
		tc.mod(&ev)
		if ok, err := e.consent.ReplayEvent(staffA, ev, nil); ok || !apperr.Is(err, tc.kind) {
			t.Errorf("ReplayEvent of %s = %v, %v; want %s", tc.name, ok, err, tc.kind)
		}
	}
}

// TestReplayObjection: an objection the ledger carries is recorded as it was (GDPR Art. 21),
// even for a purpose the restored store no longer has; the first stands.
func TestReplayObjection(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "eir@example.org")
	o := consent.Objection{ContactID: id, Scope: "old-offers", Method: consent.MethodWebForm, OccurredAt: start.Add(-time.Hour), RecordedAt: start.Add(-time.Hour), Actor: "public:preferences"}
	if ok, err := e.consent.ReplayObjection(staffA, o); !ok || err != nil {
		t.Fatalf("ReplayObjection = %v, %v; want applied", ok, err)
	}
	if ok, err := e.consent.ReplayObjection(staffA, o); ok || err != nil {
		t.Errorf("second ReplayObjection = %v, %v; want nothing to do", ok, err)
	}
	led, _ := e.consent.History(staffA, id)
	if len(led.Objections) != 1 || led.Objections[0].Actor != "public:preferences" || !led.Objections[0].OccurredAt.Equal(o.OccurredAt) {
		t.Errorf("objections = %+v; want the one replayed as recorded", led.Objections)
	}
	for _, tc := range []struct {
		o    consent.Objection
		kind apperr.Kind
	}{
		{consent.Objection{ContactID: id, Scope: "Bad Scope", Method: consent.MethodAPI}, apperr.Invalid},
		{consent.Objection{ContactID: id, Scope: consent.ScopeDirectMarketing, Method: "fax"}, apperr.Invalid},
		{consent.Objection{ContactID: "nobody", Scope: consent.ScopeDirectMarketing, Method: consent.MethodAPI}, apperr.NotFound},
	} {
		if ok, err := e.consent.ReplayObjection(staffA, tc.o); ok || !apperr.Is(err, tc.kind) {
			t.Errorf("ReplayObjection(%+v) = %v, %v; want %s", tc.o, ok, err, tc.kind)
		}
	}
}

// TestReplaySuppression: a suppression the ledger carries goes back on the list by the one rule
// of consent.Replaces (only an erasure replaces an earlier entry of another reason), the contact
// that has the address is reported "suppressed" to processors, and the gate refuses it.
func TestReplaySuppression(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "fia@example.org")
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given})
	_, hs, _ := e.contacts.EmailHashes("fia@example.org")
	_, strangers, _ := e.contacts.EmailHashes("stranger@example.org")
	h, stranger := hs[0], strangers[0]
	seq := e.lastSeq(t)
	bounce := consent.Suppression{Hash: h, Reason: consent.SuppressionBounced, CreatedAt: start.Add(-time.Hour)}
	for _, tc := range []struct {
		s    consent.Suppression
		want bool
	}{
		{bounce, true},
		{bounce, false},
		{consent.Suppression{Hash: h, Reason: consent.SuppressionComplained, CreatedAt: start}, false},
		{consent.Suppression{Hash: h, Reason: consent.SuppressionErased, CreatedAt: start}, true},
		{consent.Suppression{Hash: h, Reason: consent.SuppressionBounced, CreatedAt: start.Add(time.Hour)}, false},
		{consent.Suppression{Hash: stranger, Reason: consent.SuppressionUnsubscribed, CreatedAt: start}, true},
	} {
		if ok, err := e.consent.ReplaySuppression(staffA, tc.s); ok != tc.want || err != nil {
			t.Errorf("ReplaySuppression(%s at %s) = %v, %v; want %v", tc.s.Reason, tc.s.CreatedAt.Format(time.Kitchen), ok, err, tc.want)
		}
	}
	cs := e.changes(t, seq)
	if len(cs) != 2 || cs[0].Change != "suppressed" || cs[0].ContactID != id || !cs[0].OccurredAt.Equal(bounce.CreatedAt) || cs[1].Change != "suppressed" {
		t.Errorf("changes = %+v; want suppressed twice for the contact (the bounce, then the erasure replacing it)", cs)
	}
	if d := e.check(t, id, "newsletter"); d.Allowed || d.Reason != consent.ReasonSuppressed {
		t.Errorf("Check = %+v; want suppressed", d)
	}
	if ok, err := e.consent.ReplaySuppression(staffA, consent.Suppression{Hash: []byte("short"), Reason: consent.SuppressionBounced}); ok || !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a malformed hash: %v, %v; want Invalid", ok, err)
	}
	if ok, err := e.consent.ReplaySuppression(staffA, consent.Suppression{Hash: h, Reason: "annoyed"}); ok || !apperr.Is(err, apperr.Invalid) {
		t.Errorf("an unknown reason: %v, %v; want Invalid", ok, err)
	}
}

// TestReplayListUnsubscribe: an address's leaving one purpose's list, carried by the ledger, is
// put back for that purpose only (Purpose.Leaving): a withdrawal of a consent it supersedes, an
// objection to direct marketing on legitimate interest, nothing for the terms; a later consent
// stays current.
func TestReplayListUnsubscribe(t *testing.T) {
	e := newEnv(t)
	e.purpose(t, consent.Purpose{ID: "offers", Name: "Offers", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true})
	gus := e.contact(t, "gus@example.org")
	e.record(t, person, consent.Event{ContactID: gus, Purpose: "newsletter", State: consent.Given, OccurredAt: start.Add(-2 * time.Hour)})
	hal := e.contact(t, "hal@example.org")
	e.record(t, person, consent.Event{ContactID: hal, Purpose: "newsletter", State: consent.Given})
	ivy := e.contact(t, "ivy@example.org")
	e.record(t, person, consent.Event{ContactID: ivy, Purpose: "newsletter", State: consent.Withdrawn, OccurredAt: start.Add(-2 * time.Hour)})
	hash := func(a string) []byte { _, h, _ := e.contacts.EmailHashes(a); return h[0] }
	seq := e.lastSeq(t)
	left := start.Add(-time.Hour)
	for _, tc := range []struct {
		address, purpose string
		want             bool
	}{
		{"gus@example.org", "newsletter", true},
		{"gus@example.org", "newsletter", false},
		{"hal@example.org", "newsletter", true}, // before hal's consent: recorded, changes nothing now
		{"hal@example.org", "offers", true},
		{"hal@example.org", "terms-of-service", true},
		{"ivy@example.org", "newsletter", true}, // withdrawn already: no news for processors
	} {
		u := consent.PurposeUnsubscribe{Hash: hash(tc.address), Purpose: tc.purpose, At: left, RecordedAt: start}
		if ok, err := e.consent.ReplayListUnsubscribe(staffA, u); ok != tc.want || err != nil {
			t.Errorf("ReplayListUnsubscribe(%s, %s) = %v, %v; want %v", tc.address, tc.purpose, ok, err, tc.want)
		}
	}
	var got []string
	for _, c := range e.changes(t, seq) {
		who := map[string]string{gus: "gus", hal: "hal", ivy: "ivy"}[c.ContactID]
		got = append(got, who+":"+c.Purpose+":"+c.Change)
	}
	if want := []string{"gus:newsletter:withdrawn", "hal:offers:objected"}; !slices.Equal(got, want) {
		t.Errorf("changes = %q; want %q", got, want)
	}
	for _, tc := range []struct {
		id, purpose string
		allowed     bool
		reason      consent.Reason
	}{
		{gus, "newsletter", false, consent.ReasonWithdrawn},
		{hal, "newsletter", true, consent.ReasonConsentGiven},
		{hal, "offers", false, consent.ReasonObjected},
	} {
		if d := e.check(t, tc.id, tc.purpose); d.Allowed != tc.allowed || d.Reason != tc.reason {
			t.Errorf("Check(%s) = %+v; want %s", tc.purpose, d, tc.reason)
		}
	}
	for _, tc := range []struct {
		u    consent.PurposeUnsubscribe
		kind apperr.Kind
	}{
		{consent.PurposeUnsubscribe{Hash: []byte("short"), Purpose: "newsletter"}, apperr.Invalid},
		{consent.PurposeUnsubscribe{Hash: hash("gus@example.org"), Purpose: "Not An Id"}, apperr.Invalid},
		{consent.PurposeUnsubscribe{Hash: hash("gus@example.org"), Purpose: "tips"}, apperr.NotFound},
	} {
		if ok, err := e.consent.ReplayListUnsubscribe(staffA, tc.u); ok || !apperr.Is(err, tc.kind) {
			t.Errorf("ReplayListUnsubscribe(%s) = %v, %v; want %s", tc.u.Purpose, ok, err, tc.kind)
		}
	}
}
