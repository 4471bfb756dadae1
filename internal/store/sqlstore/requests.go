package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
)

const requestCols = "id, type, state, contact_id, channel, received_at, due_at, extended_until, completed_at, assignee, key_version, email_bidx, email_ct, details_ct, reason_ct, receipt, updated_at, version"

// InsertRequest stores a new data subject request.
func (tx *Tx) InsertRequest(ctx context.Context, r *dsr.Record) error {
	_, err := tx.exec(ctx, "INSERT INTO requests ("+requestCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", requestArgs(r)...)
	return err
}

// UpdateRequest replaces the stored request; NotFound when absent.
func (tx *Tx) UpdateRequest(ctx context.Context, r *dsr.Record) error {
	args := requestArgs(r)
	return tx.execOne(ctx, "request not found", "UPDATE requests SET type = ?, state = ?, contact_id = ?, channel = ?, received_at = ?, due_at = ?, extended_until = ?, completed_at = ?, assignee = ?, key_version = ?, email_bidx = ?, email_ct = ?, details_ct = ?, reason_ct = ?, receipt = ?, updated_at = ?, version = ? WHERE id = ?",
		append(args[1:], args[0])...)
}

func requestArgs(r *dsr.Record) []any {
	var ext, done any
	if r.ExtendedUntil != nil {
		ext = formatTime(*r.ExtendedUntil)
	}
	if r.CompletedAt != nil {
		done = formatTime(*r.CompletedAt)
	}
	return []any{r.ID, string(r.Type), string(r.State), r.ContactID, string(r.Channel), formatTime(r.ReceivedAt), formatTime(r.DueAt), ext, done,
		r.Assignee, r.KeyVersion, r.EmailIndex, r.Sealed["email"], r.Sealed["details"], r.Sealed["reason"], nullString(string(r.Receipt)), formatTime(r.UpdatedAt), r.Version}
}

// RequestByID returns one request; NotFound when absent.
func (tx *Tx) RequestByID(ctx context.Context, id string) (*dsr.Record, error) {
	rows, err := tx.query(ctx, "SELECT "+requestCols+" FROM requests WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, apperr.New(apperr.NotFound, "request not found")
	}
	return scanRequest(rows)
}

// ListRequests returns the requests matching f in id order, at most f.Limit.
func (tx *Tx) ListRequests(ctx context.Context, f dsr.Filter) ([]*dsr.Record, error) {
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	if f.Assignee != "" {
		where, args = append(where, "assignee = ?"), append(args, f.Assignee)
	}
	if f.Open || !f.DueBy.IsZero() {
		where = append(where, "state NOT IN ('completed', 'rejected')")
	}
	if f.Closed {
		where = append(where, "state IN ('completed', 'rejected')")
	}
	if f.Waiting {
		where = append(where, "state IN ('received', 'verifying')")
	}
	if !f.NotOverdueAt.IsZero() {
		where, args = append(where, "(state IN ('completed', 'rejected') OR coalesce(extended_until, due_at) >= ?)"), append(args, formatTime(f.NotOverdueAt))
	}
	if !f.DueBy.IsZero() {
		where, args = append(where, "coalesce(extended_until, due_at) <= ?"), append(args, formatTime(f.DueBy))
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	q := "SELECT " + requestCols + " FROM requests"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id LIMIT ?"
	return tx.queryRequests(ctx, q, append(args, f.Limit)...)
}

// CountRequests counts the requests by state, and the open ones whose deadline (extended_until,
// else due_at) is before now, for the request gauges of /metrics.
func (tx *Tx) CountRequests(ctx context.Context, now time.Time) (map[dsr.State]int, int, error) {
	rows, err := tx.query(ctx, "SELECT state, count(*), sum(CASE WHEN state NOT IN ('completed', 'rejected') AND coalesce(extended_until, due_at) < ? THEN 1 ELSE 0 END) FROM requests GROUP BY state", formatTime(now))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := map[dsr.State]int{}
	overdue := 0
	for rows.Next() {
		var state string
		var n, late int
		if err := rows.Scan(&state, &n, &late); err != nil {
			return nil, 0, err
		}
		out[dsr.State(state)] = n
		overdue += late
	}
	return out, overdue, rows.Err()
}

func (tx *Tx) queryRequests(ctx context.Context, q string, args ...any) ([]*dsr.Record, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*dsr.Record
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRequest(rows *sql.Rows) (*dsr.Record, error) {
	r := &dsr.Record{Sealed: map[string][]byte{}}
	var typ, state, channel, received, due, updated string
	var ext, done sql.NullString
	var email, details, reason []byte
	var receipt sql.NullString
	if err := rows.Scan(&r.ID, &typ, &state, &r.ContactID, &channel, &received, &due, &ext, &done, &r.Assignee, &r.KeyVersion, &r.EmailIndex, &email, &details, &reason, &receipt, &updated, &r.Version); err != nil {
		return nil, err
	}
	r.Type, r.State, r.Channel = dsr.Type(typ), dsr.State(state), dsr.Channel(channel)
	if receipt.Valid {
		r.Receipt = []byte(receipt.String)
	}
	for col, v := range map[string][]byte{"email": email, "details": details, "reason": reason} {
		if len(v) > 0 {
			r.Sealed[col] = v
		}
	}
	var err error
	if r.ReceivedAt, err = parseTime(received); err != nil {
		return nil, err
	}
	if r.DueAt, err = parseTime(due); err != nil {
		return nil, err
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	if r.ExtendedUntil, err = nullTime(ext); err != nil {
		return nil, err
	}
	if r.CompletedAt, err = nullTime(done); err != nil {
		return nil, err
	}
	return r, nil
}

// LinksSentSince counts the verification links created since the given time for requests from
// the address with one of these blind indexes (its index under each key of the blind-index
// keyset: keys.Keyring.BlindIndexes); 0 when none is given.
func (tx *Tx) LinksSentSince(ctx context.Context, emailIndexes [][]byte, since time.Time) (int, error) {
	row, err := tx.queryRow(ctx, "SELECT count(*) FROM request_tokens t JOIN requests r ON r.id = t.request_id WHERE r.email_bidx IN "+inList(len(emailIndexes))+" AND t.created_at >= ?", append(blobs(emailIndexes), formatTime(since))...)
	if err != nil {
		return 0, err
	}
	var n int
	err = row.Scan(&n)
	return n, err
}

// AppendRequestEvent appends an entry to a request's timeline and sets its Seq.
func (tx *Tx) AppendRequestEvent(ctx context.Context, e *dsr.EventRecord) error {
	row, err := tx.queryRow(ctx, "INSERT INTO request_events (id, request_id, at, actor, action, state, note_ct) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
		e.ID, e.RequestID, formatTime(e.At), e.Actor, e.Action, string(e.State), e.Note)
	if err != nil {
		return err
	}
	err = tx.base.translate(row.Scan(&e.Seq))
	return err
}

// RequestEvents returns a request's timeline, oldest first.
func (tx *Tx) RequestEvents(ctx context.Context, requestID string) ([]dsr.EventRecord, error) {
	rows, err := tx.query(ctx, "SELECT seq, id, request_id, at, actor, action, state, note_ct FROM request_events WHERE request_id = ? ORDER BY seq", requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dsr.EventRecord
	for rows.Next() {
		var e dsr.EventRecord
		var at, state string
		if err := rows.Scan(&e.Seq, &e.ID, &e.RequestID, &at, &e.Actor, &e.Action, &state, &e.Note); err != nil {
			return nil, err
		}
		e.State = dsr.State(state)
		if e.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// InsertRequestToken stores a verification link's hash.
func (tx *Tx) InsertRequestToken(ctx context.Context, t dsr.Token) error {
	_, err := tx.exec(ctx, "INSERT INTO request_tokens (hash, request_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, NULL)",
		t.Hash, t.RequestID, formatTime(t.CreatedAt), formatTime(t.ExpiresAt))
	return err
}

// RequestTokenByHash returns the verification link with this hash; NotFound when none.
func (tx *Tx) RequestTokenByHash(ctx context.Context, hash []byte) (dsr.Token, error) {
	row, err := tx.queryRow(ctx, "SELECT hash, request_id, created_at, expires_at, used_at FROM request_tokens WHERE hash = ?", hash)
	if err != nil {
		return dsr.Token{}, err
	}
	var t dsr.Token
	var created, expires string
	var used sql.NullString
	if err := row.Scan(&t.Hash, &t.RequestID, &created, &expires, &used); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return dsr.Token{}, apperr.New(apperr.NotFound, "link not found")
		}
		return dsr.Token{}, err
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return dsr.Token{}, err
	}
	if t.ExpiresAt, err = parseTime(expires); err != nil {
		return dsr.Token{}, err
	}
	t.UsedAt, err = nullTime(used)
	return t, err
}

// UseRequestToken marks a verification link used; NotFound when it was used already.
func (tx *Tx) UseRequestToken(ctx context.Context, hash []byte, at time.Time) error {
	return tx.execOne(ctx, "link used already", "UPDATE request_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL", formatTime(at), hash)
}

// ForgetRequest destroys a request's data key, so its sealed address, details, reasons and notes
// can no longer be read, and deletes its mail and the blind index of its address. The request
// row, its timeline and its receipt stay.
func (tx *Tx) ForgetRequest(ctx context.Context, requestID string) error {
	if _, err := tx.exec(ctx, "DELETE FROM keystore.contact_keys WHERE contact_id = ?", requestID); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM outbox WHERE request_id = ?", requestID); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "UPDATE requests SET email_bidx = NULL, key_destroyed = 1 WHERE id = ?", requestID); err != nil {
		return err
	}
	tx.gone.Requests = append(tx.gone.Requests, requestID)
	return nil
}
