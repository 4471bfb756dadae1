package sqlstore

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/personal"
)

// PersonalTable is where the SQL backends keep one holding of the personal-data register
// (internal/personal) and how it finds the person's rows there.
type PersonalTable struct {
	Table string // schema-qualified when outside main ("keystore.contact_keys")
	// Where selects the contact's rows, with one ? for the contact id; "" for a holding found by
	// the keyed hashes of the contact's addresses (personal.Holding.ByAddress), column hash. Two
	// holdings share a table only with Where clauses that part its rows (disclosures: allowed
	// and refused).
	Where string
}

// PersonalTables maps every holding of the register to its table. A test reads the schema and
// fails when a holding is not mapped, when a mapped table is not in the schema, or when a table
// is neither mapped nor in NotPersonal, so a new table must be described in the register (what
// it holds, how it is exported and erased) before it can land.
func PersonalTables() map[string]PersonalTable {
	return map[string]PersonalTable{
		personal.Contacts:            {"contacts", "id = ?"},
		personal.ContactKeys:         {"keystore.contact_keys", "contact_id = ?"},
		personal.ConsentEvents:       {"consent_events", "contact_id = ?"},
		personal.ConsentCurrent:      {"consent_current", "contact_id = ?"},
		personal.Objections:          {"objections", "contact_id = ?"},
		personal.ContactFormerEmails: {"contact_former_emails", "contact_id = ?"},
		personal.Outbox:              {"outbox", "contact_id = ?"},
		personal.OptinTokens:         {"optin_tokens", "contact_id = ?"},
		personal.UnsubscribeTokens:   {"unsubscribe_tokens", "contact_id = ?"},
		personal.Exports:             {"exports", "contact_id = ?"},
		personal.ConsentChanges:      {"consent_changes", "contact_id = ?"},
		personal.Requests:            {"requests", "contact_id = ?"},
		personal.RequestEvents:       {"request_events", "request_id IN (SELECT id FROM requests WHERE contact_id = ?)"},
		personal.RequestTokens:       {"request_tokens", "request_id IN (SELECT id FROM requests WHERE contact_id = ?)"},
		personal.AuditEvents: {"audit_events",
			"object_kind = 'contact' AND object_id = ?1 OR object_kind = 'request' AND object_id IN (SELECT id FROM requests WHERE contact_id = ?1)"},
		personal.Disclosures:         {"disclosures", "contact_id = ? AND allowed = 1"},
		personal.RefusedDisclosures:  {"disclosures", "contact_id = ? AND allowed = 0"},
		personal.WebhookDeliveries:   {"webhook_deliveries", "contact_id = ?"},
		personal.Suppressions:        {"suppressions", ""},
		personal.PurposeUnsubscribes: {"purpose_unsubscribes", ""},
		personal.CampaignSkipped:     {"campaign_skipped", "contact_id = ?"},
		personal.ErasureLedger:       {"erasure_ledger", "contact_id = ?"},
		personal.NotificationTasks:   {"notification_tasks", "contact_id = ?"},
	}
}

// NotPersonal lists the tables that hold no personal data, with why.
func NotPersonal() map[string]string {
	return map[string]string{
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
		"console_sessions":       "staff console sign-ins: a hash of the session id and of the API token, until they expire",
		"rate_windows":           "the public forms' rate limits: a keyed hash of the client's network address, linked to no contact, forgotten when its hour ends",
		"keyset_nodes":           "the serving processes (host name, process id) and the ids and statuses of the keys each has loaded, for key rotation; no key material",
	}
}

// PersonalFootprint counts the contact's rows in the table of every holding of the register, by
// holding id. The suppression list, not found by contact id, counts the contact's addresses,
// current and former: the entries erasure keeps (or adds) for them. Other holdings found by
// address count their rows for those addresses. Internal when a holding has no table here.
func (tx *Tx) PersonalFootprint(ctx context.Context, contactID string) (map[string]int, error) {
	tables := PersonalTables()
	out := make(map[string]int, len(tables))
	for _, h := range personal.Holdings() {
		t, ok := tables[h.ID]
		if !ok {
			return nil, apperr.New(apperr.Internal, "personal footprint: holding %s has no table", h.ID)
		}
		q := "SELECT count(*) FROM " + t.Table + " WHERE " + t.Where
		args := []any{contactID}
		if t.Where == "" {
			const hashes = "SELECT suppression_hash FROM contacts WHERE id = ? AND suppression_hash IS NOT NULL UNION SELECT hash FROM contact_former_emails WHERE contact_id = ?"
			q = "SELECT count(*) FROM (" + hashes + ") AS hashes"
			if h.ID != personal.Suppressions {
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
		out[h.ID] = n
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

// UnverifiedRequestsFrom returns the requests from the address with one of these blind indexes
// (its index under each key of the blind-index keyset: keys.Keyring.BlindIndexes) that are bound
// to no contact, oldest first; none when no index is given.
func (tx *Tx) UnverifiedRequestsFrom(ctx context.Context, emailIndexes ...[]byte) ([]*dsr.Record, error) {
	return tx.queryRequests(ctx, "SELECT "+requestCols+" FROM requests WHERE email_bidx IN "+inList(len(emailIndexes))+" AND contact_id = '' ORDER BY id", blobs(emailIndexes)...)
}

// StaleUnverified returns open portal requests still waiting for identity that were received
// before the given time, oldest first, at most limit.
func (tx *Tx) StaleUnverified(ctx context.Context, before time.Time, limit int) ([]*dsr.Record, error) {
	return tx.queryRequests(ctx, "SELECT "+requestCols+" FROM requests WHERE state IN ('received', 'verifying') AND channel = 'portal' AND received_at < ? ORDER BY id LIMIT ?", formatTime(before), limit)
}
