package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// Queries read on the hot paths of the consent gate and token checks; prepared once on the
// reader pool at Open (see readQueries).
var (
	qPurposeByID = "SELECT " + purposeCols + " FROM purposes WHERE id = ?"
	qGateFacts   = `SELECT ` + gateFactsCols + `
		WHERE c.id = ?`
	// qGateFactsFor is qGateFacts for the contacts whose ids are in a JSON array.
	qGateFactsFor = `SELECT c.id, ` + gateFactsCols + `
		WHERE c.id IN (SELECT value FROM json_each(?))`
)

// openHoldRequest is true when contact c has a verified, open erasure or restriction request
// (consent.Facts.Hold): RestrictedAmong reads it beside the restriction.
const openHoldRequest = `EXISTS (SELECT 1 FROM requests r WHERE r.contact_id = c.id AND r.contact_id <> '' AND r.type IN ('erasure', 'restriction') AND r.state IN ('in_progress', 'extended'))`

// gateFactsCols are the gate's facts about contact c for a purpose (bound four times), with the
// FROM clause. A request is verified and open when it is bound to the contact (contact_id is set
// only by verification) and in_progress or extended (dsr.State).
const gateFactsCols = `c.restricted,
		EXISTS (SELECT 1 FROM requests r WHERE r.contact_id = c.id AND r.contact_id <> '' AND r.type = 'erasure' AND r.state IN ('in_progress', 'extended')),
		EXISTS (SELECT 1 FROM requests r WHERE r.contact_id = c.id AND r.contact_id <> '' AND r.type = 'restriction' AND r.state IN ('in_progress', 'extended')),
		(SELECT s.reason FROM suppressions s WHERE s.hash = c.suppression_hash),
		EXISTS (SELECT 1 FROM objections o WHERE o.contact_id = c.id AND o.scope = ?),
		EXISTS (SELECT 1 FROM objections o WHERE o.contact_id = c.id AND o.scope = 'direct_marketing'),
		EXISTS (SELECT 1 FROM consent_events e WHERE e.contact_id = c.id AND e.purpose_id = ? AND e.approval = 'pending'),
		(SELECT pu.at FROM purpose_unsubscribes pu WHERE pu.hash = c.suppression_hash AND pu.purpose_id = ?),
		cc.state, cc.lawful_basis, cc.method, cc.occurred_at, cc.policy_versions, cc.event_id, cc.needs_reconsent
		FROM contacts c LEFT JOIN consent_current cc ON cc.contact_id = c.id AND cc.purpose_id = ?`

const purposeCols = "id, name, description, lawful_basis, retention_days, double_opt_in, consent_valid_days, direct_marketing, sale_or_sharing, staff_approval, acceptance, created_at"

// PurposeByID returns the purpose; NotFound when absent. A purpose read once is kept for the rest
// of the transaction (an import batch asks for the same purpose for every row).
func (tx *Tx) PurposeByID(ctx context.Context, id string) (consent.Purpose, error) {
	if p, ok := tx.purposes[id]; ok {
		return p, nil
	}
	row, err := tx.queryRow(ctx, qPurposeByID, id)
	if err != nil {
		return consent.Purpose{}, err
	}
	p, err := scanPurpose(row)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Purpose{}, apperr.New(apperr.NotFound, "purpose not found")
	}
	if err != nil {
		return consent.Purpose{}, err
	}
	if tx.purposes == nil {
		tx.purposes = map[string]consent.Purpose{}
	}
	tx.purposes[id] = p
	return p, nil
}

