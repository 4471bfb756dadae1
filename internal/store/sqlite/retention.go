package sqlite

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
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

// Expired returns contacts of kind with no consent given, no consent event and no change since
// before, no legal hold, no restriction and no open request, after the id after, in id order.
func (tx *Tx) Expired(ctx context.Context, kind contact.Kind, purpose string, before time.Time, after string, limit int) ([]string, error) {
	b := formatTime(before)
	rows, err := tx.query(ctx, `SELECT c.id FROM contacts c
		WHERE c.kind = ? AND c.id > ? AND c.legal_hold = 0 AND c.restricted = 0 AND c.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM consent_current cc WHERE cc.contact_id = c.id AND cc.state = 'dpv:ConsentGiven')
		AND NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.contact_id = c.id AND (e.occurred_at >= ? OR e.recorded_at >= ?))
		AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.contact_id = c.id AND r.state NOT IN ('completed', 'rejected'))
		AND (? = '' OR EXISTS (SELECT 1 FROM consent_events e2 WHERE e2.contact_id = c.id AND e2.purpose_id = ?))
		ORDER BY c.id LIMIT ?`, string(kind), after, b, b, b, purpose, purpose, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
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
