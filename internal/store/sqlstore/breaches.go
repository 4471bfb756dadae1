package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/governance"
)

const breachCols = "id, title, description, detected_at, window_from, window_to, actor_id, categories, people_affected, records_affected, risk, authority_notified_at, inform_people, people_informed_at, measures, likely_consequences, created_at, updated_at, version"

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func breachArgs(b *governance.Breach) []any {
	return []any{b.ID, b.Title, b.Description, formatTime(b.DetectedAt), optTime(b.WindowFrom), optTime(b.WindowTo), b.ActorID, strings.Join(b.Categories, ","),
		b.PeopleAffected, b.RecordsAffected, b.Risk, optTime(b.AuthorityNotifiedAt), b.InformPeople, optTime(b.PeopleInformedAt), b.Measures, b.LikelyConsequences,
		formatTime(b.CreatedAt), formatTime(b.UpdatedAt), b.Version}
}

// InsertBreach stores a new breach.
func (tx *Tx) InsertBreach(ctx context.Context, b *governance.Breach) error {
	_, err := tx.exec(ctx, "INSERT INTO breaches ("+breachCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", breachArgs(b)...)
	return err
}

// UpdateBreach replaces the stored breach; NotFound when absent.
func (tx *Tx) UpdateBreach(ctx context.Context, b *governance.Breach) error {
	args := breachArgs(b)
	return tx.execOne(ctx, "breach not found", "UPDATE breaches SET title = ?, description = ?, detected_at = ?, window_from = ?, window_to = ?, actor_id = ?, categories = ?, people_affected = ?, records_affected = ?, risk = ?, authority_notified_at = ?, inform_people = ?, people_informed_at = ?, measures = ?, likely_consequences = ?, created_at = ?, updated_at = ?, version = ? WHERE id = ?",
		append(args[1:], args[0])...)
}

// BreachByID returns one breach; NotFound when absent.
func (tx *Tx) BreachByID(ctx context.Context, id string) (*governance.Breach, error) {
	bs, err := tx.queryBreaches(ctx, "SELECT "+breachCols+" FROM breaches WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, apperr.New(apperr.NotFound, "breach not found")
	}
	return bs[0], nil
}

// ListBreaches returns every breach, most recently detected first.
func (tx *Tx) ListBreaches(ctx context.Context) ([]*governance.Breach, error) {
	return tx.queryBreaches(ctx, "SELECT "+breachCols+" FROM breaches ORDER BY detected_at DESC, id")
}

func (tx *Tx) queryBreaches(ctx context.Context, q string, args ...any) ([]*governance.Breach, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*governance.Breach
	for rows.Next() {
		b := &governance.Breach{}
		var detected, cats, created, updated string
		var from, to, notified, informed sql.NullString
		if err := rows.Scan(&b.ID, &b.Title, &b.Description, &detected, &from, &to, &b.ActorID, &cats, &b.PeopleAffected, &b.RecordsAffected,
			&b.Risk, &notified, &b.InformPeople, &informed, &b.Measures, &b.LikelyConsequences, &created, &updated, &b.Version); err != nil {
			return nil, err
		}
		b.Categories = splitList(cats)
		for _, p := range []struct {
			s   sql.NullString
			dst **time.Time
		}{{from, &b.WindowFrom}, {to, &b.WindowTo}, {notified, &b.AuthorityNotifiedAt}, {informed, &b.PeopleInformedAt}} {
			if *p.dst, err = nullTime(p.s); err != nil {
				return nil, err
			}
		}
		if b.DetectedAt, err = parseTime(detected); err != nil {
			return nil, err
		}
		if b.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if b.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// CountAffected counts the distinct contacts and the audit events about contacts between from
// and to (inclusive), by one actor id when actorID is not "".
func (tx *Tx) CountAffected(ctx context.Context, from, to time.Time, actorID string) (people, records int, err error) {
	if pid, ok := strings.CutPrefix(actorID, "processor:"); ok {
		// A breach at a processor: everyone whose data went to it up to the end of the window,
		// and each disclosure as a record.
		row, err := tx.queryRow(ctx, "SELECT count(DISTINCT contact_id), count(*) FROM disclosures WHERE processor_id = ? AND allowed = 1 AND at <= ?", pid, formatTime(to))
		if err != nil {
			return 0, 0, err
		}
		err = row.Scan(&people, &records)
		return people, records, err
	}
	// Refused reads disclosed nothing; a disclosure or a processor's read is also written as contact.read.
	q := "SELECT count(DISTINCT object_id), count(*) FROM audit_events WHERE object_kind = 'contact' AND at >= ? AND at <= ? AND action NOT LIKE '%refuse%' AND action NOT LIKE 'share.%'"
	args := []any{formatTime(from), formatTime(to)}
	if actorID != "" {
		q += " AND actor_id = ?"
		args = append(args, actorID)
	}
	row, err := tx.queryRow(ctx, q, args...)
	if err != nil {
		return 0, 0, err
	}
	err = row.Scan(&people, &records)
	return people, records, err
}

// ActorKnown reports whether id is a token's id (revoked ones too) or the actor id of any audit
// event.
func (tx *Tx) ActorKnown(ctx context.Context, id string) (bool, error) {
	row, err := tx.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ?) OR EXISTS (SELECT 1 FROM audit_events WHERE actor_id = ?)", id, id)
	if err != nil {
		return false, err
	}
	var known bool
	err = row.Scan(&known)
	return known, tx.base.translate(err)
}

// ProcessorKnown reports whether a processor with this id is registered (ended ones too).
func (tx *Tx) ProcessorKnown(ctx context.Context, id string) (bool, error) {
	row, err := tx.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM processors WHERE id = ?)", id)
	if err != nil {
		return false, err
	}
	var known bool
	err = row.Scan(&known)
	return known, tx.base.translate(err)
}
