package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
)

// InsertPolicy stores a retention policy; Conflict when the id is taken.
func (tx *Tx) InsertPolicy(ctx context.Context, p governance.Policy) error {
	_, err := tx.exec(ctx, "INSERT INTO retention_policies (id, kind, purpose_id, after_days, created_at) VALUES (?, ?, ?, ?, ?)", p.ID, string(p.Kind), p.Purpose, p.AfterDays, formatTime(p.CreatedAt))
	if apperr.Is(err, apperr.Conflict) {
		return &apperr.Error{Kind: apperr.Conflict, Reason: "duplicate_id", Field: "id", Message: "id: a policy with this id exists", ID: p.ID}
	}
	return err
}

// DeletePolicy removes a retention policy; NotFound when absent.
func (tx *Tx) DeletePolicy(ctx context.Context, id string) error {
	return tx.execOne(ctx, "policy not found", "DELETE FROM retention_policies WHERE id = ?", id)
}

// Policies returns every retention policy in id order.
func (tx *Tx) Policies(ctx context.Context) ([]governance.Policy, error) {
	rows, err := tx.query(ctx, "SELECT id, kind, purpose_id, after_days, created_at FROM retention_policies ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []governance.Policy
	for rows.Next() {
		var p governance.Policy
		var kind, created string
		if err := rows.Scan(&p.ID, &kind, &p.Purpose, &p.AfterDays, &created); err != nil {
			return nil, err
		}
		p.Kind = contact.Kind(kind)
		if p.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RetentionCandidates returns what a retention policy decides on (governance.Candidate) for the
// contacts q selects, in id order. It reads ids, times, states and flags only: no sealed column,
// nothing to decrypt. A request is open unless completed or rejected (dsr.Request.Open); it is
// the contact's when bound to it, or still waiting for identity from the contact's address
// (the requests an erasure would close: dsr.Service.ErasingIn). Times are
// compared and the latest picked over the stored text, which timeLayout's fixed width in UTC
// orders as instants. The idle test comes first so that contacts changed since the cut-off cost
// one row read, not four subqueries.
func (tx *Tx) RetentionCandidates(ctx context.Context, q governance.CandidateQuery) ([]governance.Candidate, error) {
	idle := formatTime(q.IdleBefore)
	rows, err := tx.query(ctx, `SELECT c.id, c.kind, c.updated_at, c.legal_hold, c.restricted,
		(SELECT max(max(e.occurred_at, e.recorded_at)) FROM consent_events e WHERE e.contact_id = c.id),
		(SELECT group_concat(e.purpose_id, char(31)) FROM consent_events e WHERE e.contact_id = c.id),
		(SELECT group_concat(cc.state, char(31)) FROM consent_current cc WHERE cc.contact_id = c.id),
		EXISTS (SELECT 1 FROM requests r WHERE (r.contact_id = c.id OR r.contact_id = '' AND r.email_bidx = c.email_bidx)
			AND r.state NOT IN ('completed', 'rejected'))
		FROM contacts c WHERE c.kind = ? AND c.id > ? AND c.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.contact_id = c.id AND (e.occurred_at >= ? OR e.recorded_at >= ?))
		ORDER BY c.id LIMIT ?`, string(q.Kind), q.After, idle, idle, idle, q.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []governance.Candidate
	for rows.Next() {
		var c governance.Candidate
		var k, updated string
		var last, purposes, states sql.NullString
		if err := rows.Scan(&c.ContactID, &k, &updated, &c.LegalHold, &c.Restricted, &last, &purposes, &states, &c.OpenRequest); err != nil {
			return nil, err
		}
		c.Kind = contact.Kind(k)
		if c.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		if last.Valid {
			if c.LastConsentEvent, err = parseTime(last.String); err != nil {
				return nil, err
			}
		}
		c.Purposes = distinct[string](purposes)
		c.States = distinct[consent.State](states)
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetLegalHold sets or lifts a contact's legal hold; NotFound when absent.
func (tx *Tx) SetLegalHold(ctx context.Context, contactID string, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return tx.execOne(ctx, "contact not found", "UPDATE contacts SET legal_hold = ? WHERE id = ?", v, contactID)
}

// DeleteExpiredOptinTokens deletes unused double opt-in links that expired before now and
// returns how many.
func (tx *Tx) DeleteExpiredOptinTokens(ctx context.Context, now time.Time) (int, error) {
	res, err := tx.exec(ctx, "DELETE FROM optin_tokens WHERE expires_at < ?", formatTime(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// PurposeBasis returns the purpose's lawful basis and whether it records acceptances; ok is false
// when there is no such purpose.
func (tx *Tx) PurposeBasis(ctx context.Context, id string) (basis string, acceptance, ok bool, err error) {
	p, err := tx.PurposeByID(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, err
	}
	return p.LawfulBasis, p.Acceptance, true, nil
}

// LegalHold reports whether the contact is under legal hold; NotFound when absent.
func (tx *Tx) LegalHold(ctx context.Context, contactID string) (bool, error) {
	rows, err := tx.query(ctx, "SELECT legal_hold FROM contacts WHERE id = ?", contactID)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, err
		}
		return false, apperr.New(apperr.NotFound, "contact not found")
	}
	var on bool
	err = rows.Scan(&on)
	return on, err
}

// distinct splits a group_concat(…, char(31)) into its distinct values, in order; nil for NULL.
func distinct[T ~string](list sql.NullString) []T {
	if !list.Valid {
		return nil
	}
	var out []T
	for _, v := range strings.Split(list.String, "\x1f") {
		out = append(out, T(v))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
