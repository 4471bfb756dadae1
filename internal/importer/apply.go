package importer

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
)

// pending collects a batch's writes in row order.
type pending struct {
	keys         []contact.WrappedKey
	contacts     []*contact.Record
	events       []*consent.Event
	evidence     [][]byte
	current      map[string]consent.Current // by contact id: the batch's last projection
	currentOrder []string
	suppressions []consent.Suppression
	unsubscribes []consent.PurposeUnsubscribe
	objections   []objection // an unsubscribe from a list not based on consent
	audit        []*audit.Event
	changes      []consent.Change // for processors: every event that became the current state
}

// objection is a contact's objection to the import's purpose, made at the row's time.
type objection struct {
	contactID string
	at        time.Time
}

// applying is one batch being applied in one transaction: the store's state for the batch's
// addresses, updated by the batch's own earlier rows, and the writes and counts so far.
type applying struct {
	im       *Importer
	ctx      context.Context
	tx       Tx
	mapper   Mapper
	opt      Options
	purpose  consent.Purpose
	policies consent.PolicyState

	ids          map[string]string          // e-mail index → contact id
	suppressed   map[string]string          // suppression hash → reason (address-wide)
	unsubscribed map[string]time.Time       // suppression hash → when it left the purpose's list
	confirmed    map[string]time.Time       // suppression hash → when its contact last confirmed a double opt-in
	current      map[string]consent.Current // contact id → projected state for the purpose
	restricted   map[string]bool
	newKeys      map[string]*keys.DataKey // contacts created in this batch
	// older holds the (primary) suppression hashes of addresses with entries under an older
	// key of the blind-index keyset: a contact created for one takes them over (consent.Rekey).
	older map[string]bool
	// stored maps the (primary) suppression hash of an address whose contact is still indexed
	// under an older key (a rotation not yet at it) to the hash that contact stores, which the
	// consent gate matches: entries for that address are written under it.
	stored map[string][]byte

	p   pending
	out Report // this batch's counts, added to the import's report only when the batch commits
}

// storeBatch applies the import rules to a batch against the store's state plus the batch's own
// earlier rows:
//   - subscribed (and pending): a suppressed address, an address that left the purpose's list,
//     or an existing contact whose consent for the purpose was withdrawn or refused, is not
//     imported (counted suppressed): an import never lifts a suppression or a withdrawal.
//     Otherwise the contact is created if new, and a dpv:ConsentGiven event is recorded when the
//     contact has no given consent yet (pending rows record dpv:ConsentRequested).
//   - unsubscribed: the scope of the list, which is the import's purpose only
//     (consent.Purpose.Leaving, as the unsubscribe link): the address's keyed hash is kept for
//     the purpose (consent.PurposeUnsubscribe) and an existing contact's consent for the purpose
//     is withdrawn (an objection is recorded at the row's time, for a purpose not based on consent). No personal
//     data is stored for an address without a contact; other purposes stay as they were.
//   - cleaned: the address bounced, which concerns every purpose: an address-wide suppression
//     entry (reason bounced), and nothing else; but a row whose CLEAN_TIME is older than the
//     person's own confirmed double opt-in at the address is outdated (consent.Outdated: that
//     confirmation was their way back) and suppresses nothing (counted outdated_suppressions).
//   - no status (generic): the contact is created if new and not suppressed; no consent.
func (im *Importer) storeBatch(ctx context.Context, tx Tx, b batch, mapper Mapper, opt Options, purpose consent.Purpose, policies consent.PolicyState, rep *Report) error {
	a := &applying{im: im, ctx: ctx, tx: tx, mapper: mapper, opt: opt, purpose: purpose, policies: policies,
		newKeys: map[string]*keys.DataKey{}, p: pending{current: map[string]consent.Current{}}}
	if err := a.load(b); err != nil {
		return err
	}
	for _, it := range b.items {
		a.out.Rows++
		var err error
		switch {
		case it.refusal != nil:
			a.out.refuse(*it.refusal)
		case it.row.Status == StatusUnsubscribed:
			err = a.unsubscribe(it)
		case it.row.Status == StatusCleaned:
			a.clean(it)
		default:
			err = a.subscribe(it)
		}
		if err != nil {
			return err
		}
	}
	if err := a.write(rep.ID); err != nil {
		return err
	}
	rep.add(a.out)
	return nil
}

