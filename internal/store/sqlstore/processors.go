package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/share"
)

const processorCols = "id, name, role, purposes, data_categories, country, transfer_mechanism, dpa_status, dpa_signed_at, dpa_expires_at, dpa_document, contact_email, webhook_url, webhook_secret_ct, created_at, updated_at, version, ended_at, dpf_certified"

func processorArgs(r *share.Record) []any {
	var signed, expires any
	if r.DPASignedAt != nil {
		signed = formatTime(*r.DPASignedAt)
	}
	if r.DPAExpiresAt != nil {
		expires = formatTime(*r.DPAExpiresAt)
	}
	return []any{r.ID, r.Name, string(r.Role), strings.Join(r.Purposes, ","), strings.Join(r.DataCategories, ","), r.Country, r.TransferMechanism,
		r.DPAStatus, signed, expires, r.DPADocument, r.ContactEmail, r.WebhookURL, r.WebhookSecret, formatTime(r.CreatedAt), formatTime(r.UpdatedAt), r.Version, optTime(r.EndedAt), r.DPFCertified}
}

// InsertProcessor stores a new processor; Conflict when the id is taken.
func (tx *Tx) InsertProcessor(ctx context.Context, r *share.Record) error {
	_, err := tx.exec(ctx, "INSERT INTO processors ("+processorCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", processorArgs(r)...)
	if apperr.Is(err, apperr.Conflict) {
		return &apperr.Error{Kind: apperr.Conflict, Reason: "duplicate_id", Field: "id", Message: "id: a processor with this id exists", ID: r.ID}
	}
	return err
}

// UpdateProcessor replaces the stored processor; NotFound when absent.
func (tx *Tx) UpdateProcessor(ctx context.Context, r *share.Record) error {
	args := processorArgs(r)
	return tx.execOne(ctx, "processor not found", "UPDATE processors SET name = ?, role = ?, purposes = ?, data_categories = ?, country = ?, transfer_mechanism = ?, dpa_status = ?, dpa_signed_at = ?, dpa_expires_at = ?, dpa_document = ?, contact_email = ?, webhook_url = ?, webhook_secret_ct = ?, created_at = ?, updated_at = ?, version = ?, ended_at = ?, dpf_certified = ? WHERE id = ?",
		append(args[1:], args[0])...)
}

// ProcessorByID returns one processor; NotFound when absent.
func (tx *Tx) ProcessorByID(ctx context.Context, id string) (*share.Record, error) {
	rs, err := tx.queryProcessors(ctx, "SELECT "+processorCols+" FROM processors WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, apperr.New(apperr.NotFound, "processor not found")
	}
	return rs[0], nil
}

// ListProcessors returns every processor in id order.
func (tx *Tx) ListProcessors(ctx context.Context) ([]*share.Record, error) {
	return tx.queryProcessors(ctx, "SELECT "+processorCols+" FROM processors ORDER BY id")
}

func (tx *Tx) queryProcessors(ctx context.Context, q string, args ...any) ([]*share.Record, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*share.Record
	for rows.Next() {
		r := &share.Record{KeyVersion: 1}
		var role, purposes, cats, created, updated string
		var signed, expires, ended sql.NullString
		if err := rows.Scan(&r.ID, &r.Name, &role, &purposes, &cats, &r.Country, &r.TransferMechanism, &r.DPAStatus, &signed, &expires,
			&r.DPADocument, &r.ContactEmail, &r.WebhookURL, &r.WebhookSecret, &created, &updated, &r.Version, &ended, &r.DPFCertified); err != nil {
			return nil, err
		}
		if r.EndedAt, err = nullTime(ended); err != nil {
			return nil, err
		}
		r.Role, r.Purposes, r.DataCategories = share.Role(role), splitList(purposes), splitList(cats)
		r.HasWebhookSecret = len(r.WebhookSecret) > 0
		if r.DPASignedAt, err = nullTime(signed); err != nil {
			return nil, err
		}
		if r.DPAExpiresAt, err = nullTime(expires); err != nil {
			return nil, err
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if r.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// InsertDisclosure records a disclosure asked for, allowed or refused.
func (tx *Tx) InsertDisclosure(ctx context.Context, d share.Disclosure) error {
	allowed := 0
	if d.Allowed {
		allowed = 1
	}
	_, err := tx.exec(ctx, "INSERT INTO disclosures (id, contact_id, processor_id, purpose_id, fields, allowed, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.ContactID, d.ProcessorID, d.Purpose, strings.Join(d.Fields, ","), allowed, d.Reason, d.Actor, formatTime(d.At))
	return err
}

// DisclosuresOf returns the disclosures asked for about a contact, oldest first.
func (tx *Tx) DisclosuresOf(ctx context.Context, contactID string) ([]share.Disclosure, error) {
	rows, err := tx.query(ctx, "SELECT id, contact_id, processor_id, purpose_id, fields, allowed, reason, actor, at FROM disclosures WHERE contact_id = ? ORDER BY at, id", contactID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []share.Disclosure{}
	for rows.Next() {
		var d share.Disclosure
		var fields, at string
		if err := rows.Scan(&d.ID, &d.ContactID, &d.ProcessorID, &d.Purpose, &fields, &d.Allowed, &d.Reason, &d.Actor, &at); err != nil {
			return nil, err
		}
		d.Fields = splitList(fields)
		if d.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
