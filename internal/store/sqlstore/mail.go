package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
)

const outboxCols = "id, contact_id, request_id, stream, kind, status, attempts, next_attempt_at, created_at, sent_at, last_error, message_ct, purpose_id, campaign_id, last"

// InsertOutbox queues a sealed message.
func (tx *Tx) InsertOutbox(ctx context.Context, e mail.Entry) error {
	_, err := tx.exec(ctx, "INSERT INTO outbox ("+outboxCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
		e.ID, nullString(e.ContactID), nullString(e.RequestID), string(e.Stream), e.Kind, e.Status, e.Attempts, formatTime(e.NextAttemptAt), formatTime(e.CreatedAt), e.LastError, e.Sealed, e.Purpose, e.CampaignID, e.Last)
	return err
}

// DueOutbox returns queued entries due at now, oldest first.
func (tx *Tx) DueOutbox(ctx context.Context, now time.Time, limit int) ([]mail.Entry, error) {
	rows, err := tx.query(ctx, "SELECT "+outboxCols+" FROM outbox WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?", mail.StatusQueued, formatTime(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mail.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// OutboxQueue counts the queued messages by stream and returns the creation time of the oldest
// (zero when none is queued), for the outbox gauges of /metrics.
func (tx *Tx) OutboxQueue(ctx context.Context) (map[mail.Stream]int, time.Time, error) {
	rows, err := tx.query(ctx, "SELECT stream, count(*), min(created_at) FROM outbox WHERE status = ? GROUP BY stream", mail.StatusQueued)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	out := map[mail.Stream]int{}
	var oldest time.Time
	for rows.Next() {
		var stream, created string
		var n int
		if err := rows.Scan(&stream, &n, &created); err != nil {
			return nil, time.Time{}, err
		}
		at, err := parseTime(created)
		if err != nil {
			return nil, time.Time{}, err
		}
		out[mail.Stream(stream)] = n
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return out, oldest, rows.Err()
}

// LeaseOutbox sets the next attempt of the queued entries ids to until (a claim while they are
// handed over, or its release); entries sent, failed or gone meanwhile are left alone.
func (tx *Tx) LeaseOutbox(ctx context.Context, ids []string, until time.Time) error {
	return tx.setByIDs(ctx, "UPDATE outbox SET next_attempt_at = ? WHERE status = 'queued' AND id IN ", formatTime(until), ids)
}

// OutboxEntry returns one outbox entry by id; NotFound when absent (never queued, or erased).
func (tx *Tx) OutboxEntry(ctx context.Context, id string) (mail.Entry, error) {
	rows, err := tx.query(ctx, "SELECT "+outboxCols+" FROM outbox WHERE id = ?", id)
	if err != nil {
		return mail.Entry{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return mail.Entry{}, err
		}
		return mail.Entry{}, apperr.New(apperr.NotFound, "message not found")
	}
	return scanEntry(rows)
}

func scanEntry(rows *sql.Rows) (mail.Entry, error) {
	var e mail.Entry
	var stream, next, created string
	var sent, contactID, requestID sql.NullString
	err := rows.Scan(&e.ID, &contactID, &requestID, &stream, &e.Kind, &e.Status, &e.Attempts, &next, &created, &sent, &e.LastError, &e.Sealed, &e.Purpose, &e.CampaignID, &e.Last)
	if err != nil {
		return e, err
	}
	e.ContactID, e.RequestID = contactID.String, requestID.String
	e.Stream = mail.Stream(stream)
	if e.NextAttemptAt, err = parseTime(next); err != nil {
		return e, err
	}
	if e.CreatedAt, err = parseTime(created); err != nil {
		return e, err
	}
	e.SentAt, err = nullTime(sent)
	return e, err
}

// UpdateOutbox records a send attempt's outcome. An entry erased meanwhile is gone: nothing to do.
func (tx *Tx) UpdateOutbox(ctx context.Context, e mail.Entry) error {
	var sent any
	if e.SentAt != nil {
		sent = formatTime(*e.SentAt)
	}
	return tx.execOne(ctx, "outbox entry gone", "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, sent_at = ?, last_error = ? WHERE id = ?",
		e.Status, e.Attempts, formatTime(e.NextAttemptAt), sent, e.LastError, e.ID)
}

// InsertOptinToken stores a double opt-in token's hash and what it confirms.
func (tx *Tx) InsertOptinToken(ctx context.Context, t optin.Token) error {
	pv, err := json.Marshal(t.PolicyVersions)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, "INSERT INTO optin_tokens (hash, contact_id, purposes, policy_versions, form_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
		t.Hash, t.ContactID, strings.Join(t.Purposes, ","), string(pv), t.FormID, formatTime(t.CreatedAt), formatTime(t.ExpiresAt))
	return err
}

// OptinTokenByHash returns the token; NotFound when none.
func (tx *Tx) OptinTokenByHash(ctx context.Context, hash []byte) (optin.Token, error) {
	row, err := tx.queryRow(ctx, "SELECT hash, contact_id, purposes, policy_versions, form_id, created_at, expires_at, used_at FROM optin_tokens WHERE hash = ?", hash)
	if err != nil {
		return optin.Token{}, err
	}
	return scanOptinToken(row)
}

// LastOptinToken returns the contact's newest token (by created_at, then hash); NotFound when
// none is left.
func (tx *Tx) LastOptinToken(ctx context.Context, contactID string) (optin.Token, error) {
	row, err := tx.queryRow(ctx, "SELECT hash, contact_id, purposes, policy_versions, form_id, created_at, expires_at, used_at FROM optin_tokens WHERE contact_id = ? ORDER BY created_at DESC, hash DESC LIMIT 1", contactID)
	if err != nil {
		return optin.Token{}, err
	}
	return scanOptinToken(row)
}

func scanOptinToken(row scanner) (optin.Token, error) {
	var t optin.Token
	var purposes, pv, created, expires string
	var used sql.NullString
	err := row.Scan(&t.Hash, &t.ContactID, &purposes, &pv, &t.FormID, &created, &expires, &used)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return optin.Token{}, apperr.New(apperr.NotFound, "token not found")
		}
		return optin.Token{}, err
	}
	t.Purposes = strings.Split(purposes, ",")
	if err := json.Unmarshal([]byte(pv), &t.PolicyVersions); err != nil {
		return optin.Token{}, err
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return optin.Token{}, err
	}
	if t.ExpiresAt, err = parseTime(expires); err != nil {
		return optin.Token{}, err
	}
	if t.UsedAt, err = nullTime(used); err != nil {
		return optin.Token{}, err
	}
	return t, nil
}

// UseOptinToken marks the token used at at; NotFound when it was used already.
func (tx *Tx) UseOptinToken(ctx context.Context, hash []byte, at time.Time) error {
	res, err := tx.exec(ctx, "UPDATE optin_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL", formatTime(at), hash)
	if err != nil {
		return err
	}
	return mustAffect(res, "unused token")
}

// LastMailAt returns when the newest outbox message of one of kinds to the contact was queued
// (zero when none).
func (tx *Tx) LastMailAt(ctx context.Context, contactID string, kinds ...string) (time.Time, error) {
	if len(kinds) == 0 {
		return time.Time{}, nil
	}
	args := []any{contactID}
	for _, k := range kinds {
		args = append(args, k)
	}
	row, err := tx.queryRow(ctx, "SELECT max(created_at) FROM outbox WHERE contact_id = ? AND kind IN (?"+strings.Repeat(", ?", len(kinds)-1)+")", args...)
	if err != nil {
		return time.Time{}, err
	}
	var s sql.NullString
	if err := row.Scan(&s); err != nil || !s.Valid {
		return time.Time{}, err
	}
	return parseTime(s.String)
}

// DeleteSuppression removes the suppression entries of hashes (the person's own new double
// opt-in: the address's hash under each key of the blind-index keyset).
func (tx *Tx) DeleteSuppression(ctx context.Context, hashes ...[]byte) error {
	_, err := tx.exec(ctx, "DELETE FROM suppressions WHERE hash IN "+inList(len(hashes)), blobs(hashes)...)
	return err
}

// InsertUnsubscribeToken stores an unsubscribe token's hash and what it names.
func (tx *Tx) InsertUnsubscribeToken(ctx context.Context, hash []byte, l optin.Link, at time.Time) error {
	_, err := tx.exec(ctx, "INSERT INTO unsubscribe_tokens (hash, contact_id, purpose_id, kind, created_at) VALUES (?, ?, ?, ?, ?)", hash, l.ContactID, l.Purpose, string(l.Kind), formatTime(at))
	return err
}

// UnsubscribeToken returns what a token names; NotFound when none.
func (tx *Tx) UnsubscribeToken(ctx context.Context, hash []byte) (optin.Link, error) {
	row, err := tx.queryRow(ctx, "SELECT contact_id, purpose_id, kind FROM unsubscribe_tokens WHERE hash = ?", hash)
	if err != nil {
		return optin.Link{}, err
	}
	var l optin.Link
	if err := row.Scan(&l.ContactID, &l.Purpose, &l.Kind); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return optin.Link{}, apperr.New(apperr.NotFound, "token not found")
		}
		return optin.Link{}, err
	}
	return l, nil
}

