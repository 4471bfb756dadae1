package storetest

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/mail"
)

// request returns a request record received at received, due a month later, with every sealed
// column set.
func request(id string, typ dsr.Type, state dsr.State, ch dsr.Channel, received time.Time) *dsr.Record {
	return &dsr.Record{
		Request:    dsr.Request{ID: id, Type: typ, State: state, Channel: ch, ReceivedAt: received, DueAt: received.AddDate(0, 1, 0)},
		KeyVersion: 1, EmailIndex: []byte("req-bidx-" + id),
		Sealed:    map[string][]byte{"email": []byte("sealed-email-" + id), "details": []byte("sealed-details-" + id), "reason": []byte("sealed-reason-" + id)},
		UpdatedAt: received, Version: 1,
	}
}

// checkRequest compares a stored request with what was written: every field, times as
// instants in UTC.
func checkRequest(t *testing.T, got, want *dsr.Record) {
	t.Helper()
	if got == nil {
		t.Errorf("request %s: got nil", want.ID)
		return
	}
	checkTime(t, "request "+want.ID+" ReceivedAt", got.ReceivedAt, want.ReceivedAt)
	checkTime(t, "request "+want.ID+" DueAt", got.DueAt, want.DueAt)
	checkTime(t, "request "+want.ID+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	for _, p := range []struct {
		name      string
		got, want *time.Time
	}{{"ExtendedUntil", got.ExtendedUntil, want.ExtendedUntil}, {"CompletedAt", got.CompletedAt, want.CompletedAt}} {
		if (p.got == nil) != (p.want == nil) {
			t.Errorf("request %s %s = %v, want %v", want.ID, p.name, p.got, p.want)
		} else if p.got != nil {
			checkTime(t, "request "+want.ID+" "+p.name, *p.got, *p.want)
		}
	}
	g, w := *got, *want
	g.ReceivedAt, g.DueAt, g.UpdatedAt, g.ExtendedUntil, g.CompletedAt = time.Time{}, time.Time{}, time.Time{}, nil, nil
	w.ReceivedAt, w.DueAt, w.UpdatedAt, w.ExtendedUntil, w.CompletedAt = time.Time{}, time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request %s = %+v, want %+v", want.ID, g, w)
	}
}

