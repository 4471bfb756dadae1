package share_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

// world is the sharing service of a whole app (apptest) on a real SQLite store, with a clock the
// test moves.
type world struct {
	now      time.Time
	svc      *share.Service
	contacts *contact.Service
	consent  *consent.Service
	db       store.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return w.now } })
	w.svc, w.contacts, w.consent, w.db = a.Share, a.Contacts, a.Consent, a.Store
	return w
}

func ptr[T any](v T) *T { return &v }

// signed is a processor in Sweden, engaged for the newsletter, with a signed DPA, that may
// receive e-mail and first name.
func signed(t *testing.T, w *world, id string) share.Processor {
	t.Helper()
	p, err := w.svc.Create(context.Background(), share.Input{
		ID: ptr(id), Name: ptr("Mailer AB"), Role: ptr(share.RoleProcessor), Purposes: &[]string{"newsletter"},
		DataCategories: &[]string{"email", "first_name"}, Country: ptr("se"), DPAStatus: ptr(share.DPASigned),
		DPASignedAt: ptr(w.now.AddDate(0, -1, 0)), DPAExpiresAt: ptr(w.now.AddDate(1, 0, 0)), WebhookSecret: ptr("0123456789abcdef-secret"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDisclosureRefusedForEachMissingConditionAndAllowedWhenAllHold(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "ylva@example.org", FirstName: "Ylva", Phone: "+46701234567"})
	p := signed(t, w, "mailer")
	if p.Country != "SE" || !p.HasWebhookSecret || p.DPAStatus != share.DPASigned {
		t.Errorf("created processor %+v", p)
	}
	ask := share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email", "first_name"}}
	reason := func(rq share.Request) string {
		t.Helper()
		_, err := w.svc.Disclose(ctx, rq)
		if err == nil {
			return "allowed"
		}
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.Forbidden {
			t.Fatalf("Disclose: %v; want Forbidden or allowed", err)
		}
		return e.Reason
	}
	if got := reason(ask); got != "no_consent" {
		t.Errorf("without consent: %s; want no_consent", got)
	}
	if _, err := w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}); err != nil {
		t.Fatal(err)
	}
	data, err := w.svc.Disclose(ctx, ask)
	if err != nil || data["email"] != "ylva@example.org" || data["first_name"] != "Ylva" || data["id"] != c.ID || len(data) != 3 {
		t.Fatalf("allowed disclosure = %v, %v; want id, email and first name only", data, err)
	}
	if _, err := w.consent.CreatePurpose(ctx, consent.Purpose{ID: "partners", Name: "Partner offers", LawfulBasis: consent.BasisConsent}); err != nil {
		t.Fatal(err)
	}
	other := ask
	other.Purpose = "partners"
	if got := reason(other); got != share.ReasonPurposeNotAssigned {
		t.Errorf("purpose the processor was not engaged for: %s", got)
	}
	phone := ask
	phone.Fields = []string{"email", "phone"}
	if got := reason(phone); got != share.ReasonFieldNotAgreed {
		t.Errorf("a field outside the data categories: %s", got)
	}
	for _, tc := range []struct {
		in   share.Input
		want string
	}{
		{share.Input{DPAStatus: ptr(share.DPARequested)}, share.ReasonDPAMissing},
		{share.Input{DPAStatus: ptr(share.DPAExpired)}, share.ReasonDPAExpired},
		{share.Input{DPAStatus: ptr(share.DPASigned), DPAExpiresAt: ptr(w.now)}, share.ReasonDPAExpired},
		{share.Input{DPAExpiresAt: ptr(w.now.AddDate(1, 0, 0)), Country: ptr("US"), TransferMechanism: ptr(share.TransferNone)}, share.ReasonNoTransfer},
		{share.Input{TransferMechanism: ptr(share.TransferSCC)}, "allowed"},
	} {
		if _, err := w.svc.Update(ctx, "mailer", tc.in); err != nil {
			t.Fatal(err)
		}
		if got := reason(ask); got != tc.want {
			t.Errorf("after %+v: %s; want %s", tc.in, got, tc.want)
		}
	}
	// Restriction and objection come from the consent gate, at the moment of the disclosure.
	if _, err := w.contacts.SetRestricted(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if got := reason(ask); got != "restricted" {
		t.Errorf("restricted contact: %s", got)
	}
	w.contacts.SetRestricted(ctx, c.ID, false)
	// The processor loses access the moment consent is withdrawn.
	if _, err := w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick}); err != nil {
		t.Fatal(err)
	}
	if got := reason(ask); got != "withdrawn" {
		t.Errorf("after withdrawal: %s; want withdrawn", got)
	}

	// Every disclosure asked for is recorded, refusals included, and audited without values.
	var ds []share.Disclosure
	err = w.db.Update(ctx, func(tx store.Tx) error {
		var err error
		ds, err = tx.DisclosuresOf(ctx, c.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Reason)
	}
	want := []string{"no_consent", "allowed", share.ReasonPurposeNotAssigned, share.ReasonFieldNotAgreed, share.ReasonDPAMissing, share.ReasonDPAExpired, share.ReasonDPAExpired, share.ReasonNoTransfer, "allowed", "restricted", "withdrawn"}
	if !slices.Equal(got, want) {
		t.Errorf("recorded disclosures %v; want %v", got, want)
	}
	evs, _ := w.db.AuditEvents(ctx, store.AuditFilter{ObjectKind: "contact", ObjectID: c.ID, Limit: 200})
	shares := map[string]int{}
	for _, e := range evs {
		if e.Action == "share.disclose" || e.Action == "share.refuse" {
			shares[e.Action]++
			if !slices.Contains(e.Fields, "processor:mailer") || e.Action == "share.refuse" && !slices.ContainsFunc(e.Fields, func(f string) bool { return strings.HasPrefix(f, "reason:") }) {
				t.Errorf("audit event %s %v does not name the processor and, for a refusal, the reason", e.Action, e.Fields)
			}
			if e.Purpose != "newsletter" && e.Purpose != "partners" {
				t.Errorf("audit event %s without the purpose", e.Action)
			}
		}
	}
	if shares["share.disclose"] != 2 || shares["share.refuse"] != 9 {
		t.Errorf("audit: %v; want 2 disclosures and 9 refusals", shares)
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	signed(t, w, "mailer")
	for _, tc := range []struct {
		in    share.Input
		field string
	}{
		{share.Input{ID: ptr("Mailer AB"), Name: ptr("x"), Country: ptr("SE")}, "id"},
		{share.Input{ID: ptr("x"), Country: ptr("SE")}, "name"},
		{share.Input{ID: ptr("x"), Name: ptr("x")}, "country"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("Sweden")}, "country"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("XX")}, "country"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("EU")}, "country"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("CN"), TransferMechanism: ptr(share.TransferAdequacy)}, "transfer_mechanism"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("US"), TransferMechanism: ptr(share.TransferAdequacy)}, "transfer_mechanism"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), Role: ptr(share.Role("friend"))}, "role"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), Purposes: &[]string{"no-such"}}, "purposes"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), DataCategories: &[]string{"password"}}, "data_categories"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), TransferMechanism: ptr("trust")}, "transfer_mechanism"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), DPAStatus: ptr(share.DPASigned)}, "dpa_signed_at"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), WebhookURL: ptr("http://hooks.example.com/x")}, "webhook_url"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), WebhookSecret: ptr("short")}, "webhook_secret"},
		// Found by a fresh-user trial: both were accepted.
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), ContactEmail: ptr("not an email")}, "contact_email"},
		{share.Input{ID: ptr("x"), Name: ptr("x"), Country: ptr("SE"), DPFCertified: ptr(true)}, "dpf_certified"},
	} {
		_, err := w.svc.Create(ctx, tc.in)
		if e := apperr.As(err); e == nil || e.Kind != apperr.Invalid || e.Field != tc.field {
			t.Errorf("Create(%+v) = %v; want Invalid on %s", tc.in, err, tc.field)
		}
	}
	if _, err := w.svc.Create(ctx, share.Input{ID: ptr("mailer"), Name: ptr("again"), Country: ptr("SE")}); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("a taken id: %v; want Conflict", err)
	}
	if ps, _ := w.svc.List(ctx); len(ps) != 1 {
		t.Errorf("register holds %d processors after refused input; want 1", len(ps))
	}
	if p, err := w.svc.Create(ctx, share.Input{ID: ptr("uk-ltd"), Name: ptr("UK Ltd"), Country: ptr("uk"), TransferMechanism: ptr(share.TransferAdequacy)}); err != nil || p.Country != "GB" {
		t.Errorf("country uk: %+v, %v; want GB with adequacy", p, err)
	}
	if p, err := w.svc.Create(ctx, share.Input{ID: ptr("us-dpf"), Name: ptr("US Co"), Country: ptr("US"), TransferMechanism: ptr(share.TransferAdequacy), DPFCertified: ptr(true)}); err != nil || !p.DPFCertified {
		t.Errorf("a DPF-certified US recipient under adequacy: %+v, %v", p, err)
	}
	if !share.InEEA("GF") || !share.InEEA("AX") || share.InEEA("GB") {
		t.Errorf("EEA: French Guiana and Åland are in, the United Kingdom is not")
	}
	if _, err := w.svc.Update(ctx, "nobody", share.Input{Name: ptr("x")}); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("update of an unknown processor: %v; want NotFound", err)
	}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "z@example.org"})
	if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter"}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("disclosure without fields: %v; want Invalid", err)
	}
	if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "nobody", Purpose: "newsletter", Fields: []string{"email"}}); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("disclosure to an unknown processor: %v; want NotFound", err)
	}
}

