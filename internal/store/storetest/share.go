package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
)

// processor returns a processor record with every field set.
func processor(id string) *share.Record {
	signed, expires := t0, t2
	return &share.Record{
		Processor: share.Processor{ID: id, Name: "Processor " + id, Role: share.RoleProcessor, Purposes: []string{"newsletter", "offers"},
			DataCategories: []string{"email", "first_name"}, Country: "US", TransferMechanism: "adequacy", DPFCertified: true,
			DPAStatus: share.DPASigned, DPASignedAt: &signed, DPAExpiresAt: &expires, DPADocument: "vault://dpa/" + id,
			ContactEmail: "privacy@" + id + ".example", WebhookURL: "https://" + id + ".example/hook", HasWebhookSecret: true,
			CreatedAt: t0, UpdatedAt: t1, Version: 1},
		KeyVersion: 1, WebhookSecret: []byte("sealed-secret-" + id + "\x00"),
	}
}

// checkProcessor compares a stored processor with want: every field, times as instants.
func checkProcessor(t *testing.T, got, want *share.Record) {
	t.Helper()
	if got == nil {
		t.Errorf("processor %s: got nil", want.ID)
		return
	}
	g, w := *got, *want
	checkTime(t, "processor "+w.ID+" CreatedAt", g.CreatedAt, w.CreatedAt)
	checkTime(t, "processor "+w.ID+" UpdatedAt", g.UpdatedAt, w.UpdatedAt)
	for _, p := range []struct {
		name      string
		got, want *time.Time
	}{{"DPASignedAt", g.DPASignedAt, w.DPASignedAt}, {"DPAExpiresAt", g.DPAExpiresAt, w.DPAExpiresAt}, {"EndedAt", g.EndedAt, w.EndedAt}} {
		if (p.got == nil) != (p.want == nil) {
			t.Errorf("processor %s %s = %v; want %v", w.ID, p.name, p.got, p.want)
		} else if p.got != nil {
			checkTime(t, "processor "+w.ID+" "+p.name, *p.got, *p.want)
		}
	}
	g.CreatedAt, g.UpdatedAt, g.DPASignedAt, g.DPAExpiresAt, g.EndedAt = w.CreatedAt, w.UpdatedAt, w.DPASignedAt, w.DPAExpiresAt, w.EndedAt
	if !reflect.DeepEqual(g, w) {
		t.Errorf("processor = %+v; want %+v", g, w)
	}
}

