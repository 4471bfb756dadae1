package dsr_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
)

// TestVerifiedRequestStopsUseAtOnce: from the moment the person confirms an erasure or
// restriction request by its link, the gate (with its cache warm from an earlier check) refuses
// with the request's own reason, a campaign message already queued is not handed over, and the
// portal page says so; rejecting the request lifts the refusal, completing a restriction leaves
// the restriction proper.
func TestVerifiedRequestStopsUseAtOnce(t *testing.T) {
	for _, tc := range []struct {
		typ    dsr.Type
		reason consent.Reason
	}{
		{dsr.TypeErasure, consent.ReasonErasureRequested},
		{dsr.TypeRestriction, consent.ReasonRestrictionRequested},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			// The gate as the server runs it: answers from memory while the store's generation stands.
			gate := w.consent
			c := newContact(t, w, contact.Input{Email: "sigrid@example.org", FirstName: "Sigrid"})
			give(t, w, c.ID, "newsletter")
			check := func(want consent.Reason) {
				t.Helper()
				d, err := gate.Check(ctx, c.ID, "newsletter")
				if err != nil || d.Reason != want || d.Allowed != (want == consent.ReasonConsentGiven) {
					t.Fatalf("gate = %+v, %v; want %s", d, err, want)
				}
			}
			check(consent.ReasonConsentGiven) // warms the cache

			if err := w.svc.Submit(ctx, dsr.Intake{Type: tc.typ, Email: "sigrid@example.org"}); err != nil {
				t.Fatal(err)
			}
			secret := link(t, w.mails(t)[0])
			check(consent.ReasonConsentGiven) // not verified yet: anyone can post an address
			// A campaign is sending: its message to Sigrid waits in the outbox.
			msgID := uuid.Must(uuid.NewV7()).String()
			if err := w.db.Update(ctx, func(tx store.Tx) error {
				return w.outbox.EnqueueIn(ctx, tx, mail.Message{ID: msgID, ContactID: c.ID, Stream: mail.Marketing, Kind: "campaign",
					To: "sigrid@example.org", Subject: "Spring offers", Text: "Hello.", CreatedAt: w.now, Purpose: "newsletter", CampaignID: "camp-1"})
			}); err != nil {
				t.Fatal(err)
			}
			res, err := w.svc.VerifyLink(ctx, secret)
			if err != nil || !res.Verified || !res.OnHold {
				t.Fatalf("VerifyLink = %+v, %v; want verified, and use stopped", res, err)
			}
			check(tc.reason)
			if ms := w.mails(t); len(ms) != 0 {
				t.Errorf("mail handed over after the request was confirmed: %+v", ms)
			}
			if err := w.db.Update(ctx, func(tx store.Tx) error {
				e, err := tx.OutboxEntry(ctx, msgID)
				if err == nil && (e.Status != mail.StatusSkipped || e.LastError != string(tc.reason)) {
					t.Errorf("the queued campaign message: %s %q; want skipped %s", e.Status, e.LastError, tc.reason)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}

			r := w.only(t)
			if _, err := w.svc.Reject(staff(), r.ID, "We need the data for an open invoice."); err != nil {
				t.Fatal(err)
			}
			check(consent.ReasonConsentGiven)
			if ms := w.mails(t); len(ms) != 1 || !strings.Contains(ms[0].body, "open invoice") {
				t.Errorf("mails after the rejection: %+v; want the rejection notice", ms)
			}
			if tc.typ != dsr.TypeRestriction {
				return
			}
			// A second restriction request, verified by staff and completed: the restriction proper.
			v := inProgress(t, w, dsr.TypeRestriction, "sigrid@example.org", c.ID)
			check(consent.ReasonRestrictionRequested)
			if _, err := w.svc.Complete(staff(), v.ID, dsr.Completion{}); err != nil {
				t.Fatal(err)
			}
			check(consent.ReasonRestricted)
		})
	}
}