// ListPurposes returns every purpose in id order.
func (tx *Tx) ListPurposes(ctx context.Context) ([]consent.Purpose, error) {
	rows, err := tx.query(ctx, "SELECT "+purposeCols+" FROM purposes ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []consent.Purpose{}
	for rows.Next() {
		p, err := scanPurpose(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// InsertPurpose stores a new purpose; Conflict when the id exists.
func (tx *Tx) InsertPurpose(ctx context.Context, p consent.Purpose) error {
	_, err := tx.exec(ctx, "INSERT INTO purposes ("+purposeCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.Name, p.Description, p.LawfulBasis, p.RetentionDays, p.DoubleOptIn, p.ConsentValidDays, p.DirectMarketing, p.SaleOrSharing, p.StaffApproval, p.Acceptance, formatTime(p.CreatedAt))
	if apperr.Is(err, apperr.Conflict) {
		return &apperr.Error{Kind: apperr.Conflict, Field: "id", Reason: "duplicate_id", Message: "id: a purpose with this id exists", ID: p.ID, Err: err}
	}
	return err
}

func scanPurpose(row scanner) (consent.Purpose, error) {
	var p consent.Purpose
	var created string
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &p.LawfulBasis, &p.RetentionDays, &p.DoubleOptIn, &p.ConsentValidDays, &p.DirectMarketing, &p.SaleOrSharing, &p.StaffApproval, &p.Acceptance, &created); err != nil {
		return p, err
	}
	var err error
	p.CreatedAt, err = parseTime(created)
	return p, err
}

// InsertConsentEvent appends a consent event with its sealed evidence.
func (tx *Tx) InsertConsentEvent(ctx context.Context, e *consent.Event, evidence []byte) error {
	pv, err := json.Marshal(e.PolicyVersions)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO consent_events (id, contact_id, purpose_id, state, method, policy_versions, notice_hash, occurred_at, recorded_at, actor, evidence_ct, approval, approved_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.ContactID, e.Purpose, string(e.State), string(e.Method), string(pv), e.NoticeHash,
		formatTime(e.OccurredAt), formatTime(e.RecordedAt), e.Actor, nilIfEmpty(evidence), e.Approval, e.ApprovedBy)
	return err
}

const eventCols = "id, contact_id, purpose_id, state, method, policy_versions, notice_hash, occurred_at, recorded_at, actor, evidence_ct, approval, approved_by"

// ConsentEvents returns the contact's events in recorded order and their sealed evidence.
func (tx *Tx) ConsentEvents(ctx context.Context, contactID string) ([]consent.Event, [][]byte, error) {
	rows, err := tx.query(ctx, "SELECT "+eventCols+" FROM consent_events WHERE contact_id = ? ORDER BY seq", contactID)
	if err != nil {
		return nil, nil, err
	}
	return scanEvents(rows)
}

// scanEvents reads rows of eventCols, returning the events and their sealed evidence, and closes
// them.
func scanEvents(rows *sql.Rows) ([]consent.Event, [][]byte, error) {
	defer rows.Close()
	var events []consent.Event
	var sealed [][]byte
	for rows.Next() {
		e, ev, err := scanEvent(rows)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, e)
		sealed = append(sealed, ev)
	}
	return events, sealed, rows.Err()
}

// ConsentEventByID returns one of the contact's events, without its evidence; NotFound when absent.
func (tx *Tx) ConsentEventByID(ctx context.Context, contactID, id string) (consent.Event, error) {
	row, err := tx.queryRow(ctx, "SELECT "+eventCols+" FROM consent_events WHERE contact_id = ? AND id = ?", contactID, id)
	if err != nil {
		return consent.Event{}, err
	}
	e, _, err := scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Event{}, apperr.New(apperr.NotFound, "consent event not found")
	}
	return e, err
}

// SetConsentApproval records the approval state of an event and who set it.
func (tx *Tx) SetConsentApproval(ctx context.Context, id, approval, by string) error {
	res, err := tx.exec(ctx, "UPDATE consent_events SET approval = ?, approved_by = ? WHERE id = ?", approval, by, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "consent event")
}

func scanEvent(row scanner) (consent.Event, []byte, error) {
	var e consent.Event
	var state, method, pv, occurred, recorded string
	var ev []byte
	if err := row.Scan(&e.ID, &e.ContactID, &e.Purpose, &state, &method, &pv, &e.NoticeHash, &occurred, &recorded, &e.Actor, &ev, &e.Approval, &e.ApprovedBy); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return e, nil, err
		}
		return e, nil, fmt.Errorf("store: scan consent event: %w", err)
	}
	e.State, e.Method = consent.State(state), consent.Method(method)
	if err := json.Unmarshal([]byte(pv), &e.PolicyVersions); err != nil {
		return e, nil, err
	}
	var err error
	if e.OccurredAt, err = parseTime(occurred); err != nil {
		return e, nil, err
	}
	if e.RecordedAt, err = parseTime(recorded); err != nil {
		return e, nil, err
	}
	return e, ev, nil
}

const currentCols = "contact_id, purpose_id, state, lawful_basis, method, occurred_at, policy_versions, event_id, needs_reconsent"

// CurrentConsent returns the projected state; NotFound when the contact has no event for purpose.
func (tx *Tx) CurrentConsent(ctx context.Context, contactID, purpose string) (consent.Current, error) {
	row, err := tx.queryRow(ctx, "SELECT "+currentCols+" FROM consent_current WHERE contact_id = ? AND purpose_id = ?", contactID, purpose)
	if err != nil {
		return consent.Current{}, err
	}
	c, err := scanCurrent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Current{}, apperr.New(apperr.NotFound, "no consent state")
	}
	return c, err
}