// testProcessors: a processor comes back as written, every field; a taken id is a Conflict
// naming it; an update replaces it whole (NotFound when absent); an ended processor stays known.
func testProcessors(t *testing.T, s *suite) {
	a, b := processor("pr-a"), processor("pr-b")
	b.Purposes, b.DataCategories, b.WebhookURL, b.WebhookSecret, b.HasWebhookSecret = []string{}, []string{}, "", nil, false
	b.DPASignedAt, b.DPAExpiresAt, b.DPAStatus, b.DPFCertified, b.Role = nil, nil, share.DPARequested, false, share.RoleController
	s.update(t, func(tx Tx) error {
		for _, r := range []*share.Record{b, a} {
			if err := tx.InsertProcessor(s.ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.InsertProcessor(s.ctx, processor("pr-a")) })
	if e := wantKind(t, "InsertProcessor(taken id)", err, apperr.Conflict); e != nil && e.ID != "pr-a" {
		t.Errorf("Conflict ID = %q; want pr-a", e.ID)
	}
	ended := processor("pr-a")
	end := t2
	ended.Name, ended.EndedAt, ended.Version, ended.UpdatedAt = "Renamed", &end, 2, t2
	s.update(t, func(tx Tx) error {
		for _, r := range []*share.Record{a, b} {
			got, err := tx.ProcessorByID(s.ctx, r.ID)
			if err != nil {
				return err
			}
			checkProcessor(t, got, r)
		}
		_, err := tx.ProcessorByID(s.ctx, "pr-none")
		wantKind(t, "ProcessorByID(missing)", err, apperr.NotFound)
		if err := tx.UpdateProcessor(s.ctx, ended); err != nil {
			return err
		}
		wantKind(t, "UpdateProcessor(missing)", tx.UpdateProcessor(s.ctx, processor("pr-none")), apperr.NotFound)
		return nil
	})
	s.view(t, func(tx Tx) error {
		list, err := tx.ListProcessors(s.ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 {
			t.Errorf("ListProcessors = %d; want 2", len(list))
			return nil
		}
		// In id order (share.Service.List passes it on).
		checkProcessor(t, list[0], ended)
		checkProcessor(t, list[1], b)
		for id, want := range map[string]bool{"pr-a": true, "pr-b": true, "pr-none": false} {
			if known, err := tx.ProcessorKnown(s.ctx, id); err != nil || known != want {
				t.Errorf("ProcessorKnown(%s) = %v, %v; want %v (ended ones too)", id, known, err, want)
			}
		}
		return nil
	})
}

// testDisclosures: every disclosure asked for is recorded, allowed or refused, and read back
// oldest first; RecipientsOf and DisclosedPurposes count only the allowed ones.
func testDisclosures(t *testing.T, s *suite) {
	ds := []share.Disclosure{
		{ID: "d-3", ContactID: "dc-1", ProcessorID: "pr-b", Purpose: "offers", Fields: []string{"email"}, Allowed: true, Actor: "token:t", At: t2},
		{ID: "d-1", ContactID: "dc-1", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email", "first_name"}, Allowed: true, Actor: "token:t", At: t0},
		{ID: "d-2", ContactID: "dc-1", ProcessorID: "pr-c", Purpose: "newsletter", Fields: []string{"email"}, Reason: share.ReasonDPAMissing, Actor: "token:t", At: t1},
		{ID: "d-4", ContactID: "dc-1", ProcessorID: "pr-a", Purpose: "offers", Fields: []string{"phone"}, Allowed: true, Actor: "token:u", At: t2.Add(time.Nanosecond)},
		{ID: "d-5", ContactID: "dc-1", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email"}, Allowed: true, Actor: "token:u", At: t2.Add(time.Second)},
		{ID: "d-6", ContactID: "dc-2", ProcessorID: "pr-b", Purpose: "newsletter", Fields: []string{"email"}, Allowed: true, Actor: "token:t", At: t0},
	}
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("dc-1", contact.KindContact, nil, nil), minimalRecord("dc-2", contact.KindContact, nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		for _, id := range []string{"pr-a", "pr-b", "pr-c"} {
			if err := tx.InsertProcessor(s.ctx, processor(id)); err != nil {
				return err
			}
		}
		for _, d := range ds {
			if err := tx.InsertDisclosure(s.ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		got, err := tx.DisclosuresOf(s.ctx, "dc-1")
		if err != nil {
			return err
		}
		want := []share.Disclosure{ds[1], ds[2], ds[0], ds[3], ds[4]}
		if len(got) != len(want) {
			t.Errorf("DisclosuresOf(dc-1) = %d; want %d", len(got), len(want))
			return nil
		}
		for i := range want {
			checkTime(t, "disclosure "+want[i].ID+" At", got[i].At, want[i].At)
			got[i].At = want[i].At
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("DisclosuresOf(dc-1)[%d] = %+v; want %+v", i, got[i], want[i])
			}
		}
		recipients, err := tx.RecipientsOf(s.ctx, "dc-1")
		if slices.Sort(recipients); err != nil || !slices.Equal(recipients, []string{"pr-a", "pr-b"}) {
			t.Errorf("RecipientsOf(dc-1) = %v, %v; want pr-a, pr-b (not pr-c, refused)", recipients, err)
		}
		purposes, err := tx.DisclosedPurposes(s.ctx, "dc-1", "pr-a")
		if slices.Sort(purposes); err != nil || !slices.Equal(purposes, []string{"newsletter", "offers"}) {
			t.Errorf("DisclosedPurposes(dc-1, pr-a) = %v, %v; want newsletter, offers once each", purposes, err)
		}
		if purposes, err := tx.DisclosedPurposes(s.ctx, "dc-1", "pr-c"); err != nil || len(purposes) != 0 {
			t.Errorf("DisclosedPurposes(dc-1, pr-c) = %v, %v; want none (refused)", purposes, err)
		}
		if none, err := tx.DisclosuresOf(s.ctx, "dc-none"); err != nil || len(none) != 0 {
			t.Errorf("DisclosuresOf(unknown) = %v, %v; want none", none, err)
		}
		return nil
	})
}
