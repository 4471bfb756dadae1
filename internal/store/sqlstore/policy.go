package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

const policyCols = "id, document, version, body, sha256, material, effective_at, created_at, published_at"

// InsertPolicyVersion stores a draft version.
func (tx *Tx) InsertPolicyVersion(ctx context.Context, v consent.PolicyVersion) error {
	_, err := tx.exec(ctx, "INSERT INTO policy_versions ("+policyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
		v.ID, v.Document, v.Version, v.Body, v.SHA256, v.Material, formatTime(v.EffectiveAt), formatTime(v.CreatedAt))
	return err
}

// PolicyVersionByID returns one version; NotFound when absent.
func (tx *Tx) PolicyVersionByID(ctx context.Context, id string) (consent.PolicyVersion, error) {
	row, err := tx.queryRow(ctx, "SELECT "+policyCols+" FROM policy_versions WHERE id = ?", id)
	if err != nil {
		return consent.PolicyVersion{}, err
	}
	v, err := scanPolicy(row)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.PolicyVersion{}, apperr.New(apperr.NotFound, "policy version not found")
	}
	return v, err
}

// PolicyVersions returns every version by document, then version.
func (tx *Tx) PolicyVersions(ctx context.Context) ([]consent.PolicyVersion, error) {
	rows, err := tx.query(ctx, "SELECT "+policyCols+" FROM policy_versions ORDER BY document, version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []consent.PolicyVersion{}
	for rows.Next() {
		v, err := scanPolicy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// LatestPolicyVersion returns the document's highest version number, 0 when none.
func (tx *Tx) LatestPolicyVersion(ctx context.Context, document string) (int, error) {
	row, err := tx.queryRow(ctx, "SELECT coalesce(max(version), 0) FROM policy_versions WHERE document = ?", document)
	if err != nil {
		return 0, err
	}
	var n int
	err = row.Scan(&n)
	return n, err
}

// PublishPolicyVersion sets the version's publication and effective times.
func (tx *Tx) PublishPolicyVersion(ctx context.Context, id string, at, effective time.Time) error {
	res, err := tx.exec(ctx, "UPDATE policy_versions SET published_at = ?, effective_at = ? WHERE id = ? AND published_at IS NULL", formatTime(at), formatTime(effective), id)
	if err != nil {
		return err
	}
	return mustAffect(res, "draft policy version")
}

// CurrentPolicyVersions returns, per document, the latest published version in effect at at.
func (tx *Tx) CurrentPolicyVersions(ctx context.Context, at time.Time) (map[string]int, error) {
	rows, err := tx.query(ctx, "SELECT document, max(version) FROM policy_versions WHERE published_at IS NOT NULL AND effective_at <= ? GROUP BY document", formatTime(at))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var doc string
		var v int
		if err := rows.Scan(&doc, &v); err != nil {
			return nil, err
		}
		out[doc] = v
	}
	return out, rows.Err()
}

// MarkReconsent flags the given consents of the purposes a change of document affects (privacy
// policy: consent-based purposes; terms: acceptance purposes) not given under version (or
// later) of document, and returns the (contact id, purpose id) pairs it flagged.
func (tx *Tx) MarkReconsent(ctx context.Context, document string, version int) ([][2]string, error) {
	path := `$."` + document + `"`
	rows, err := tx.query(ctx, `UPDATE consent_current SET needs_reconsent = 1
		WHERE needs_reconsent = 0 AND state = ?
		AND purpose_id IN (SELECT id FROM purposes WHERE CASE ? WHEN 'terms_of_service' THEN acceptance = 1 ELSE lawful_basis = ? AND acceptance = 0 END)
		AND coalesce(CAST(json_extract(policy_versions, ?) AS INTEGER), 0) < ?
		RETURNING contact_id, purpose_id`, string(consent.Given), document, consent.BasisConsent, path, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func scanPolicy(row scanner) (consent.PolicyVersion, error) {
	var v consent.PolicyVersion
	var effective, created string
	var published sql.NullString
	if err := row.Scan(&v.ID, &v.Document, &v.Version, &v.Body, &v.SHA256, &v.Material, &effective, &created, &published); err != nil {
		return v, err
	}
	var err error
	if v.EffectiveAt, err = parseTime(effective); err != nil {
		return v, err
	}
	if v.CreatedAt, err = parseTime(created); err != nil {
		return v, err
	}
	if v.PublishedAt, err = nullTime(published); err != nil {
		return v, fmt.Errorf("store: policy %s: %w", v.ID, err)
	}
	return v, nil
}