func requestIDs(rs []*dsr.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// testRequestRoundTrip: a request comes back as written, every field; an update replaces it
// whole; a missing id is NotFound for RequestByID and UpdateRequest.
func testRequestRoundTrip(t *testing.T, s *suite) {
	r := request("req-1", dsr.TypeErasure, dsr.StateVerifying, dsr.ChannelPortal, t0)
	s.update(t, func(tx Tx) error { return tx.InsertRequest(s.ctx, r) })
	s.view(t, func(tx Tx) error {
		got, err := tx.RequestByID(s.ctx, "req-1")
		if err != nil {
			return err
		}
		checkRequest(t, got, r)
		_, err = tx.RequestByID(s.ctx, "req-none")
		wantKind(t, "RequestByID(missing)", err, apperr.NotFound)
		return nil
	})
	ext, done := t1, t2
	upd := request("req-1", dsr.TypeErasure, dsr.StateCompleted, dsr.ChannelPortal, t0)
	upd.ContactID, upd.Assignee, upd.ExtendedUntil, upd.CompletedAt = "c-1", "token:dpo", &ext, &done
	upd.EmailIndex, upd.Receipt, upd.Version, upd.UpdatedAt = nil, []byte(`{"tables":[]}`), 2, t2
	delete(upd.Sealed, "reason")
	s.update(t, func(tx Tx) error { return tx.UpdateRequest(s.ctx, upd) })
	s.view(t, func(tx Tx) error {
		got, err := tx.RequestByID(s.ctx, "req-1")
		if err != nil {
			return err
		}
		checkRequest(t, got, upd)
		return nil
	})
	err := s.h.Update(s.ctx, func(tx Tx) error {
		return tx.UpdateRequest(s.ctx, request("req-none", dsr.TypeAccess, dsr.StateReceived, dsr.ChannelEmail, t0))
	})
	wantKind(t, "UpdateRequest(missing)", err, apperr.NotFound)
}

// testListRequests: every filter of dsr.Filter narrows the list, in id order, a page at a time;
// RequestsByContact, UnverifiedRequestsFrom and StaleUnverified find theirs, oldest first.
func testListRequests(t *testing.T, s *suite) {
	a := request("req-a", dsr.TypeAccess, dsr.StateReceived, dsr.ChannelPortal, t0)
	b := request("req-b", dsr.TypeErasure, dsr.StateInProgress, dsr.ChannelEmail, t0)
	b.ContactID, b.Assignee = "c-1", "token:agent"
	c := request("req-c", dsr.TypeErasure, dsr.StateCompleted, dsr.ChannelPortal, t1)
	c.ContactID, c.CompletedAt = "c-1", &t2
	d := request("req-d", dsr.TypeObjection, dsr.StateExtended, dsr.ChannelPhone, t1)
	ext := t1.AddDate(0, 3, 0)
	d.ContactID, d.ExtendedUntil = "c-2", &ext
	e := request("req-e", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelPortal, t2)
	e.EmailIndex = a.EmailIndex // the same requester as req-a
	f := request("req-f", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelEmail, t0)
	s.update(t, func(tx Tx) error {
		for _, r := range []*dsr.Record{e, c, a, f, d, b} { // not in id order
			if err := tx.InsertRequest(s.ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, tc := range []struct {
			name string
			f    dsr.Filter
			want []string
		}{
			{"all", dsr.Filter{Limit: 10}, []string{"req-a", "req-b", "req-c", "req-d", "req-e", "req-f"}},
			{"a page", dsr.Filter{After: "req-b", Limit: 2}, []string{"req-c", "req-d"}},
			{"state", dsr.Filter{State: dsr.StateVerifying, Limit: 10}, []string{"req-e", "req-f"}},
			{"type", dsr.Filter{Type: dsr.TypeErasure, Limit: 10}, []string{"req-b", "req-c"}},
			{"assignee", dsr.Filter{Assignee: "token:agent", Limit: 10}, []string{"req-b"}},
			{"open", dsr.Filter{Open: true, Limit: 10}, []string{"req-a", "req-b", "req-d", "req-e", "req-f"}},
			{"closed", dsr.Filter{Closed: true, Limit: 10}, []string{"req-c"}},
			{"waiting", dsr.Filter{Waiting: true, Limit: 10}, []string{"req-a", "req-e", "req-f"}},
			// Due one month after t0: at that instant not overdue yet; the extended one not until its extension.
			{"not overdue at the t0 deadline", dsr.Filter{NotOverdueAt: t0.AddDate(0, 1, 0), Limit: 10}, []string{"req-a", "req-b", "req-c", "req-d", "req-e", "req-f"}},
			{"not overdue a nanosecond later", dsr.Filter{NotOverdueAt: t0.AddDate(0, 1, 0).Add(time.Nanosecond), Limit: 10}, []string{"req-c", "req-d", "req-e"}},
			{"due by the t1 deadline", dsr.Filter{DueBy: t1.AddDate(0, 1, 0), Limit: 10}, []string{"req-a", "req-b", "req-f"}},
			{"open erasures", dsr.Filter{Type: dsr.TypeErasure, Open: true, Limit: 10}, []string{"req-b"}},
		} {
			got, err := tx.ListRequests(s.ctx, tc.f)
			if err != nil {
				return err
			}
			if !slices.Equal(requestIDs(got), tc.want) {
				t.Errorf("ListRequests(%s) = %v; want %v", tc.name, requestIDs(got), tc.want)
			}
		}
		all, err := tx.ListRequests(s.ctx, dsr.Filter{Limit: 10})
		if err == nil && len(all) == 6 {
			checkRequest(t, all[3], d)
		}
		byContact, err := tx.RequestsByContact(s.ctx, "c-1")
		if err != nil {
			return err
		}
		if !slices.Equal(requestIDs(byContact), []string{"req-b", "req-c"}) {
			t.Errorf("RequestsByContact(c-1) = %v; want req-b, req-c", requestIDs(byContact))
		} else {
			checkRequest(t, byContact[1], c)
		}
		from, err := tx.UnverifiedRequestsFrom(s.ctx, a.EmailIndex)
		if err != nil {
			return err
		}
		if !slices.Equal(requestIDs(from), []string{"req-a", "req-e"}) {
			t.Errorf("UnverifiedRequestsFrom = %v; want req-a, req-e", requestIDs(from))
		}
		if from, err := tx.UnverifiedRequestsFrom(s.ctx, b.EmailIndex); err != nil || len(from) != 0 {
			t.Errorf("UnverifiedRequestsFrom(the address of a bound request) = %v, %v; want none", requestIDs(from), err)
		}
		// Portal requests waiting for identity received before the time: not req-f (e-mail), not
		// req-e (received at t2, not before it).
		stale, err := tx.StaleUnverified(s.ctx, t2, 10)
		if err != nil {
			return err
		}
		if !slices.Equal(requestIDs(stale), []string{"req-a"}) {
			t.Errorf("StaleUnverified(t2) = %v; want req-a", requestIDs(stale))
		}
		if stale, err := tx.StaleUnverified(s.ctx, t2.Add(time.Nanosecond), 1); err != nil || !slices.Equal(requestIDs(stale), []string{"req-a"}) {
			t.Errorf("StaleUnverified(after t2, limit 1) = %v, %v; want req-a", requestIDs(stale), err)
		}
		return nil
	})
}

// testRequestTimelineAndLinks: timeline entries come back in order with their sealed notes;
// a verification link is used once; links sent since a time are counted per address.
func testRequestTimelineAndLinks(t *testing.T, s *suite) {
	r, other := request("req-t", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelPortal, t0), request("req-o", dsr.TypeAccess, dsr.StateReceived, dsr.ChannelPortal, t0)
	evs := []*dsr.EventRecord{
		{ID: "rev-1", RequestID: "req-t", At: t0, Actor: "public", Action: "received", State: dsr.StateReceived},
		{ID: "rev-2", RequestID: "req-t", At: t0, Actor: "system:tillit", Action: "verification_sent", State: dsr.StateVerifying, Note: []byte("sealed-note\x00")},
		{ID: "rev-3", RequestID: "req-o", At: t1, Actor: "public", Action: "received", State: dsr.StateReceived},
		{ID: "rev-4", RequestID: "req-t", At: t1, Actor: "token:a", Action: "note", State: dsr.StateVerifying, Note: []byte("second")},
	}
	tokA := dsr.Token{Hash: []byte("rt-hash-a"), RequestID: "req-t", CreatedAt: t0, ExpiresAt: t1}
	tokB := dsr.Token{Hash: []byte("rt-hash-b"), RequestID: "req-t", CreatedAt: t1, ExpiresAt: t2}
	s.update(t, func(tx Tx) error {
		for _, x := range []*dsr.Record{r, other} {
			if err := tx.InsertRequest(s.ctx, x); err != nil {
				return err
			}
		}
		var last int64
		for _, e := range evs {
			if err := tx.AppendRequestEvent(s.ctx, e); err != nil {
				return err
			}
			if e.Seq <= last {
				t.Errorf("AppendRequestEvent %s: Seq %d after %d; want increasing", e.ID, e.Seq, last)
			}
			last = e.Seq
		}
		for _, tok := range []dsr.Token{tokA, tokB} {
			if err := tx.InsertRequestToken(s.ctx, tok); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.RequestEvents(s.ctx, "req-t")
		if err != nil {
			return err
		}
		want := []*dsr.EventRecord{evs[0], evs[1], evs[3]}
		if len(got) != len(want) {
			t.Errorf("RequestEvents = %d entries; want %d", len(got), len(want))
			return nil
		}
		for i, w := range want {
			g := got[i]
			checkTime(t, "entry "+w.ID+" At", g.At, w.At)
			g.At = w.At
			if !reflect.DeepEqual(g, *w) {
				t.Errorf("RequestEvents[%d] = %+v; want %+v", i, g, *w)
			}
		}
		tok, err := tx.RequestTokenByHash(s.ctx, tokA.Hash)
		if err != nil {
			return err
		}
		if !bytes.Equal(tok.Hash, tokA.Hash) || tok.RequestID != "req-t" || tok.UsedAt != nil {
			t.Errorf("RequestTokenByHash = %+v; want %+v", tok, tokA)
		}
		checkTime(t, "link CreatedAt", tok.CreatedAt, t0)
		checkTime(t, "link ExpiresAt", tok.ExpiresAt, t1)
		if err := tx.UseRequestToken(s.ctx, tokA.Hash, t1); err != nil {
			return err
		}
		wantKind(t, "UseRequestToken twice", tx.UseRequestToken(s.ctx, tokA.Hash, t2), apperr.NotFound)
		wantKind(t, "UseRequestToken(unknown)", tx.UseRequestToken(s.ctx, []byte("rt-none"), t2), apperr.NotFound)
		_, err = tx.RequestTokenByHash(s.ctx, []byte("rt-none"))
		wantKind(t, "RequestTokenByHash(unknown)", err, apperr.NotFound)
		if tok, err := tx.RequestTokenByHash(s.ctx, tokA.Hash); err != nil || tok.UsedAt == nil {
			t.Errorf("RequestTokenByHash after use = %+v, %v; want UsedAt set", tok, err)
		} else {
			checkTime(t, "link UsedAt", *tok.UsedAt, t1)
		}
		for _, c := range []struct {
			since time.Time
			want  int
		}{{time.Time{}, 2}, {t0, 2}, {t0.Add(time.Nanosecond), 1}, {t1, 1}, {t1.Add(time.Nanosecond), 0}} {
			if n, err := tx.LinksSentSince(s.ctx, [][]byte{r.EmailIndex}, c.since); err != nil || n != c.want {
				t.Errorf("LinksSentSince(%s) = %d, %v; want %d", c.since, n, err, c.want)
			}
		}
		if n, err := tx.LinksSentSince(s.ctx, [][]byte{other.EmailIndex}, time.Time{}); err != nil || n != 0 {
			t.Errorf("LinksSentSince(another address) = %d, %v; want 0", n, err)
		}
		return nil
	})
}

// testForgetRequest: forgetting a request destroys its key and its mail and drops its address
// index; the request, its timeline and its receipt stay (GDPR Art. 5(2)).
func testForgetRequest(t *testing.T, s *suite) {
	r := request("req-f", dsr.TypeErasure, dsr.StateCompleted, dsr.ChannelPortal, t0)
	r.Receipt = []byte(`{"receipt":1}`)
	keep := request("req-k", dsr.TypeAccess, dsr.StateReceived, dsr.ChannelPortal, t0)
	notice := func(id, reqID string) mail.Entry {
		return mail.Entry{ID: id, RequestID: reqID, Stream: mail.Transactional, Kind: "request_notice", Status: mail.StatusQueued,
			NextAttemptAt: t1, CreatedAt: t0, Sealed: []byte("sealed-" + id), Last: true}
	}
	s.update(t, func(tx Tx) error {
		for _, x := range []*dsr.Record{r, keep} {
			if err := tx.InsertRequest(s.ctx, x); err != nil {
				return err
			}
			if err := tx.InsertDataKey(s.ctx, x.ID, 1, []byte("wrapped-"+x.ID), t0); err != nil {
				return err
			}
			if err := tx.InsertOutbox(s.ctx, notice("mail-"+x.ID, x.ID)); err != nil {
				return err
			}
		}
		return tx.AppendRequestEvent(s.ctx, &dsr.EventRecord{ID: "fev-1", RequestID: "req-f", At: t0, Actor: "public", Action: "received", State: dsr.StateReceived, Note: []byte("n")})
	})
	s.update(t, func(tx Tx) error { return tx.ForgetRequest(s.ctx, "req-f") })
	s.view(t, func(tx Tx) error {
		_, _, err := tx.DataKey(s.ctx, "req-f")
		wantKind(t, "DataKey of a forgotten request", err, apperr.NotFound)
		_, err = tx.OutboxEntry(s.ctx, "mail-req-f")
		wantKind(t, "OutboxEntry of a forgotten request", err, apperr.NotFound)
		got, err := tx.RequestByID(s.ctx, "req-f")
		if err != nil {
			return err
		}
		want := *r
		want.EmailIndex = nil
		checkRequest(t, got, &want)
		if evs, err := tx.RequestEvents(s.ctx, "req-f"); err != nil || len(evs) != 1 {
			t.Errorf("RequestEvents of a forgotten request = %d, %v; want its one entry kept", len(evs), err)
		}
		if from, err := tx.UnverifiedRequestsFrom(s.ctx, r.EmailIndex); err != nil || len(from) != 0 {
			t.Errorf("UnverifiedRequestsFrom(its address) = %v, %v; want none", requestIDs(from), err)
		}
		// The other request keeps its key and its mail.
		if v, w, err := tx.DataKey(s.ctx, "req-k"); err != nil || v != 1 || string(w) != "wrapped-req-k" {
			t.Errorf("DataKey(req-k) = %d, %q, %v", v, w, err)
		}
		if e, err := tx.OutboxEntry(s.ctx, "mail-req-k"); err != nil || e.RequestID != "req-k" {
			t.Errorf("OutboxEntry(mail-req-k) = %+v, %v", e, err)
		}
		return nil
	})
	if live, err := s.h.MailOwnerLive(s.ctx, "", "req-f"); err != nil || live {
		t.Errorf("MailOwnerLive(forgotten request) = %v, %v; want false", live, err)
	}
	if live, err := s.h.MailOwnerLive(s.ctx, "", "req-k"); err != nil || !live {
		t.Errorf("MailOwnerLive(kept request) = %v, %v; want true", live, err)
	}
}

// testExports: a sealed access bundle is found by its link's hash until deleted (once: then
// NotFound) or swept when its link expired at or before now.
func testExports(t *testing.T, s *suite) {
	exp := func(id string, expires time.Time) dsr.Export {
		return dsr.Export{ID: id, ContactID: "x-1", RequestID: "req-x", TokenHash: []byte("xt-" + id), CreatedAt: t0, ExpiresAt: expires,
			Bytes: 1234, Sealed: []byte("sealed-bundle-" + id + "\x00")}
	}
	a, b, c := exp("ex-a", t1), exp("ex-b", t1.Add(time.Nanosecond)), exp("ex-c", t2)
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("x-1", "contact", nil, nil)); err != nil {
			return err
		}
		for _, e := range []dsr.Export{a, b, c} {
			if err := tx.InsertExport(s.ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.ExportByToken(s.ctx, c.TokenHash)
		if err != nil {
			return err
		}
		checkTime(t, "export CreatedAt", got.CreatedAt, c.CreatedAt)
		checkTime(t, "export ExpiresAt", got.ExpiresAt, c.ExpiresAt)
		got.CreatedAt, got.ExpiresAt = c.CreatedAt, c.ExpiresAt
		if !reflect.DeepEqual(got, c) {
			t.Errorf("ExportByToken = %+v; want %+v", got, c)
		}
		if err := tx.DeleteExport(s.ctx, "ex-c"); err != nil {
			return err
		}
		wantKind(t, "DeleteExport twice", tx.DeleteExport(s.ctx, "ex-c"), apperr.NotFound)
		_, err = tx.ExportByToken(s.ctx, c.TokenHash)
		wantKind(t, "ExportByToken after DeleteExport", err, apperr.NotFound)
		n, err := tx.DeleteExpiredExports(s.ctx, t1) // ex-a expires at t1 (swept), ex-b a nanosecond later (kept)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpiredExports(t1) = %d, %v; want 1", n, err)
		}
		_, err = tx.ExportByToken(s.ctx, a.TokenHash)
		wantKind(t, "ExportByToken of a swept export", err, apperr.NotFound)
		if got, err := tx.ExportByToken(s.ctx, b.TokenHash); err != nil || got.ID != "ex-b" {
			t.Errorf("ExportByToken(ex-b) = %+v, %v; want it kept", got, err)
		}
		if n, err := tx.DeleteExpiredExports(s.ctx, t1); err != nil || n != 0 {
			t.Errorf("DeleteExpiredExports(t1) again = %d, %v; want 0", n, err)
		}
		return nil
	})
}

// testLedgerRequests: the ledger carries verified requests of ledger.RequestTypes that are open
// (whatever since) or closed at or after since, with the time of their first "verified" entry.
func testLedgerRequests(t *testing.T, s *suite) {
	mk := func(id string, typ dsr.Type, state dsr.State, contactID string, closed *time.Time) *dsr.Record {
		r := request(id, typ, state, dsr.ChannelEmail, t0)
		r.ContactID, r.CompletedAt = contactID, closed
		return r
	}
	ext := t0.AddDate(0, 3, 0)
	open := mk("lr-open", dsr.TypeErasure, dsr.StateExtended, "c-1", nil)
	open.ExtendedUntil = &ext
	closedEarly := mk("lr-closed-early", dsr.TypeRestriction, dsr.StateCompleted, "c-1", &t1)
	closedLate := mk("lr-closed-late", dsr.TypeObjection, dsr.StateRejected, "c-2", &t2)
	for _, r := range []*dsr.Record{
		open, closedEarly, closedLate,
		mk("lr-access", dsr.TypeAccess, dsr.StateInProgress, "c-1", nil),            // not a ledger type
		mk("lr-unverified", dsr.TypeErasure, dsr.StateVerifying, "", nil),           // not verified
		mk("lr-unbound", dsr.TypeWithdrawConsent, dsr.StateInProgress, "", nil),     // bound to no contact
		mk("lr-withdraw", dsr.TypeWithdrawConsent, dsr.StateInProgress, "c-3", nil), // open
	} {
		s.update(t, func(tx Tx) error { return tx.InsertRequest(s.ctx, r) })
	}
	s.update(t, func(tx Tx) error {
		for i, at := range []time.Time{t1, t2} { // the first "verified" entry counts
			if err := tx.AppendRequestEvent(s.ctx, &dsr.EventRecord{ID: "lrv-" + string(rune('a'+i)), RequestID: "lr-open", At: at, Actor: "token:a", Action: "verified", State: dsr.StateInProgress}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []struct {
		since time.Time
		want  []string
	}{
		{time.Time{}, []string{"lr-closed-early", "lr-closed-late", "lr-open", "lr-withdraw"}},
		{t1, []string{"lr-closed-early", "lr-closed-late", "lr-open", "lr-withdraw"}},
		{t1.Add(time.Nanosecond), []string{"lr-closed-late", "lr-open", "lr-withdraw"}},
		{t2.Add(time.Nanosecond), []string{"lr-open", "lr-withdraw"}},
	} {
		s.view(t, func(tx Tx) error {
			got, err := tx.LedgerRequests(s.ctx, c.since)
			if err != nil {
				return err
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
				switch r.ID {
				case "lr-open":
					want := ledger.Request{ID: "lr-open", Type: "erasure", State: "extended", ContactID: "c-1", Channel: "email",
						ReceivedAt: t0, VerifiedAt: t1, DueAt: t0.AddDate(0, 1, 0), ExtendedUntil: ext}
					checkLedgerRequest(t, r, want)
				case "lr-closed-late":
					want := ledger.Request{ID: "lr-closed-late", Type: "objection", State: "rejected", ContactID: "c-2", Channel: "email",
						ReceivedAt: t0, DueAt: t0.AddDate(0, 1, 0), ClosedAt: t2}
					checkLedgerRequest(t, r, want)
				}
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("LedgerRequests(since %s) = %v; want %v", c.since, ids, c.want)
			}
			return nil
		})
	}
}

// checkLedgerRequest compares a ledger request with want, times as instants (zero stays zero).
func checkLedgerRequest(t *testing.T, got, want ledger.Request) {
	t.Helper()
	for _, p := range []struct {
		name      string
		got, want time.Time
	}{{"ReceivedAt", got.ReceivedAt, want.ReceivedAt}, {"VerifiedAt", got.VerifiedAt, want.VerifiedAt}, {"DueAt", got.DueAt, want.DueAt},
		{"ExtendedUntil", got.ExtendedUntil, want.ExtendedUntil}, {"ClosedAt", got.ClosedAt, want.ClosedAt}} {
		if p.want.IsZero() != p.got.IsZero() || !p.got.Equal(p.want) {
			t.Errorf("ledger request %s %s = %s; want %s", want.ID, p.name, p.got, p.want)
		}
	}
	got.ReceivedAt, got.VerifiedAt, got.DueAt, got.ExtendedUntil, got.ClosedAt = want.ReceivedAt, want.VerifiedAt, want.DueAt, want.ExtendedUntil, want.ClosedAt
	if got != want {
		t.Errorf("ledger request = %+v; want %+v", got, want)
	}
}
