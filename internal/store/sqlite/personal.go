package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
)

// PersonalTable says where one table holds a contact's personal data, which file of the access
// bundle (GDPR Art. 15, 20) carries it, and what erasure (Art. 17) does with it.
type PersonalTable struct {
	Table string // schema-qualified when outside main ("keystore.contact_keys")
	// Where selects the contact's rows, with one ? for the contact id; "" when rows are not
	// found by contact id but by a keyed hash of the contact's addresses (column hash).
	Where string
	// Export names the bundle files that carry the rows, or starts "not exported: " with why.
	Export string
	// Erase is "deleted", or starts "kept: " with the exemption that keeps the rows.
	Erase string
}

// Exported reports the bundle files t's rows go to; nil when they are not exported.
func (t PersonalTable) Exported() []string {
	if strings.HasPrefix(t.Export, "not exported") {
		return nil
	}
	return strings.Split(t.Export, ", ")
}

// PersonalData lists every table that holds personal data. A test reads the schema and fails
// when a table is in neither this list nor NotPersonal, so a new table must say how it is
// exported and erased before it can land.
var PersonalData = []PersonalTable{
	{"contacts", "id = ?", "contact.json, contact.csv, contact.vcf", "deleted"},
	{"keystore.contact_keys", "contact_id = ?", "not exported: the key that seals the person's fields, not data about them", "deleted"},
	{"consent_events", "contact_id = ?", "consents.json", "deleted"},
	{"consent_current", "contact_id = ?", "consents.json", "deleted"},
	{"objections", "contact_id = ?", "consents.json", "deleted"},
	{"contact_former_emails", "contact_id = ?", "not exported: keyed hashes of earlier addresses, which cannot be read back", "deleted"},
	{"outbox", "contact_id = ?", "not exported: copies of messages already in the person's mailbox", "deleted"},
	{"optin_tokens", "contact_id = ?", "not exported: hashes of confirmation links", "deleted"},
	{"unsubscribe_tokens", "contact_id = ?", "not exported: hashes of unsubscribe links", "deleted"},
	{"exports", "contact_id = ?", "not exported: earlier copies of this bundle", "deleted"},
	{"consent_changes", "contact_id = ?", "not exported: the change feed for processors; the same changes are in consents.json",
		"kept: contact id and kind of change only, no personal field, so processors learn of the erasure (GDPR Art. 19)"},
	{"requests", "contact_id = ?", "requests.json",
		"kept: type, dates and state of each request as the record of the answer (GDPR Art. 5(2), 12); its key, and with it the address, details and notes, is destroyed"},
	{"request_events", "request_id IN (SELECT id FROM requests WHERE contact_id = ?)", "requests.json",
		"kept: what was done to each request and when (GDPR Art. 5(2)); the notes can no longer be read"},
	{"request_tokens", "request_id IN (SELECT id FROM requests WHERE contact_id = ?)", "not exported: hashes of verification links",
		"kept: hashes of used or expired verification links of a kept request"},
	{"audit_events", "object_kind = 'contact' AND object_id = ?1 OR object_kind = 'request' AND object_id IN (SELECT id FROM requests WHERE contact_id = ?1)", "audit.json",
		"kept: who read or changed which fields and when, never the values (GDPR Art. 5(2))"},
	{"disclosures", "contact_id = ?", "disclosures.json",
		"kept: which recipient asked for which fields for which purpose and when, never the values, so recipients can be told of the erasure (GDPR Art. 19)"},
	{"webhook_deliveries", "contact_id = ?", "not exported: notices to the recipients in disclosures.json about changes to the person's data",
		"kept: contact id and kind of change only, so the erasure reaches every recipient and its acknowledgement is recorded (GDPR Art. 19)"},
	{"suppressions", "", "suppression.json",
		"kept: a keyed hash of each address the contact had, so it is never mailed or imported again (GDPR Art. 17(3)(b), 21(3))"},
	{"purpose_unsubscribes", "",
		"not exported: keyed hashes of the person's addresses with the purposes whose lists they left (an imported unsubscribe), which cannot be read back; the gate reads each as that purpose's withdrawal",
		"kept: a keyed hash of the address and the purpose whose list it left, so that no import subscribes it to that purpose again (GDPR Art. 7(3), 21(3))"},
	{"campaign_skipped", "contact_id = ?", "not exported: which campaigns the consent gate kept from mailing the person, and the reason, which consents.json shows", "deleted"},
	{"erasure_ledger", "contact_id = ?", "not exported: written at erasure",
		"kept: the contact id and the keyed hashes of its addresses, replayed by every restore so a backup never brings the person back"},
	{"notification_tasks", "contact_id = ?", "not exported: staff to-dos to tell the recipients in disclosures.json of a change by hand",
		"kept: contact id, recipient and kind of change, and when and how staff told the recipient (GDPR Art. 5(2), 19)"},
}

