package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
)

// contactColCount is the number of columns in contactCols.
var contactColCount = 11 + len(contact.Columns)

var (
	sealedCols    = func() string { return strings.Join(suffix(contact.Columns, "_ct"), ", ") }()
	contactCols   = "id, kind, key_version, email_bidx, phone_bidx, suppression_hash, " + sealedCols + ", source, restricted, created_at, updated_at, version"
	contactInsert = "INSERT INTO contacts (" + contactCols + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", contactColCount), ", ") + ")"
	contactUpdate = "UPDATE contacts SET kind = ?, key_version = ?, email_bidx = ?, phone_bidx = ?, suppression_hash = ?, " +
		strings.Join(suffix(contact.Columns, "_ct = ?"), ", ") + ", source = ?, restricted = ?, updated_at = ?, version = ? WHERE id = ?"
)

func suffix(names []string, s string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + s
	}
	return out
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// InsertContact stores a new contact record. A taken e-mail index is a Conflict carrying the id
// of the contact that has it.
func (tx *Tx) InsertContact(ctx context.Context, r *contact.Record) error {
	_, err := tx.execRecoverable(ctx, contactInsert, contactArgs(r)...)
	if apperr.Is(err, apperr.Conflict) && r.EmailIndex != nil {
		if existing, lerr := tx.ContactByEmailIndex(ctx, r.EmailIndex); lerr == nil {
			return &apperr.Error{Kind: apperr.Conflict, Field: "email", Reason: "duplicate_email", Message: "email: a contact with this address exists", ID: existing.ID, Err: err}
		}
	}
	return err
}

// UpdateContact replaces every column of the contact with r.ID.
func (tx *Tx) UpdateContact(ctx context.Context, r *contact.Record) error {
	args := []any{string(r.Kind), r.KeyVersion, nilIfEmpty(r.EmailIndex), nilIfEmpty(r.PhoneIndex), nilIfEmpty(r.SuppressionHash)}
	for _, col := range contact.Columns {
		args = append(args, nilIfEmpty(r.Sealed[col]))
	}
	args = append(args, r.Source, r.Restricted, formatTime(r.UpdatedAt), r.Version, r.ID)
	res, err := tx.execRecoverable(ctx, contactUpdate, args...)
	if apperr.Is(err, apperr.Conflict) && r.EmailIndex != nil {
		if existing, lerr := tx.ContactByEmailIndex(ctx, r.EmailIndex); lerr == nil {
			return &apperr.Error{Kind: apperr.Conflict, Field: "email", Reason: "duplicate_email", Message: "email: a contact with this address exists", ID: existing.ID, Err: err}
		}
	}
	if err != nil {
		return err
	}
	return mustAffect(res, "contact")
}

func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "%s not found", what)
	}
	return nil
}

// ContactByID returns the contact record; NotFound when absent.
func (tx *Tx) ContactByID(ctx context.Context, id string) (*contact.Record, error) {
	row, err := tx.queryRow(ctx, "SELECT "+contactCols+" FROM contacts WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	return scanContact(row)
}

// ContactByEmailIndex returns the contact whose e-mail blind index is one of idx (an address's
// index under each key of the blind-index keyset, keys.Keyring.BlindIndexes), the first of idx
// that one has; NotFound when none.
func (tx *Tx) ContactByEmailIndex(ctx context.Context, idx ...[]byte) (*contact.Record, error) {
	rows, err := tx.query(ctx, "SELECT "+contactCols+" FROM contacts WHERE email_bidx IN "+inList(len(idx)), blobs(idx)...)
	if err != nil {
		return nil, err
	}
	recs, err := scanContacts(rows)
	if err != nil {
		return nil, err
	}
	if r := firstOf(idx, recs, func(r *contact.Record) []byte { return r.EmailIndex }); r != nil {
		return r, nil
	}
	return nil, apperr.New(apperr.NotFound, "contact not found")
}

// ContactsByPhoneIndex returns up to limit contacts whose phone blind index is one of idx (under
// each key of the blind-index keyset), in id order.
func (tx *Tx) ContactsByPhoneIndex(ctx context.Context, idx [][]byte, limit int) ([]*contact.Record, error) {
	rows, err := tx.query(ctx, "SELECT "+contactCols+" FROM contacts WHERE phone_bidx IN "+inList(len(idx))+" ORDER BY id LIMIT ?", append(blobs(idx), limit)...)
	if err != nil {
		return nil, err
	}
	return scanContacts(rows)
}

// ListContacts returns up to limit contacts with id > after, in id order; kind "" means any.
func (tx *Tx) ListContacts(ctx context.Context, kind contact.Kind, after string, limit int) ([]*contact.Record, error) {
	var rows *sql.Rows
	var err error
	if kind == "" {
		rows, err = tx.query(ctx, "SELECT "+contactCols+" FROM contacts WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	} else {
		rows, err = tx.query(ctx, "SELECT "+contactCols+" FROM contacts WHERE kind = ? AND id > ? ORDER BY id LIMIT ?", string(kind), after, limit)
	}
	if err != nil {
		return nil, err
	}
	return scanContacts(rows)
}

// DeleteContact deletes the contact row; consent rows go with it (ON DELETE CASCADE), and so do
// its refused disclosures, which sent nothing to anyone (the allowed ones stay: the register's
// personal.Disclosures, kept under GDPR Art. 19; the refused ones are personal.RefusedDisclosures).
func (tx *Tx) DeleteContact(ctx context.Context, id string) error {
	res, err := tx.exec(ctx, "DELETE FROM contacts WHERE id = ?", id)
	if err != nil {
		return err
	}
	if err := mustAffect(res, "contact"); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM disclosures WHERE contact_id = ? AND allowed = 0", id); err != nil {
		return err
	}
	tx.gone.Contacts = append(tx.gone.Contacts, id)
	return nil
}

// InsertDataKey stores the contact's wrapped data key in the key store.
func (tx *Tx) InsertDataKey(ctx context.Context, contactID string, version int, wrapped []byte, at time.Time) error {
	_, err := tx.exec(ctx, "INSERT INTO keystore.contact_keys (contact_id, version, wrapped, created_at) VALUES (?, ?, ?, ?)", contactID, version, wrapped, formatTime(at))
	return err
}

// DataKey returns the contact's wrapped data key; NotFound when absent.
func (tx *Tx) DataKey(ctx context.Context, contactID string) (int, []byte, error) {
	row, err := tx.queryRow(ctx, "SELECT version, wrapped FROM keystore.contact_keys WHERE contact_id = ?", contactID)
	if err != nil {
		return 0, nil, err
	}
	var v int
	var w []byte
	if err := row.Scan(&v, &w); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, apperr.New(apperr.NotFound, "contact not found")
		}
		return 0, nil, err
	}
	return v, w, nil
}

