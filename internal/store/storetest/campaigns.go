package storetest

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
)

// checkCampaign compares a stored campaign with want: every stored field, times as instants.
func checkCampaign(t *testing.T, got, want campaign.Campaign) {
	t.Helper()
	checkTime(t, "campaign "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	for _, p := range []struct {
		name      string
		got, want *time.Time
	}{{"QueuedAt", got.QueuedAt, want.QueuedAt}, {"FinishedAt", got.FinishedAt, want.FinishedAt}} {
		if (p.got == nil) != (p.want == nil) {
			t.Errorf("campaign %s %s = %v; want %v", want.ID, p.name, p.got, p.want)
		} else if p.got != nil {
			checkTime(t, "campaign "+want.ID+" "+p.name, *p.got, *p.want)
		}
	}
	got.CreatedAt, got.QueuedAt, got.FinishedAt = want.CreatedAt, want.QueuedAt, want.FinishedAt
	if len(got.Walk.SkippedBy) == 0 && len(want.Walk.SkippedBy) == 0 {
		got.Walk.SkippedBy = want.Walk.SkippedBy
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("campaign = %+v; want %+v", got, want)
	}
}

// testCampaigns: a campaign comes back as written; its send is recorded once (then Conflict);
// its walk's progress is stored as given, every reason's count replaced; SendingCampaigns lists
// the sent ones whose walk has not ended, oldest send first.
func testCampaigns(t *testing.T, s *suite) {
	news := campaign.Campaign{ID: "camp-b", Kind: campaign.KindMarketing, Purpose: "newsletter", Subject: "Spring news", Text: "Hello",
		HTML: "<p>Hello</p>", Audience: campaign.Audience{Kind: contact.KindContact, Tag: "vip"}, CreatedAt: t0}
	ask := campaign.Campaign{ID: "camp-a", Kind: campaign.KindConsentRequest, IncludeNoHistory: true, Purpose: "newsletter",
		Subject: "May we write?", Text: "Please confirm", CreatedAt: t1}
	third := campaign.Campaign{ID: "camp-c", Kind: campaign.KindMarketing, Purpose: "newsletter", Subject: "s", Text: "t", CreatedAt: t2}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, c := range []campaign.Campaign{news, ask, third} {
			if err := tx.InsertCampaign(s.ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.CampaignByID(s.ctx, "camp-b")
		if err != nil {
			return err
		}
		checkCampaign(t, got, news)
		_, err = tx.CampaignByID(s.ctx, "camp-none")
		wantKind(t, "CampaignByID(missing)", err, apperr.NotFound)
		list, err := tx.ListCampaigns(s.ctx)
		if err != nil {
			return err
		}
		// Newest first (campaign.Service.List passes the order on).
		if len(list) != 3 || list[0].ID != "camp-c" || list[1].ID != "camp-a" || list[2].ID != "camp-b" {
			t.Errorf("ListCampaigns = %+v; want camp-c, camp-a, camp-b (newest first)", list)
		} else {
			checkCampaign(t, list[1], ask)
		}
		if ids, err := tx.SendingCampaigns(s.ctx); err != nil || len(ids) != 0 {
			t.Errorf("SendingCampaigns before any send = %v, %v; want none", ids, err)
		}
		// Sent in the order c (t1), b (t2), a (t2 + 1ns).
		for _, q := range []struct {
			id, end string
			at      time.Time
		}{{"camp-c", "", t1}, {"camp-b", "c-9", t2}, {"camp-a", "c-7", t2.Add(time.Nanosecond)}} {
			if err := tx.SetCampaignQueued(s.ctx, q.id, q.at, q.end); err != nil {
				return err
			}
		}
		e := wantKind(t, "SetCampaignQueued twice", tx.SetCampaignQueued(s.ctx, "camp-b", t2, "c-9"), apperr.Conflict)
		if e != nil && e.ID != "camp-b" {
			t.Errorf("Conflict ID = %q; want camp-b", e.ID)
		}
		ids, err := tx.SendingCampaigns(s.ctx)
		if err != nil || !slices.Equal(ids, []string{"camp-c", "camp-b", "camp-a"}) {
			t.Errorf("SendingCampaigns = %v, %v; want camp-c, camp-b, camp-a (oldest send first)", ids, err)
		}
		return nil
	})
	first := campaign.Walk{End: "c-9", Cursor: "c-3", Walked: 3, Messages: 2, SkippedBy: map[string]int{"no_consent": 1}}
	s.update(t, func(tx Tx) error { return tx.AdvanceCampaign(s.ctx, "camp-b", first, nil) })
	s.update(t, func(tx Tx) error {
		got, err := tx.CampaignByID(s.ctx, "camp-b")
		if err != nil {
			return err
		}
		want := news
		queued := t2
		want.QueuedAt, want.Walk = &queued, first
		checkCampaign(t, got, want)
		return nil
	})
	done := campaign.Walk{End: "c-9", Cursor: "c-9", Walked: 9, Messages: 6, SkippedBy: map[string]int{"no_consent": 2, "suppressed": 1}}
	s.update(t, func(tx Tx) error { return tx.AdvanceCampaign(s.ctx, "camp-b", done, &t2) })
	s.view(t, func(tx Tx) error {
		got, err := tx.CampaignByID(s.ctx, "camp-b")
		if err != nil {
			return err
		}
		want := news
		queued, finished := t2, t2
		want.QueuedAt, want.FinishedAt, want.Walk = &queued, &finished, done
		checkCampaign(t, got, want)
		if ids, err := tx.SendingCampaigns(s.ctx); err != nil || !slices.Equal(ids, []string{"camp-c", "camp-a"}) {
			t.Errorf("SendingCampaigns after camp-b's walk ended = %v, %v; want camp-c, camp-a", ids, err)
		}
		return nil
	})
}

// testLastContactID: the greatest contact id of a kind ("" kind: any kind), "" when none.
func testLastContactID(t *testing.T, s *suite) {
	s.view(t, func(tx Tx) error {
		if id, err := tx.LastContactID(s.ctx, ""); err != nil || id != "" {
			t.Errorf("LastContactID on an empty store = %q, %v; want \"\"", id, err)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		return insertContacts(s.ctx, tx, minimalRecord("lc-2", contact.KindLead, nil, nil), minimalRecord("lc-3", contact.KindContact, nil, nil),
			minimalRecord("lc-1", contact.KindContact, nil, nil), minimalRecord("lc-10", contact.KindLead, nil, nil))
	})
	s.view(t, func(tx Tx) error {
		for kind, want := range map[contact.Kind]string{"": "lc-3", contact.KindContact: "lc-3", contact.KindLead: "lc-2"} {
			if id, err := tx.LastContactID(s.ctx, kind); err != nil || id != want {
				t.Errorf("LastContactID(%q) = %q, %v; want %q (ids compare as strings)", kind, id, err, want)
			}
		}
		return nil
	})
}

// testCampaignRecipients: a campaign's recipients are its outbox messages (status and last
// error) and its skips, merged in contact id order a page at a time; a skip recorded twice keeps
// its first reason; CampaignOutcomes counts the messages by status and the skipped ones by
// reason.
func testCampaignRecipients(t *testing.T, s *suite) {
	msg := func(id, cid, status, lastErr string) mail.Entry {
		e := entry(id, cid, "campaign", t0)
		e.Stream, e.Status, e.LastError, e.Purpose, e.CampaignID = mail.Marketing, status, lastErr, "newsletter", "camp-r"
		return e
	}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, id := range []string{"cr-1", "cr-2", "cr-3", "cr-4", "cr-5", "cr-6"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, nil, nil)); err != nil {
				return err
			}
		}
		for _, c := range []string{"camp-r", "camp-other"} {
			if err := tx.InsertCampaign(s.ctx, campaign.Campaign{ID: c, Kind: campaign.KindMarketing, Purpose: "newsletter", Subject: "s", Text: "t", CreatedAt: t0}); err != nil {
				return err
			}
		}
		other := entry("cm-x", "cr-1", "campaign", t0)
		other.CampaignID = "camp-other"
		for _, e := range []mail.Entry{msg("cm-5", "cr-5", mail.StatusSent, ""), msg("cm-1", "cr-1", mail.StatusQueued, "smtp 451"),
			msg("cm-3", "cr-3", mail.StatusSkipped, "withdrawn"), msg("cm-6", "cr-6", mail.StatusSkipped, "withdrawn"), other} {
			if err := tx.InsertOutbox(s.ctx, e); err != nil {
				return err
			}
		}
		return tx.AddCampaignSkips(s.ctx, "camp-r", []campaign.Skip{{ContactID: "cr-4", Reason: "no_consent"}, {ContactID: "cr-2", Reason: "suppressed"}})
	})
	s.update(t, func(tx Tx) error {
		return tx.AddCampaignSkips(s.ctx, "camp-r", []campaign.Skip{{ContactID: "cr-2", Reason: "restricted"}})
	})
	all := []campaign.Recipient{
		{ContactID: "cr-1", Outcome: mail.StatusQueued, Reason: "smtp 451"},
		{ContactID: "cr-2", Outcome: "skipped", Reason: "suppressed"},
		{ContactID: "cr-3", Outcome: mail.StatusSkipped, Reason: "withdrawn"},
		{ContactID: "cr-4", Outcome: "skipped", Reason: "no_consent"},
		{ContactID: "cr-5", Outcome: mail.StatusSent},
		{ContactID: "cr-6", Outcome: mail.StatusSkipped, Reason: "withdrawn"},
	}
	s.view(t, func(tx Tx) error {
		for _, c := range []struct {
			after string
			limit int
			want  []campaign.Recipient
		}{
			{"", 10, all},
			{"", 2, all[:2]},
			{"cr-2", 3, all[2:5]},
			{"cr-25", 10, all[2:]}, // a cursor need not be a recipient ("cr-25" < "cr-3")
			{"cr-6", 10, nil},
		} {
			got, err := tx.CampaignRecipients(s.ctx, "camp-r", c.after, c.limit)
			if err != nil {
				return err
			}
			if len(got) != 0 || len(c.want) != 0 {
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("CampaignRecipients(after %q, %d) = %+v; want %+v", c.after, c.limit, got, c.want)
				}
			}
		}
		byStatus, skippedBy, err := tx.CampaignOutcomes(s.ctx, "camp-r")
		if err != nil {
			return err
		}
		if want := map[string]int{mail.StatusQueued: 1, mail.StatusSent: 1, mail.StatusSkipped: 2}; !maps.Equal(byStatus, want) {
			t.Errorf("CampaignOutcomes by status = %v; want %v", byStatus, want)
		}
		if want := map[string]int{"withdrawn": 2}; !maps.Equal(skippedBy, want) {
			t.Errorf("CampaignOutcomes skipped by = %v; want %v (at hand-off only)", skippedBy, want)
		}
		return nil
	})
}
