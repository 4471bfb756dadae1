package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// seedRetention stores n leads changed at updated, each with one consent event for newsletter
// (refused, so no consent is in force) recorded at updated.
func seedRetention(b *testing.B, db *DB, n int, updated time.Time) {
	b.Helper()
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.InsertPurpose(ctx, consent.Purpose{ID: "newsletter", Name: "n", LawfulBasis: consent.BasisConsent, RetentionDays: 1, CreatedAt: updated})
	}); err != nil {
		b.Fatal(err)
	}
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		err := db.Update(ctx, func(tx *Tx) error {
			for i := start; i < start+chunk && i < n; i++ {
				id := fmt.Sprintf("c-%08d", i)
				rec := &contact.Record{ID: id, Kind: contact.KindLead, KeyVersion: 1, EmailIndex: []byte(id),
					Sealed: map[string][]byte{"notes": []byte("x")}, CreatedAt: updated, UpdatedAt: updated, Version: 1}
				if err := tx.InsertContact(ctx, rec); err != nil {
					return err
				}
				ev := &consent.Event{ID: "e-" + id, ContactID: id, Purpose: "newsletter", State: consent.Refused, Method: consent.MethodWebForm,
					PolicyVersions: map[string]string{}, OccurredAt: updated, RecordedAt: updated, Actor: "t"}
				if err := tx.InsertConsentEvent(ctx, ev, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// oldExpired is the retention query before issue 12 (4f0ba61 store/sqlite/retention.go), kept
// here to compare the cost of the hourly sweep with the candidate read that replaced it.
func oldExpired(ctx context.Context, tx *Tx, kind contact.Kind, purpose string, before time.Time, after string, limit int) ([]string, error) {
	b := sqlstore.FormatTime(before)
	rows, err := tx.Query(ctx, `SELECT c.id FROM contacts c
		WHERE c.kind = ? AND c.id > ? AND c.legal_hold = 0 AND c.restricted = 0 AND c.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM consent_current cc WHERE cc.contact_id = c.id AND cc.state = 'dpv:ConsentGiven')
		AND NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.contact_id = c.id AND (e.occurred_at >= ? OR e.recorded_at >= ?))
		AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.contact_id = c.id AND r.state NOT IN ('completed', 'rejected'))
		AND (? = '' OR EXISTS (SELECT 1 FROM consent_events e2 WHERE e2.contact_id = c.id AND e2.purpose_id = ?))
		ORDER BY c.id LIMIT ?`, string(kind), after, b, b, b, purpose, purpose, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// BenchmarkRetentionHourlySweep measures the read side of one policy's hourly sweep over a store
// of 100,000 leads none of which has expired (the usual case): the SQL before issue 12, which
// finds nothing, against the candidate read now, which leaves out every lead changed or with a
// consent event since the cut-off (CandidateQuery.IdleBefore) and so hands none to Policy.Erases.
func BenchmarkRetentionHourlySweep(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	db, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	seedRetention(b, db, n, now.AddDate(0, 0, -1))
	p := governance.Policy{ID: "leads", Kind: contact.KindLead, AfterDays: 30}
	b.Run("before-i12-sql", func(b *testing.B) {
		for b.Loop() {
			after, found := "", 0
			for {
				var ids []string
				if err := db.Update(ctx, func(tx *Tx) error {
					var err error
					ids, err = oldExpired(ctx, tx, p.Kind, p.Purpose, now.AddDate(0, 0, -p.AfterDays), after, 500)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				found += len(ids)
				if len(ids) < 500 {
					break
				}
				after = ids[len(ids)-1]
			}
			if found != 0 {
				b.Fatalf("old SQL found %d", found)
			}
		}
	})
	b.Run("candidates", func(b *testing.B) {
		for b.Loop() {
			after, read, found := "", 0, 0
			for {
				var cs []governance.Candidate
				if err := db.View(ctx, func(tx *Tx) error {
					var err error
					cs, err = tx.RetentionCandidates(ctx, governance.CandidateQuery{Kind: p.Kind, IdleBefore: p.Cutoff(now), After: after, Limit: 500})
					return err
				}); err != nil {
					b.Fatal(err)
				}
				read += len(cs)
				for _, c := range cs {
					if p.Erases(c, now) {
						found++
					}
				}
				if len(cs) < 500 {
					break
				}
				after = cs[len(cs)-1].ContactID
			}
			if found != 0 || read != 0 {
				b.Fatalf("candidates read %d, erase %d; want none of the unexpired leads", read, found)
			}
		}
	})
}