// DeleteDataKey deletes the contact's wrapped data key (crypto-shredding).
func (tx *Tx) DeleteDataKey(ctx context.Context, contactID string) error {
	_, err := tx.exec(ctx, "DELETE FROM keystore.contact_keys WHERE contact_id = ?", contactID)
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scanContact(row scanner) (*contact.Record, error) {
	r := &contact.Record{Sealed: make(map[string][]byte, len(contact.Columns))}
	sealed := make([][]byte, len(contact.Columns))
	var kind, created, updated string
	dest := []any{&r.ID, &kind, &r.KeyVersion, &r.EmailIndex, &r.PhoneIndex, &r.SuppressionHash}
	for i := range sealed {
		dest = append(dest, &sealed[i])
	}
	dest = append(dest, &r.Source, &r.Restricted, &created, &updated, &r.Version)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.New(apperr.NotFound, "contact not found")
		}
		return nil, fmt.Errorf("store: scan contact: %w", err)
	}
	r.Kind = contact.Kind(kind)
	for i, col := range contact.Columns {
		if len(sealed[i]) > 0 {
			r.Sealed[col] = sealed[i]
		}
	}
	var err error
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return r, nil
}

func scanContacts(rows *sql.Rows) ([]*contact.Record, error) {
	defer rows.Close()
	var out []*contact.Record
	for rows.Next() {
		r, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddFormerEmail remembers the suppression hash of an address the contact no longer has.
func (tx *Tx) AddFormerEmail(ctx context.Context, contactID string, hash []byte) error {
	_, err := tx.exec(ctx, "INSERT OR IGNORE INTO contact_former_emails (contact_id, hash) VALUES (?, ?)", contactID, hash)
	return err
}

// FormerEmails returns the suppression hashes of the contact's former addresses.
func (tx *Tx) FormerEmails(ctx context.Context, contactID string) ([][]byte, error) {
	rows, err := tx.query(ctx, "SELECT hash FROM contact_former_emails WHERE contact_id = ? ORDER BY hash", contactID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// contactArgs returns r's values in contactCols order.
func contactArgs(r *contact.Record) []any {
	args := make([]any, 0, contactColCount)
	args = append(args, r.ID, string(r.Kind), r.KeyVersion, nilIfEmpty(r.EmailIndex), nilIfEmpty(r.PhoneIndex), nilIfEmpty(r.SuppressionHash))
	for _, col := range contact.Columns {
		args = append(args, nilIfEmpty(r.Sealed[col]))
	}
	return append(args, r.Source, r.Restricted, formatTime(r.CreatedAt), formatTime(r.UpdatedAt), r.Version)
}

// RestrictedAmong returns which of the contacts are restricted.
func (tx *Tx) RestrictedAmong(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.query(ctx, "SELECT id FROM contacts c WHERE (c.restricted = 1 OR "+openHoldRequest+") AND c.id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