// load reads the store's state for the batch's addresses.
func (a *applying) load(b batch) error {
	var idx, sup [][]byte
	for _, it := range b.items {
		if it.refusal == nil {
			idx, sup = append(idx, it.indexes...), append(sup, it.supHashes...)
		}
	}
	ctx, tx := a.ctx, a.tx
	var err error
	if a.ids, err = tx.ContactIDsByEmailIndex(ctx, idx); err != nil {
		return err
	}
	if a.suppressed, err = tx.SuppressionReasons(ctx, sup); err != nil {
		return err
	}
	if a.unsubscribed, err = tx.PurposeUnsubscribesFor(ctx, sup, a.purpose.ID); err != nil {
		return err
	}
	if a.confirmed, err = tx.ConfirmedOptIns(ctx, sup); err != nil {
		return err
	}
	a.underPrimary(b)
	existing := make([]string, 0, len(a.ids))
	for _, id := range a.ids {
		existing = append(existing, id)
	}
	if a.current, err = tx.CurrentConsentsFor(ctx, existing, a.purpose.ID); err != nil {
		return err
	}
	a.restricted, err = tx.RestrictedAmong(ctx, existing)
	return err
}

// record appends a prepared event and its audit event, and makes it the current state when it
// supersedes the one on record; changed reports whether it did.
func (a *applying) record(ev consent.Event, sealed []byte) (changed bool) {
	var cur *consent.Current
	if c, ok := a.current[ev.ContactID]; ok {
		cur = &c
	}
	next, changed := consent.Project(ev, a.purpose, cur)
	if changed {
		// Imported consent records no policy version (the person saw the old system's
		// notice): after a material change of ours it needs re-consent, like any other.
		next.NeedsReconsent = ev.State == consent.Given && a.policies.Stale(a.purpose, ev.PolicyVersions)
		if next.NeedsReconsent {
			a.out.NeedsReconsent++
		}
		if ev.State == consent.Given && a.purpose.Lapsed(ev.OccurredAt, a.im.Now().UTC()) {
			a.out.Expired++
		}
		a.p.changes = append(a.p.changes, consent.ChangeFor(ev))
		a.current[ev.ContactID] = next
		if _, seen := a.p.current[ev.ContactID]; !seen {
			a.p.currentOrder = append(a.p.currentOrder, ev.ContactID)
		}
		a.p.current[ev.ContactID] = next
	}
	e := ev
	a.p.events = append(a.p.events, &e)
	a.p.evidence = append(a.p.evidence, sealed)
	au := consent.AuditEvent(a.ctx, e)
	a.p.audit = append(a.p.audit, &au)
	switch ev.State {
	case consent.Given:
		a.out.ConsentsRecorded++
	case consent.Requested:
		a.out.Requests++
	} // a withdrawal is counted by its row (Withdrawals, OutdatedWithdrawals)
	return changed
}

// recordFor prepares and records an event for a contact that exists (in the store or earlier in
// this batch), opening its data key to seal the evidence. changed reports whether the event
// became the current state. The consent rules' refusal of the event is an Invalid error.
func (a *applying) recordFor(id string, ev consent.Event) (changed bool, err error) {
	dk := a.newKeys[id]
	if dk == nil {
		version, wrapped, err := a.tx.DataKey(a.ctx, id)
		if err != nil {
			return false, err
		}
		if dk, err = a.im.Keys.OpenDataKey(id, version, wrapped); err != nil {
			return false, err
		}
	}
	ev, sealed, err := a.im.Consent.Prepare(a.ctx, a.purpose, ev, dk)
	if err != nil {
		return false, err
	}
	return a.record(ev, sealed), nil
}

// refused reports whether err is the consent rules' refusal of a row's event; it then counts
// the row as refused, naming the file's column of the event's time (timeCol).
func (a *applying) refused(line int, err error, timeCol string) bool {
	e := apperr.As(err)
	if e == nil || e.Kind != apperr.Invalid {
		return false
	}
	a.out.refuse(eventRefusal(line, e, timeCol))
	return true
}