// CurrentConsents returns the contact's projected states in purpose order.
func (tx *Tx) CurrentConsents(ctx context.Context, contactID string) ([]consent.Current, error) {
	rows, err := tx.query(ctx, "SELECT "+currentCols+" FROM consent_current WHERE contact_id = ? ORDER BY purpose_id", contactID)
	if err != nil {
		return nil, err
	}
	return scanCurrents(rows)
}

// scanCurrents reads rows of currentCols and closes them.
func scanCurrents(rows *sql.Rows) ([]consent.Current, error) {
	defer rows.Close()
	var out []consent.Current
	for rows.Next() {
		c, err := scanCurrent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutCurrentConsent inserts or replaces the projected state for (contact, purpose).
func (tx *Tx) PutCurrentConsent(ctx context.Context, c consent.Current) error {
	pv, err := json.Marshal(c.PolicyVersions)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, "INSERT OR REPLACE INTO consent_current ("+currentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ContactID, c.Purpose, string(c.State), c.LawfulBasis, string(c.Method), formatTime(c.OccurredAt), string(pv), c.EventID, c.NeedsReconsent)
	return err
}

func scanCurrent(row scanner) (consent.Current, error) {
	var c consent.Current
	var state, method, occurred, pv string
	if err := row.Scan(&c.ContactID, &c.Purpose, &state, &c.LawfulBasis, &method, &occurred, &pv, &c.EventID, &c.NeedsReconsent); err != nil {
		return c, err
	}
	c.State, c.Method = consent.State(state), consent.Method(method)
	if err := json.Unmarshal([]byte(pv), &c.PolicyVersions); err != nil {
		return c, err
	}
	var err error
	c.OccurredAt, err = parseTime(occurred)
	return c, err
}

// SuppressionReason returns the reason of the suppression entry for the first of hashes that has
// one (an address's hash under each key of the blind-index keyset); NotFound when none.
func (tx *Tx) SuppressionReason(ctx context.Context, hashes ...[]byte) (string, error) {
	s, err := tx.Suppression(ctx, hashes...)
	return s.Reason, err
}

// Suppression returns the suppression entry for the first of hashes that has one (an address's
// hash under each key of the blind-index keyset, keys.Keyring.BlindIndexes; one hash: that
// hash's entry), unless another of them holds one that outranks it (consent.Outranks: an
// erasure); NotFound when none.
func (tx *Tx) Suppression(ctx context.Context, hashes ...[]byte) (consent.Suppression, error) {
	rows, err := tx.query(ctx, "SELECT hash, reason, created_at, recorded_at FROM suppressions WHERE hash IN "+inList(len(hashes)), blobs(hashes)...)
	if err != nil {
		return consent.Suppression{}, err
	}
	defer rows.Close()
	var found []consent.Suppression
	for rows.Next() {
		s, err := scanSuppression(rows.Scan)
		if err != nil {
			return consent.Suppression{}, err
		}
		found = append(found, s)
	}
	if err := rows.Err(); err != nil {
		return consent.Suppression{}, tx.base.translate(err)
	}
	s := firstOf(hashes, found, func(s consent.Suppression) []byte { return s.Hash })
	if s.Hash == nil {
		return consent.Suppression{}, apperr.New(apperr.NotFound, "not suppressed")
	}
	for _, other := range found {
		if consent.Outranks(s, other) {
			s = other
		}
	}
	return s, nil
}

// scanSuppression reads the columns hash, reason, created_at, recorded_at.
func scanSuppression(scan func(...any) error) (consent.Suppression, error) {
	var s consent.Suppression
	var created, recorded string
	if err := scan(&s.Hash, &s.Reason, &created, &recorded); err != nil {
		return consent.Suppression{}, err
	}
	var err error
	if s.CreatedAt, err = parseTime(created); err != nil {
		return consent.Suppression{}, err
	}
	s.RecordedAt, err = parseTime(recorded)
	return s, err
}

// recordedAt is the time an entry is recorded at: s.RecordedAt, or now when it is zero.
func recordedAt(s consent.Suppression) string {
	if s.RecordedAt.IsZero() {
		return formatTime(time.Now())
	}
	return formatTime(s.RecordedAt)
}

// AddSuppression adds a suppression entry; an existing entry for the hash is kept.
func (tx *Tx) AddSuppression(ctx context.Context, s consent.Suppression) error {
	_, err := tx.exec(ctx, "INSERT OR IGNORE INTO suppressions (hash, reason, created_at, recorded_at) VALUES (?, ?, ?, ?)", s.Hash, s.Reason, formatTime(s.CreatedAt), recordedAt(s))
	return err
}

// CountSuppressions returns the number of suppression entries by reason.
func (b *Base) CountSuppressions(ctx context.Context) (map[string]int, error) {
	rows, err := b.Reader.QueryContext(ctx, b.rewrite("SELECT reason, count(*) FROM suppressions GROUP BY reason"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, err
		}
		out[r] = n
	}
	return out, rows.Err()
}

// GateFacts returns what the consent gate needs about one contact for one purpose, in one query
// that decrypts nothing. NotFound when there is no such contact.
func (tx *Tx) GateFacts(ctx context.Context, contactID, purpose string) (consent.Facts, error) {
	row, err := tx.queryRow(ctx, qGateFacts, purpose, purpose, purpose, purpose, contactID)
	if err != nil {
		return consent.Facts{}, err
	}
	f, err := scanGateFacts(row, contactID, purpose)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Facts{}, apperr.New(apperr.NotFound, "contact not found")
	}
	return f, err
}