// TestProcessorReadsOnlyWhatIsSharedAndStillAllowed: a processor reads a contact shared with it,
// only the shared fields, and loses access the moment consent is withdrawn; a contact never
// shared with it is not found, and another processor sees nothing.
func TestProcessorReadsOnlyWhatIsSharedAndStillAllowed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	signed(t, w, "mailer")
	signed(t, w, "other")
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "vera@example.org", FirstName: "Vera", LastName: "Holm"})
	never, _ := w.contacts.Create(ctx, contact.Input{Email: "never@example.org"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	if _, err := w.svc.ReadShared(ctx, "mailer", c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("before any disclosure: %v; want NotFound", err)
	}
	if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
		t.Fatal(err)
	}
	data, err := w.svc.ReadShared(ctx, "mailer", c.ID)
	if err != nil || data["email"] != "vera@example.org" || data["first_name"] != nil || len(data) != 2 {
		t.Fatalf("shared read = %v, %v; want id and email only", data, err)
	}
	for _, tc := range []struct{ processor, contact string }{{"other", c.ID}, {"mailer", never.ID}, {"mailer", "no-such-contact"}} {
		if _, err := w.svc.ReadShared(ctx, tc.processor, tc.contact); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ReadShared(%s, %s) = %v; want NotFound", tc.processor, tc.contact, err)
		}
	}
	// Two fields shared, then the processor's categories narrowed to one: that one is still served.
	if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"first_name"}}); err != nil {
		t.Fatal(err)
	}
	w.svc.Update(ctx, "mailer", share.Input{DataCategories: &[]string{"first_name"}})
	if data, err := w.svc.ReadShared(ctx, "mailer", c.ID); err != nil || data["first_name"] != "Vera" || data["email"] != nil {
		t.Errorf("after narrowing the categories: %v, %v; want the first name only", data, err)
	}
	w.svc.Update(ctx, "mailer", share.Input{DataCategories: &[]string{"email", "first_name"}})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	_, err = w.svc.ReadShared(ctx, "mailer", c.ID)
	if e := apperr.As(err); e == nil || e.Kind != apperr.Forbidden || e.Reason != "withdrawn" {
		t.Errorf("after withdrawal: %v; want Forbidden withdrawn", err)
	}
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	if _, err := w.svc.Update(ctx, "mailer", share.Input{DPAStatus: ptr(share.DPAExpired)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.ReadShared(ctx, "mailer", c.ID); apperr.As(err) == nil || apperr.As(err).Reason != share.ReasonDPAExpired {
		t.Errorf("with an expired DPA: %v; want dpa_expired", err)
	}
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.ReadShared(ctx, "mailer", c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("after erasure: %v; want NotFound", err)
	}
}

// TestSharingAuditsOnlyTheFieldsRead: found by a fresh-user trial. A disclosure of two fields
// and a processor's read of them were each followed by a "contact.read" of every field, so the
// person's access bundle said the processor read fields it never received, and breach counts by
// actor doubled. Only the disclosed fields are decrypted now, under the share event that names
// them.
func TestSharingAuditsOnlyTheFieldsRead(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	signed(t, w, "mailer")
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "ines@example.org", FirstName: "Ines", LastName: "Berg", Phone: "+46701234567"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	data, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email"}})
	if err != nil || data["email"] != "ines@example.org" || data["first_name"] != nil {
		t.Fatalf("disclose = %v, %v", data, err)
	}
	if data, err := w.svc.ReadShared(ctx, "mailer", c.ID); err != nil || data["email"] != "ines@example.org" {
		t.Fatalf("shared read = %v, %v", data, err)
	}
	var got []string
	err = w.db.View(ctx, func(tx store.Tx) error {
		evs, err := tx.AuditEventsAbout(ctx, "contact", c.ID)
		for _, e := range evs {
			got = append(got, e.Action+" "+strings.Join(e.Fields, ","))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"contact.create email,first_name,last_name,phone", "consent.record consent.dpv:ConsentGiven", "share.disclose email,processor:mailer", "share.read email,processor:mailer"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit events about the contact:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestControllerRecipientNeedsASharingAgreement: found by a fresh-user trial. A recipient that
// is another controller was refused for a missing "data processing agreement (Art. 28(3))",
// which does not apply between controllers; the refusal names the data sharing agreement.
func TestControllerRecipientNeedsASharingAgreement(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.svc.Create(ctx, share.Input{ID: ptr("partner"), Name: ptr("Partner AB"), Role: ptr(share.RoleController), Purposes: &[]string{"newsletter"},
		DataCategories: &[]string{"email"}, Country: ptr("SE")}); err != nil {
		t.Fatal(err)
	}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "lo@example.org"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	_, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "partner", Purpose: "newsletter", Fields: []string{"email"}})
	e := apperr.As(err)
	if e == nil || e.Reason != share.ReasonDPAMissing || !strings.Contains(e.Message, "data sharing agreement") || strings.Contains(e.Message, "28(3)") {
		t.Errorf("disclosure to a controller without an agreement: %v; want dpa_missing naming the data sharing agreement", err)
	}
}
