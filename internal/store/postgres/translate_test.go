package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/store"
)

// TestTranslateKinds: SQLSTATEs map to apperr kinds. Text PostgreSQL refuses (found by a
// hostile-input trial: an id holding U+0000 in the path answered 500) is the client's error.
func TestTranslateKinds(t *testing.T) {
	for _, c := range []struct {
		code string
		want apperr.Kind
	}{
		{"23505", apperr.Conflict},
		{"40001", apperr.Unavailable},
		{"40P01", apperr.Unavailable},
		{"55P03", apperr.Unavailable},
		{"57014", apperr.Unavailable},
		{"22021", apperr.Invalid},
		{"22P05", apperr.Invalid},
	} {
		err := translate(fmt.Errorf("postgres: query: %w", &pgconn.PgError{Code: c.code}))
		if e := apperr.As(err); e == nil || e.Kind != c.want {
			t.Errorf("translate(SQLSTATE %s) = %v; want kind %v", c.code, err, c.want)
		}
	}
	if e := apperr.As(translate(&pgconn.PgError{Code: "42P01"})); e != nil {
		t.Errorf("translate(SQLSTATE 42P01) = %v; want the error as it is (internal)", e)
	}
}

// TestTextPostgreSQLRefusesIsInvalid: the store itself answers Invalid, not an internal error,
// for a read by an id holding U+0000 or bytes that are not UTF-8.
func TestTextPostgreSQLRefusesIsInvalid(t *testing.T) {
	db, _ := openFresh(t, "tx_", Config{})
	ctx := context.Background()
	for _, id := range []string{"a\x00b", "a\xffb"} {
		err := db.View(ctx, func(tx store.Tx) error { _, err := tx.ContactByID(ctx, id); return err })
		if e := apperr.As(err); e == nil || e.Kind != apperr.Invalid || e.Reason != "invalid_text" {
			t.Errorf("ContactByID(%q) = %v; want Invalid invalid_text", id, err)
		}
	}
}