func scanGateFacts(row scanner, contactID, purpose string, lead ...any) (consent.Facts, error) {
	var f consent.Facts
	var suppressed, unsubscribed, state, basis, method, occurred, pv, eventID sql.NullString
	var reconsent sql.NullBool
	if err := row.Scan(append(lead, &f.Restricted, &f.ErasureRequested, &f.RestrictionRequested, &suppressed, &f.ObjectedPurpose, &f.ObjectedDM, &f.PendingApproval,
		&unsubscribed, &state, &basis, &method, &occurred, &pv, &eventID, &reconsent)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return consent.Facts{}, err
		}
		return consent.Facts{}, fmt.Errorf("store: gate facts: %w", err)
	}
	f.SetSuppression(suppressed.String)
	if unsubscribed.Valid {
		at, err := parseTime(unsubscribed.String)
		if err != nil {
			return consent.Facts{}, err
		}
		f.UnsubscribedAt = &at
	}
	if state.Valid {
		if len(lead) > 0 {
			contactID = *lead[0].(*string)
		}
		c := consent.Current{ContactID: contactID, Purpose: purpose, State: consent.State(state.String), LawfulBasis: basis.String,
			Method: consent.Method(method.String), EventID: eventID.String, NeedsReconsent: reconsent.Bool}
		if err := json.Unmarshal([]byte(pv.String), &c.PolicyVersions); err != nil {
			return consent.Facts{}, err
		}
		var err error
		if c.OccurredAt, err = parseTime(occurred.String); err != nil {
			return consent.Facts{}, err
		}
		f.Current = &c
	}
	return f, nil
}