// unsubscribe applies an unsubscribed row: the person left the list of the import's purpose,
// and only that one (see storeBatch).
func (a *applying) unsubscribe(it item) error {
	row := it.row
	at, err := consent.EventTime(row.ChangedTime, a.im.Now().UTC())
	if a.refused(it.line, err, row.ChangedColumn) {
		return nil
	}
	id, found := a.ids[string(it.index)]
	if found {
		switch a.purpose.Leaving() {
		case consent.LeaveWithdraw:
			if c, ok := a.current[id]; !ok || c.State != consent.Withdrawn {
				ev := consent.Event{ContactID: id, Purpose: a.purpose.ID, State: consent.Withdrawn, Method: consent.MethodImport, OccurredAt: at,
					Evidence: consent.Evidence{Source: source(row, a.opt)}}
				changed, err := a.recordFor(id, ev)
				if err != nil {
					return err
				}
				if changed {
					a.out.Withdrawals++
				} else {
					// The file's unsubscribe predates the consent on record: it joins the
					// history, the newer consent stays current.
					a.out.OutdatedWithdrawals++
				}
			}
		case consent.LeaveObject:
			a.p.objections = append(a.p.objections, objection{contactID: id, at: at})
		}
	}
	if _, ok := a.unsubscribed[string(it.supHash)]; ok {
		a.out.ListUnsubscribesKnown++
		return nil
	}
	a.unsubscribed[string(it.supHash)] = at
	a.p.unsubscribes = append(a.p.unsubscribes, consent.PurposeUnsubscribe{Hash: it.supHash, Purpose: a.purpose.ID, At: at, RecordedAt: a.im.Now().UTC()})
	a.out.ListUnsubscribes++
	return nil
}

// clean applies a cleaned row: the address bounced, so it is suppressed for every purpose,
// unless the bounce is older than the person's own later confirmed double opt-in. Its time
// (CLEAN_TIME) obeys the rule of every event's time (consent.EventTime): one in the future or
// before 1990 refuses the row naming the file's column, as it would make the ledger that carries
// the suppression unreplayable.
func (a *applying) clean(it item) {
	at, err := consent.EventTime(it.row.ChangedTime, a.im.Now().UTC())
	if a.refused(it.line, err, it.row.ChangedColumn) {
		return
	}
	if _, ok := a.suppressed[string(it.supHash)]; ok {
		a.out.SuppressionsKnown++
		return
	}
	hash := it.supHash
	if h, ok := a.stored[string(it.supHash)]; ok {
		hash = h // its contact is not re-indexed yet: the gate matches the hash it stores
	}
	s := consent.Suppression{Hash: hash, Reason: consent.SuppressionBounced, CreatedAt: at.UTC()}
	if consent.Outdated(s, a.confirmed[string(it.supHash)]) {
		a.out.OutdatedSuppressions++
		return
	}
	a.p.suppressions = append(a.p.suppressions, s)
	a.suppressed[string(it.supHash)] = consent.SuppressionBounced
	a.out.SuppressionsAdded++
}

// subscribe applies a subscribed, pending or status-less row.
func (a *applying) subscribe(it item) error {
	row := it.row
	if _, ok := a.suppressed[string(it.supHash)]; ok {
		a.out.Suppressed++
		return nil
	}
	left, unsubscribed := a.unsubscribed[string(it.supHash)]
	id, found := a.ids[string(it.index)]
	if !found {
		if unsubscribed && row.Status != StatusNone {
			a.out.Suppressed++ // the address left the purpose's list: no import subscribes it again
			return nil
		}
		return a.create(it)
	}
	if a.restricted[id] {
		a.out.Restricted++
		return nil
	}
	c, hasState := a.current[id]
	if unsubscribed {
		// The state as the gate reads it: the address's unsubscribe from the list withdraws,
		// unless the person consented again since.
		f := consent.Facts{UnsubscribedAt: &left}
		if hasState {
			f.Current = &c
		}
		if eff := f.Effective(a.purpose); eff != nil {
			c, hasState = *eff, true
		}
	}
	switch {
	case hasState && (c.State == consent.Withdrawn || c.State == consent.Refused):
		a.out.Suppressed++
	case row.Status == StatusNone,
		hasState && c.State == consent.Given,
		hasState && c.State == consent.Requested && row.Status == StatusPending:
		a.out.Existing++
	case hasState && row.OptinTime.IsZero() && row.ConfirmTime.IsZero():
		// A state is on record and the row has no time of its own: it cannot show that
		// consent came after that state (an expiry, say), so nothing is recorded.
		a.out.Existing++
	default:
		ev, timeCol := consentEvent(row, a.opt, a.purpose, id, a.mapper)
		if _, err := a.recordFor(id, ev); err != nil {
			if a.refused(it.line, err, timeCol) {
				return nil
			}
			return err
		}
		a.out.Existing++
	}
	return nil
}