// CampaignOutcomes counts a campaign's outbox entries by status and, for skipped ones, reason.
func (tx *Tx) CampaignOutcomes(ctx context.Context, campaignID string) (map[string]int, map[string]int, error) {
	rows, err := tx.query(ctx, "SELECT status, last_error, count(*) FROM outbox WHERE campaign_id = ? GROUP BY status, last_error", campaignID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	byStatus, skipped := map[string]int{}, map[string]int{}
	for rows.Next() {
		var status, reason string
		var n int
		if err := rows.Scan(&status, &reason, &n); err != nil {
			return nil, nil, err
		}
		byStatus[status] += n
		if status == mail.StatusSkipped {
			skipped[reason] += n
		}
	}
	return byStatus, skipped, rows.Err()
}

// ContactBySuppressionHash returns the id of a contact whose current address has one of these
// suppression hashes (its hash under each key of the blind-index keyset), and the hash it
// stores ("" and nil when none).
func (tx *Tx) ContactBySuppressionHash(ctx context.Context, hashes ...[]byte) (string, []byte, error) {
	row, err := tx.queryRow(ctx, "SELECT id, suppression_hash FROM contacts WHERE suppression_hash IN "+inList(len(hashes))+" ORDER BY id LIMIT 1", blobs(hashes)...)
	if err != nil {
		return "", nil, err
	}
	var id string
	var stored []byte
	if err := row.Scan(&id, &stored); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil, nil
		}
		return "", nil, err
	}
	return id, stored, nil
}

// MailOwnerLive reports whether the owner of a mail file still exists: the contact (contactID
// set) or the request with its key (requestID set). FileTransport.Sweep asks it at start.
func (b *Base) MailOwnerLive(ctx context.Context, contactID, requestID string) (bool, error) {
	q, id := "SELECT count(*) FROM contacts WHERE id = ?", contactID
	if contactID == "" {
		q, id = "SELECT count(*) FROM requests WHERE id = ? AND key_destroyed = 0", requestID
	}
	var n int
	if err := b.Reader.QueryRowContext(ctx, b.rewrite(q), id).Scan(&n); err != nil {
		return false, fmt.Errorf("store: mail owner: %w", err)
	}
	return n > 0, nil
}
