package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/token"
)

const qTokenByHash = "SELECT id, name, role, created_at, revoked_at, processor_id FROM tokens WHERE hash = ?"

// InsertToken stores a token with the hash of its secret.
func (tx *Tx) InsertToken(ctx context.Context, t token.Token, hash []byte) error {
	_, err := tx.exec(ctx, "INSERT INTO tokens (id, name, role, hash, created_at, processor_id) VALUES (?, ?, ?, ?, ?, ?)", t.ID, t.Name, string(t.Role), hash, formatTime(t.CreatedAt), t.ProcessorID)
	return err
}

// TokenByHash returns the token whose secret hashes to hash; NotFound when none.
func (tx *Tx) TokenByHash(ctx context.Context, hash []byte) (token.Token, error) {
	row, err := tx.queryRow(ctx, qTokenByHash, hash)
	if err != nil {
		return token.Token{}, err
	}
	var t token.Token
	var role, created string
	var revoked sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &role, &created, &revoked, &t.ProcessorID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return token.Token{}, apperr.New(apperr.NotFound, "token not found")
		}
		return token.Token{}, err
	}
	t.Role = token.Role(role)
	if t.CreatedAt, err = parseTime(created); err != nil {
		return token.Token{}, err
	}
	if t.RevokedAt, err = nullTime(revoked); err != nil {
		return token.Token{}, err
	}
	return t, nil
}

// CountLiveTokens returns the number of tokens not revoked.
func (tx *Tx) CountLiveTokens(ctx context.Context) (int, error) {
	row, err := tx.queryRow(ctx, "SELECT count(*) FROM tokens WHERE revoked_at IS NULL")
	if err != nil {
		return 0, err
	}
	var n int
	err = row.Scan(&n)
	return n, err
}

// ListTokens returns every token in creation order.
func (tx *Tx) ListTokens(ctx context.Context) ([]token.Token, error) {
	rows, err := tx.query(ctx, "SELECT id, name, role, created_at, revoked_at, processor_id FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []token.Token{}
	for rows.Next() {
		var t token.Token
		var role, created string
		var revoked sql.NullString
		if err := rows.Scan(&t.ID, &t.Name, &role, &created, &revoked, &t.ProcessorID); err != nil {
			return nil, err
		}
		t.Role = token.Role(role)
		if t.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if t.RevokedAt, err = nullTime(revoked); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks the live token with this id revoked at at; NotFound when there is none.
func (tx *Tx) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := tx.exec(ctx, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", formatTime(at), id)
	if err != nil {
		return err
	}
	return mustAffect(res, "live token")
}
