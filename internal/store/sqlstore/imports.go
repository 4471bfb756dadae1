package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/importer"
)

// StartImport records that import id (format mailchimp or generic) started at at, so that its
// refused rows can be stored. Conflict when the id is taken.
func (tx *Tx) StartImport(ctx context.Context, id, format string, at time.Time) error {
	_, err := tx.exec(ctx, "INSERT INTO imports (id, format, started_at) VALUES (?, ?, ?)", id, format, formatTime(at))
	return err
}

// importNo returns the store's key of import id; NotFound when there is no such import.
func (tx *Tx) importNo(ctx context.Context, id string) (int64, error) {
	row, err := tx.queryRow(ctx, "SELECT no FROM imports WHERE id = ?", id)
	if err != nil {
		return 0, err
	}
	var no int64
	err = row.Scan(&no)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.NotFound, "no import with this id")
	}
	return no, err
}

var insImportErrors = "INSERT INTO import_errors (import_no, line, field, code, reason)"

// AddImportErrors stores refused rows of import id (at most one per line: Conflict for a line
// stored twice); NotFound when StartImport did not record the import.
func (tx *Tx) AddImportErrors(ctx context.Context, id string, rows []importer.RowReport) error {
	if len(rows) == 0 {
		return nil
	}
	no, err := tx.importNo(ctx, id)
	if err != nil {
		return err
	}
	return tx.insertChunks(ctx, insImportErrors, 5, len(rows), func(i int) []any {
		r := rows[i]
		return []any{no, r.Line, r.Field, r.Code, r.Reason}
	})
}

// ImportErrors returns up to limit refused rows of import id with a line after afterLine, in
// line order (a page: pass the last line returned to read on); NotFound when there is no such
// import, and an empty page when it refused nothing more.
func (tx *Tx) ImportErrors(ctx context.Context, id string, afterLine, limit int) ([]importer.RowReport, error) {
	no, err := tx.importNo(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := tx.query(ctx, "SELECT line, field, code, reason FROM import_errors WHERE import_no = ? AND line > ? ORDER BY line LIMIT ?", no, afterLine, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]importer.RowReport, 0, min(limit, 1024))
	for rows.Next() {
		var r importer.RowReport
		if err := rows.Scan(&r.Line, &r.Field, &r.Code, &r.Reason); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