// NotPersonal lists the tables that hold no personal data, with why.
var NotPersonal = map[string]string{
	"purposes":               "the catalogue of purposes",
	"policy_versions":        "policy documents",
	"tokens":                 "staff API tokens (names describe the token, never a person)",
	"campaigns":              "campaign texts and counts, no recipient",
	"campaign_skips":         "counts of refused recipients by reason, no recipient",
	"processors":             "the companies data is shared with (their privacy contact is a role address)",
	"webhook_cursor":         "how far the change stream was sent to processors",
	"breaches":               "the controller's account of incidents, with counts of people affected (never who)",
	"retention_policies":     "retention rules per contact kind",
	"dpa_requests":           "companies' requests for the data processing agreement (a company name, no contact person)",
	"schema_migrations":      "schema version",
	"imports":                "when each import started and its format (the file's name is not kept)",
	"import_errors":          "the line, column name and reason of each row an import refused, never a cell's value",
	"keystore.audit_anchor":  "the audit chain's head hash",
	"commit_marker":          "a counter of commits that wrote the key store (crash repair)",
	"keystore.commit_marker": "the key store's copy of that counter",
}

// PersonalFootprint counts the contact's rows in every table of PersonalData. Suppressions, not
// found by contact id, count the contact's addresses, current and former: the entries erasure
// keeps (or adds) for them. Other tables keyed by an address hash count their rows for those
// addresses.
func (tx *Tx) PersonalFootprint(ctx context.Context, contactID string) ([]dsr.Holding, error) {
	out := make([]dsr.Holding, 0, len(PersonalData))
	for _, t := range PersonalData {
		q := "SELECT count(*) FROM " + t.Table + " WHERE " + t.Where
		args := []any{contactID}
		if t.Where == "" {
			const hashes = "SELECT suppression_hash FROM contacts WHERE id = ? AND suppression_hash IS NOT NULL UNION SELECT hash FROM contact_former_emails WHERE contact_id = ?"
			q = "SELECT count(*) FROM (" + hashes + ")"
			if t.Table != "suppressions" {
				q = "SELECT count(*) FROM " + t.Table + " WHERE hash IN (" + hashes + ")"
			}
			args = append(args, contactID)
		}
		row, err := tx.queryRow(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		var n int
		if err := row.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, dsr.Holding{Table: strings.TrimPrefix(t.Table, "keystore."), Rows: n, Erase: t.Erase, What: PersonalWords[t.Table]})
	}
	return out, nil
}

// InsertExport stores a sealed access bundle waiting for download.
func (tx *Tx) InsertExport(ctx context.Context, e dsr.Export) error {
	_, err := tx.exec(ctx, "INSERT INTO exports (id, contact_id, request_id, token_hash, created_at, expires_at, bytes, bundle_ct) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.ContactID, e.RequestID, e.TokenHash, formatTime(e.CreatedAt), formatTime(e.ExpiresAt), e.Bytes, e.Sealed)
	return err
}

// ExportByToken returns the export whose link hashes to hash; NotFound when none (downloaded,
// expired and swept, or revoked by erasure).
func (tx *Tx) ExportByToken(ctx context.Context, hash []byte) (dsr.Export, error) {
	rows, err := tx.query(ctx, "SELECT id, contact_id, request_id, token_hash, created_at, expires_at, bytes, bundle_ct FROM exports WHERE token_hash = ?", hash)
	if err != nil {
		return dsr.Export{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return dsr.Export{}, err
		}
		return dsr.Export{}, apperr.New(apperr.NotFound, "export not found")
	}
	var e dsr.Export
	var created, expires string
	if err := rows.Scan(&e.ID, &e.ContactID, &e.RequestID, &e.TokenHash, &created, &expires, &e.Bytes, &e.Sealed); err != nil {
		return dsr.Export{}, err
	}
	if e.CreatedAt, err = parseTime(created); err != nil {
		return dsr.Export{}, err
	}
	e.ExpiresAt, err = parseTime(expires)
	return e, err
}

// DeleteExport deletes one export; NotFound when it is gone already.
func (tx *Tx) DeleteExport(ctx context.Context, id string) error {
	return tx.execOne(ctx, "export not found", "DELETE FROM exports WHERE id = ?", id)
}

// DeleteExpiredExports deletes the exports whose link expired at or before now and returns how
// many.
func (tx *Tx) DeleteExpiredExports(ctx context.Context, now time.Time) (int, error) {
	res, err := tx.exec(ctx, "DELETE FROM exports WHERE expires_at <= ?", formatTime(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RequestsByContact returns the requests bound to the contact, oldest first.
func (tx *Tx) RequestsByContact(ctx context.Context, contactID string) ([]*dsr.Record, error) {
	return tx.queryRequests(ctx, "SELECT "+requestCols+" FROM requests WHERE contact_id = ? ORDER BY id", contactID)
}

// UnverifiedRequestsFrom returns the requests from the address with this blind index that are
// bound to no contact, oldest first.
func (tx *Tx) UnverifiedRequestsFrom(ctx context.Context, emailIndex []byte) ([]*dsr.Record, error) {
	return tx.queryRequests(ctx, "SELECT "+requestCols+" FROM requests WHERE email_bidx = ? AND contact_id = '' ORDER BY id", emailIndex)
}

// StaleUnverified returns open portal requests still waiting for identity that were received
// before the given time, oldest first, at most limit.
func (tx *Tx) StaleUnverified(ctx context.Context, before time.Time, limit int) ([]*dsr.Record, error) {
	return tx.queryRequests(ctx, "SELECT "+requestCols+" FROM requests WHERE state IN ('received', 'verifying') AND channel = 'portal' AND received_at < ? ORDER BY id LIMIT ?", formatTime(before), limit)
}
