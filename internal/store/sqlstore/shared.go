package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// InsertConsoleSession stores a console sign-in: the SHA-256 of its session id, the hash of the
// API token it was made with, and when it expires.
func (tx *Tx) InsertConsoleSession(ctx context.Context, hash, tokenHash []byte, expires time.Time) error {
	_, err := tx.exec(ctx, "INSERT INTO console_sessions (session_hash, token_hash, expires_at) VALUES (?, ?, ?)", hash, tokenHash, formatTime(expires))
	return err
}

// ConsoleSession returns the token hash and expiry of the sign-in with this session hash;
// NotFound when there is none.
func (tx *Tx) ConsoleSession(ctx context.Context, hash []byte) ([]byte, time.Time, error) {
	row, err := tx.queryRow(ctx, "SELECT token_hash, expires_at FROM console_sessions WHERE session_hash = ?", hash)
	if err != nil {
		return nil, time.Time{}, err
	}
	var tokenHash []byte
	var expires string
	if err := row.Scan(&tokenHash, &expires); errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, apperr.New(apperr.NotFound, "no such console session")
	} else if err != nil {
		return nil, time.Time{}, err
	}
	at, err := parseTime(expires)
	return tokenHash, at, err
}

// DeleteConsoleSession ends the sign-in with this session hash (none: nothing to do).
func (tx *Tx) DeleteConsoleSession(ctx context.Context, hash []byte) error {
	_, err := tx.exec(ctx, "DELETE FROM console_sessions WHERE session_hash = ?", hash)
	return err
}

// DeleteExpiredConsoleSessions deletes the sign-ins that expired at or before now and returns
// how many.
func (tx *Tx) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := tx.exec(ctx, "DELETE FROM console_sessions WHERE expires_at <= ?", formatTime(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RateWindow returns the start of a client's counting window on a public form and the posts
// counted in it; NotFound when none is kept.
func (tx *Tx) RateWindow(ctx context.Context, form string, client []byte) (time.Time, int, error) {
	row, err := tx.queryRow(ctx, "SELECT window_start, posts FROM rate_windows WHERE form = ? AND client = ?", form, client)
	if err != nil {
		return time.Time{}, 0, err
	}
	var start string
	var posts int
	if err := row.Scan(&start, &posts); errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, apperr.New(apperr.NotFound, "no rate window")
	} else if err != nil {
		return time.Time{}, 0, err
	}
	at, err := parseTime(start)
	return at, posts, err
}

// PutRateWindow sets a client's counting window on a form (inserted or replaced).
func (tx *Tx) PutRateWindow(ctx context.Context, form string, client []byte, start time.Time, posts int) error {
	_, err := tx.exec(ctx, `INSERT INTO rate_windows (form, client, window_start, posts) VALUES (?, ?, ?, ?)
		ON CONFLICT (form, client) DO UPDATE SET window_start = excluded.window_start, posts = excluded.posts`,
		form, client, formatTime(start), posts)
	return err
}

// DeleteRateWindowsBefore forgets every window that started before before and returns how many.
func (tx *Tx) DeleteRateWindowsBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := tx.exec(ctx, "DELETE FROM rate_windows WHERE window_start < ?", formatTime(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