// create stores the new contact of a row and its consent event; the optional cells it had to
// leave out are reported.
func (a *applying) create(it item) error {
	if it.prepErr != nil {
		e := apperr.As(it.prepErr)
		a.out.refuse(RowReport{Line: it.line, Field: e.Field, Code: e.Reason, Reason: e.Message})
		return nil
	}
	pc := it.prep
	a.p.keys = append(a.p.keys, contact.WrappedKey{ContactID: pc.Contact.ID, Version: pc.Key.Version(), Wrapped: pc.WrappedKey, CreatedAt: pc.Contact.CreatedAt})
	a.p.contacts = append(a.p.contacts, pc.Record)
	au := pc.AuditEvent(a.ctx)
	a.p.audit = append(a.p.audit, &au)
	a.ids[string(it.index)] = pc.Contact.ID
	a.newKeys[pc.Contact.ID] = pc.Key
	a.out.Created++
	a.out.warn(it.warnings)
	if it.hasEvent {
		a.record(it.event, it.evidence)
	}
	return nil
}

// write stores the batch's writes, its objections and its refused rows (at most one batch of
// them in memory; the report keeps counts and the first few).
func (a *applying) write(importID string) error {
	ctx, tx, p := a.ctx, a.tx, a.p
	if err := tx.InsertDataKeys(ctx, p.keys); err != nil {
		return err
	}
	if err := tx.InsertContacts(ctx, p.contacts); err != nil {
		return err
	}
	for _, rec := range p.contacts {
		if a.older[string(rec.SuppressionHash)] {
			if err := consent.Rekey(ctx, tx, rec.SuppressionHash, rec.SuppressionHashes[1:]); err != nil {
				return err
			}
		}
	}
	if err := tx.InsertConsentEvents(ctx, p.events, p.evidence); err != nil {
		return err
	}
	cur := make([]consent.Current, 0, len(p.currentOrder))
	for _, id := range p.currentOrder {
		cur = append(cur, p.current[id])
	}
	if err := tx.PutCurrentConsents(ctx, cur); err != nil {
		return err
	}
	if err := tx.AddSuppressions(ctx, p.suppressions); err != nil {
		return err
	}
	if err := tx.AddPurposeUnsubscribes(ctx, p.unsubscribes); err != nil {
		return err
	}
	if err := tx.AppendConsentChanges(ctx, p.changes); err != nil {
		return err
	}
	if err := tx.AppendAudits(ctx, p.audit); err != nil {
		return err
	}
	for _, o := range p.objections {
		// After the contacts: one created earlier in this batch exists now.
		recorded, err := a.im.Consent.ObjectAtIn(ctx, tx, o.contactID, a.purpose.ID, consent.MethodImport, o.at)
		if err != nil {
			return err
		}
		if recorded {
			a.out.Objections++
		}
	}
	return tx.AddImportErrors(ctx, importID, a.out.Errors)
}

// underPrimary files what load found under an older key of the blind-index keyset (a contact
// not re-indexed yet, an entry of an address that is gone) under the primary key's index and
// hash of each row, where the rules look: a contact under any key is the row's contact, an entry
// under any key suppresses it, and an unsubscribe counts from the earliest.
func (a *applying) underPrimary(b batch) {
	a.older, a.stored = map[string]bool{}, map[string][]byte{}
	for _, it := range b.items {
		if it.refusal != nil || len(it.indexes) < 2 {
			continue
		}
		for k, i := range it.indexes[1:] {
			if id, ok := a.ids[string(i)]; ok && a.ids[string(it.index)] == "" {
				a.ids[string(it.index)] = id
				if k+1 < len(it.supHashes) {
					a.stored[string(it.supHash)] = it.supHashes[k+1] // the same key made both
				}
			}
		}
		for _, h := range it.supHashes[1:] {
			if r, ok := a.suppressed[string(h)]; ok {
				a.older[string(it.supHash)] = true
				if _, held := a.suppressed[string(it.supHash)]; !held {
					a.suppressed[string(it.supHash)] = r
				}
			}
			if at, ok := a.confirmed[string(h)]; ok && at.After(a.confirmed[string(it.supHash)]) {
				a.confirmed[string(it.supHash)] = at
			}
			if at, ok := a.unsubscribed[string(h)]; ok {
				a.older[string(it.supHash)] = true
				if held, ok := a.unsubscribed[string(it.supHash)]; !ok || at.Before(held) {
					a.unsubscribed[string(it.supHash)] = at
				}
			}
		}
	}
}