// PutObjection records (or re-records) the contact's objection for scope.
func (tx *Tx) PutObjection(ctx context.Context, o consent.Objection) error {
	_, err := tx.exec(ctx, `INSERT OR REPLACE INTO objections (contact_id, scope, method, occurred_at, recorded_at, actor) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ContactID, o.Scope, string(o.Method), formatTime(o.OccurredAt), formatTime(o.RecordedAt), o.Actor)
	return err
}

// DeleteObjection lifts the contact's objection for scope; NotFound when there is none.
func (tx *Tx) DeleteObjection(ctx context.Context, contactID, scope string) error {
	res, err := tx.exec(ctx, "DELETE FROM objections WHERE contact_id = ? AND scope = ?", contactID, scope)
	if err != nil {
		return err
	}
	return mustAffect(res, "objection")
}

// Objections returns the contact's objections in scope order.
func (tx *Tx) Objections(ctx context.Context, contactID string) ([]consent.Objection, error) {
	rows, err := tx.query(ctx, "SELECT contact_id, scope, method, occurred_at, recorded_at, actor FROM objections WHERE contact_id = ? ORDER BY scope", contactID)
	if err != nil {
		return nil, err
	}
	out, err := scanObjections(rows)
	if out == nil {
		out = []consent.Objection{}
	}
	return out, err
}

// scanObjections reads rows of (contact_id, scope, method, occurred_at, recorded_at, actor) and
// closes them.
func scanObjections(rows *sql.Rows) ([]consent.Objection, error) {
	defer rows.Close()
	var out []consent.Objection
	for rows.Next() {
		var o consent.Objection
		var method, occurred, recorded string
		err := rows.Scan(&o.ContactID, &o.Scope, &method, &occurred, &recorded, &o.Actor)
		if err != nil {
			return nil, err
		}
		o.Method = consent.Method(method)
		if o.OccurredAt, err = parseTime(occurred); err != nil {
			return nil, err
		}
		if o.RecordedAt, err = parseTime(recorded); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// AppendConsentChanges appends to the stream of consent changes that later issues deliver to
// processors.
func (tx *Tx) AppendConsentChanges(ctx context.Context, cs []consent.Change) error {
	return tx.insertChunks(ctx, insChanges, 5, len(cs), func(i int) []any {
		c := cs[i]
		return []any{c.ContactID, c.Purpose, c.Change, formatTime(c.OccurredAt), formatTime(c.RecordedAt)}
	})
}

// ConsentChanges returns up to limit changes after seq afterSeq, in order.
func (tx *Tx) ConsentChanges(ctx context.Context, afterSeq int64, limit int) ([]consent.Change, error) {
	rows, err := tx.query(ctx, "SELECT seq, contact_id, purpose_id, change, occurred_at, recorded_at FROM consent_changes WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []consent.Change{}
	for rows.Next() {
		var c consent.Change
		var occurred, recorded string
		if err := rows.Scan(&c.Seq, &c.ContactID, &c.Purpose, &c.Change, &occurred, &recorded); err != nil {
			return nil, err
		}
		if c.OccurredAt, err = parseTime(occurred); err != nil {
			return nil, err
		}
		if c.RecordedAt, err = parseTime(recorded); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RepermissionList returns up to limit projected states for purpose, after contact id after, whose
// consent lapsed: expired by event, marked needs_reconsent, or (when validFrom is not zero) given
// before validFrom.
func (tx *Tx) RepermissionList(ctx context.Context, purpose string, validFrom time.Time, after string, limit int) ([]consent.Current, error) {
	cutoff := ""
	if !validFrom.IsZero() {
		cutoff = formatTime(validFrom)
	}
	rows, err := tx.query(ctx, "SELECT "+currentCols+` FROM consent_current
		WHERE purpose_id = ? AND contact_id > ?
		AND (state = ? OR (state = ? AND (needs_reconsent = 1 OR (? <> '' AND occurred_at < ?))))
		ORDER BY contact_id LIMIT ?`, purpose, after, string(consent.Expired), string(consent.Given), cutoff, cutoff, limit)
	if err != nil {
		return nil, err
	}
	out, err := scanCurrents(rows)
	if out == nil {
		out = []consent.Current{}
	}
	return out, err
}

// AskCandidates returns up to limit projected states for purpose, after contact id after, of
// contacts with an e-mail address whose consent lapsed (as RepermissionList) or was requested
// and not answered: whom a consent-request campaign may ask, before the gate's other facts.
func (tx *Tx) AskCandidates(ctx context.Context, purpose string, validFrom time.Time, after string, limit int) ([]consent.Current, error) {
	cutoff := ""
	if !validFrom.IsZero() {
		cutoff = formatTime(validFrom)
	}
	rows, err := tx.query(ctx, "SELECT "+currentCols+` FROM consent_current
		WHERE purpose_id = ? AND contact_id > ?
		AND (state IN (?, ?) OR (state = ? AND (needs_reconsent = 1 OR (? <> '' AND occurred_at < ?))))
		AND contact_id IN (SELECT id FROM contacts WHERE email_bidx IS NOT NULL)
		ORDER BY contact_id LIMIT ?`, purpose, after, string(consent.Expired), string(consent.Requested), string(consent.Given), cutoff, cutoff, limit)
	if err != nil {
		return nil, err
	}
	out, err := scanCurrents(rows)
	if out == nil {
		out = []consent.Current{}
	}
	return out, err
}

// GateFactsFor returns GateFacts for many contacts and one purpose, keyed by contact id, in a few
// statements (contacts that do not exist are absent).
func (tx *Tx) GateFactsFor(ctx context.Context, contactIDs []string, purpose string) (map[string]consent.Facts, error) {
	out := make(map[string]consent.Facts, len(contactIDs))
	if len(contactIDs) == 0 {
		return out, nil
	}
	ids, err := json.Marshal(contactIDs)
	if err != nil {
		return nil, err
	}
	rows, err := tx.query(ctx, qGateFactsFor, purpose, purpose, purpose, purpose, string(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		f, err := scanGateFacts(rows, "", purpose, &id)
		if err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, rows.Err()
}

// PutSuppression sets the suppression entry for s.Hash, replacing the one held (the decision is
// consent.Replaces').
func (tx *Tx) PutSuppression(ctx context.Context, s consent.Suppression) error {
	_, err := tx.exec(ctx, "INSERT INTO suppressions (hash, reason, created_at, recorded_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at, recorded_at = excluded.recorded_at",
		s.Hash, s.Reason, formatTime(s.CreatedAt), recordedAt(s))
	return err
}
