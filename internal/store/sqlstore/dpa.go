package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/governance"
)

const dpaCols = "id, customer, template_version, status, signed_at, document, created_at, updated_at, version"

// InsertDPARequest stores a DPA request.
func (tx *Tx) InsertDPARequest(ctx context.Context, r *governance.DPARequest) error {
	_, err := tx.exec(ctx, "INSERT INTO dpa_requests ("+dpaCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.Customer, r.TemplateVersion, r.Status, optTime(r.SignedAt), r.Signed, formatTime(r.CreatedAt), formatTime(r.UpdatedAt), r.Version)
	return err
}

// UpdateDPARequest replaces a DPA request; NotFound when absent.
func (tx *Tx) UpdateDPARequest(ctx context.Context, r *governance.DPARequest) error {
	return tx.execOne(ctx, "DPA request not found", "UPDATE dpa_requests SET status = ?, signed_at = ?, document = ?, updated_at = ?, version = ? WHERE id = ?",
		r.Status, optTime(r.SignedAt), r.Signed, formatTime(r.UpdatedAt), r.Version, r.ID)
}

// DPARequestByID returns one DPA request; NotFound when absent.
func (tx *Tx) DPARequestByID(ctx context.Context, id string) (*governance.DPARequest, error) {
	rs, err := tx.queryDPA(ctx, "SELECT "+dpaCols+" FROM dpa_requests WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, apperr.New(apperr.NotFound, "DPA request not found")
	}
	return rs[0], nil
}

// ListDPARequests returns every DPA request, newest first.
func (tx *Tx) ListDPARequests(ctx context.Context) ([]*governance.DPARequest, error) {
	return tx.queryDPA(ctx, "SELECT "+dpaCols+" FROM dpa_requests ORDER BY created_at DESC, id DESC")
}

func (tx *Tx) queryDPA(ctx context.Context, q string, args ...any) ([]*governance.DPARequest, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*governance.DPARequest
	for rows.Next() {
		r := &governance.DPARequest{}
		var signed sql.NullString
		var created, updated string
		if err := rows.Scan(&r.ID, &r.Customer, &r.TemplateVersion, &r.Status, &signed, &r.Signed, &created, &updated, &r.Version); err != nil {
			return nil, err
		}
		if r.Signed != "" {
			sum := sha256.Sum256([]byte(r.Signed))
			r.SHA256 = hex.EncodeToString(sum[:])
		}
		if r.SignedAt, err = nullTime(signed); err != nil {
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
