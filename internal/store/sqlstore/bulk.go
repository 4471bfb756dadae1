package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// Bulk operations for imports: one statement per chunk of rows instead of one per row. They
// store exactly what the per-row methods store.

// Multi-row statements come in a few fixed shapes (rows per statement), prepared once when the
// database opens, so a batch never pays for parsing a statement with thousands of parameters:
// a run of n rows is written as full 256-row statements and the rest as 32-, 4- and 1-row ones.
var insertShapes = []int{256, 32, 4, 1}

// selectShape is the number of keys of one IN (…) lookup; shorter lists are padded with NULL.
const selectShape = 256

var (
	insContacts     = "INSERT INTO contacts (" + contactCols + ")"
	insKeys         = "INSERT INTO keystore.contact_keys (contact_id, version, wrapped, created_at)"
	insEvents       = "INSERT INTO consent_events (" + eventCols + ")"
	insCurrent      = "INSERT OR REPLACE INTO consent_current (" + currentCols + ")"
	insSuppressions = "INSERT OR IGNORE INTO suppressions (hash, reason, created_at, recorded_at)"
	insAudit        = "INSERT INTO audit_events (" + auditCols + ")"
	insChanges      = "INSERT INTO consent_changes (contact_id, purpose_id, change, occurred_at, recorded_at)"
)

// Bulk insert statement prefixes and their column counts.
var bulkInserts = []struct {
	prefix string
	cols   int
}{
	{insContacts, contactColCount},
	{insKeys, 4},
	{insEvents, 13},
	{insCurrent, 9},
	{insSuppressions, 4},
	{insAudit, 13},
	{insChanges, 5},
	{insImportErrors, 5},
	{insPurposeUnsubscribes, 4},
	{insCampaignSkipped, 3},
}

var bulkSelects = []string{
	"SELECT email_bidx, id FROM contacts WHERE email_bidx IN ",
	"SELECT hash, reason FROM suppressions WHERE hash IN ",
	"SELECT " + currentCols + " FROM consent_current WHERE purpose_id = ? AND contact_id IN ",
	"SELECT hash, at FROM purpose_unsubscribes WHERE purpose_id = ? AND hash IN ",
}

// placeholders returns "(?, …), (?, …)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

func insertQuery(prefix string, rows, cols int) string {
	return prefix + " VALUES " + placeholders(rows, cols)
}

func selectQuery(prefix string) string {
	return prefix + "(" + strings.TrimSuffix(strings.Repeat("?, ", selectShape), ", ") + ")"
}

// PrepareBulk prepares every bulk statement shape on the writer pool (with Dialect.Prepare). It
// runs at Open, while no transaction holds a connection.
func (b *Base) PrepareBulk(ctx context.Context, writer *sql.DB) error {
	b.shapes = map[string]*sql.Stmt{}
	if !b.Dialect.Prepare {
		return nil
	}
	var queries []string
	for _, b := range bulkInserts {
		for _, n := range insertShapes {
			queries = append(queries, insertQuery(b.prefix, n, b.cols))
		}
	}
	for _, q := range bulkSelects {
		queries = append(queries, selectQuery(q))
	}
	for _, q := range queries {
		s, err := writer.PrepareContext(ctx, b.rewrite(q))
		if err != nil {
			return fmt.Errorf("store: prepare bulk statement: %w", err)
		}
		b.shapes[q] = s
	}
	return nil
}

// shapedExec runs query with the statement prepared at Open when it is one of the shapes, and
// as any other statement otherwise.
func (tx *Tx) shapedExec(ctx context.Context, query string, args ...any) error {
	if s, ok := tx.base.shapes[query]; ok && !tx.readOnly { // shapes live on the writer connection
		_, err := tx.tx.StmtContext(ctx, s).ExecContext(ctx, tx.base.bools(args)...)
		return tx.base.translate(err)
	}
	_, err := tx.exec(ctx, query, args...)
	return err
}

// shapedQuery is shapedExec for a query.
func (tx *Tx) shapedQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := tx.base.shapes[query]; ok && !tx.readOnly {
		rows, err := tx.tx.StmtContext(ctx, s).QueryContext(ctx, tx.base.bools(args)...)
		return rows, tx.base.translate(err)
	}
	return tx.query(ctx, query, args...)
}

// insertChunks writes n rows with "prefix VALUES (…), (…)" statements of the fixed shapes;
// args(i) gives row i's values.
func (tx *Tx) insertChunks(ctx context.Context, prefix string, cols, n int, args func(i int) []any) error {
	tx.noteWrite(prefix)
	tx.wrote = tx.wrote || n > 0
	for start := 0; start < n; {
		rows := 1
		for _, shape := range insertShapes {
			if n-start >= shape {
				rows = shape
				break
			}
		}
		vals := make([]any, 0, rows*cols)
		for i := start; i < start+rows; i++ {
			vals = append(vals, args(i)...)
		}
		if err := tx.shapedExec(ctx, insertQuery(prefix, rows, cols), vals...); err != nil {
			return err
		}
		start += rows
	}
	return nil
}

// ContactIDsByEmailIndex returns, for those of the e-mail blind indexes that belong to a
// contact, the contact's id keyed by string(index).
func (tx *Tx) ContactIDsByEmailIndex(ctx context.Context, idx [][]byte) (map[string]string, error) {
	out := make(map[string]string, len(idx))
	err := tx.selectIn(ctx, "SELECT email_bidx, id FROM contacts WHERE email_bidx IN ", blobs(idx), func(scan func(...any) error) error {
		var k []byte
		var id string
		if err := scan(&k, &id); err != nil {
			return err
		}
		out[string(k)] = id
		return nil
	})
	return out, err
}

// SuppressionReasons returns, for those of the hashes on the suppression list, the reason keyed
// by string(hash).
func (tx *Tx) SuppressionReasons(ctx context.Context, hashes [][]byte) (map[string]string, error) {
	out := make(map[string]string, len(hashes))
	err := tx.selectIn(ctx, "SELECT hash, reason FROM suppressions WHERE hash IN ", blobs(hashes), func(scan func(...any) error) error {
		var h []byte
		var r string
		if err := scan(&h, &r); err != nil {
			return err
		}
		out[string(h)] = r
		return nil
	})
	return out, err
}

// CurrentConsentsFor returns the projected state for purpose of those contacts that have one,
// keyed by contact id.
func (tx *Tx) CurrentConsentsFor(ctx context.Context, contactIDs []string, purpose string) (map[string]consent.Current, error) {
	out := make(map[string]consent.Current, len(contactIDs))
	keys := make([]any, len(contactIDs))
	for i, id := range contactIDs {
		keys[i] = id
	}
	err := tx.selectIn(ctx, "SELECT "+currentCols+" FROM consent_current WHERE purpose_id = ? AND contact_id IN ", keys, func(scan func(...any) error) error {
		c, err := scanCurrent(scanFunc(scan))
		if err != nil {
			return err
		}
		out[c.ContactID] = c
		return nil
	}, purpose)
	return out, err
}

type scanFunc func(...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

func blobs(bs [][]byte) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

// selectIn runs prefix + "(?, …)" over keys in chunks of selectShape (the last padded with NULL,
// which matches nothing), with lead arguments bound before the keys, and calls each for every
// result row.
func (tx *Tx) selectIn(ctx context.Context, prefix string, keys []any, each func(scan func(...any) error) error, lead ...any) error {
	query := selectQuery(prefix)
	for start := 0; start < len(keys); start += selectShape {
		end := min(start+selectShape, len(keys))
		args := append(append([]any{}, lead...), keys[start:end]...)
		for len(args) < len(lead)+selectShape {
			args = append(args, nil)
		}
		rows, err := tx.shapedQuery(ctx, query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows.Scan); err != nil {
				rows.Close()
				return fmt.Errorf("store: scan: %w", err)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// InsertContacts stores new contact records.
func (tx *Tx) InsertContacts(ctx context.Context, recs []*contact.Record) error {
	return tx.insertChunks(ctx, insContacts, contactColCount, len(recs), func(i int) []any { return contactArgs(recs[i]) })
}

// InsertDataKeys stores wrapped data keys in the key store.
func (tx *Tx) InsertDataKeys(ctx context.Context, ks []contact.WrappedKey) error {
	return tx.insertChunks(ctx, insKeys, 4, len(ks), func(i int) []any {
		return []any{ks[i].ContactID, ks[i].Version, ks[i].Wrapped, formatTime(ks[i].CreatedAt)}
	})
}

// InsertConsentEvents appends consent events with their sealed evidence (nil when empty).
func (tx *Tx) InsertConsentEvents(ctx context.Context, events []*consent.Event, evidence [][]byte) error {
	pvs := make([]string, len(events))
	for i, e := range events {
		b, err := json.Marshal(e.PolicyVersions)
		if err != nil {
			return err
		}
		pvs[i] = string(b)
	}
	return tx.insertChunks(ctx, insEvents, 13, len(events), func(i int) []any {
		e := events[i]
		return []any{e.ID, e.ContactID, e.Purpose, string(e.State), string(e.Method), pvs[i], e.NoticeHash,
			formatTime(e.OccurredAt), formatTime(e.RecordedAt), e.Actor, nilIfEmpty(evidence[i]), e.Approval, e.ApprovedBy}
	})
}

// PutCurrentConsents inserts or replaces projected states; a later entry for the same contact and
// purpose wins.
func (tx *Tx) PutCurrentConsents(ctx context.Context, cs []consent.Current) error {
	pvs := make([]string, len(cs))
	for i, c := range cs {
		b, err := json.Marshal(c.PolicyVersions)
		if err != nil {
			return err
		}
		pvs[i] = string(b)
	}
	return tx.insertChunks(ctx, insCurrent, 9, len(cs), func(i int) []any {
		c := cs[i]
		return []any{c.ContactID, c.Purpose, string(c.State), c.LawfulBasis, string(c.Method), formatTime(c.OccurredAt), pvs[i], c.EventID, c.NeedsReconsent}
	})
}

// AddSuppressions adds suppression entries; existing entries for a hash are kept.
func (tx *Tx) AddSuppressions(ctx context.Context, ss []consent.Suppression) error {
	return tx.insertChunks(ctx, insSuppressions, 4, len(ss), func(i int) []any {
		return []any{ss[i].Hash, ss[i].Reason, formatTime(ss[i].CreatedAt), recordedAt(ss[i])}
	})
}

// AppendAudits numbers, chains and inserts events in order, as AppendAudit does one by one.
func (tx *Tx) AppendAudits(ctx context.Context, events []*audit.Event) error {
	if err := tx.loadHead(ctx); err != nil {
		return err
	}
	fields := make([]string, len(events))
	for i, e := range events {
		e.Seq = tx.headSeq + 1
		e.At = e.At.UTC()
		e.PrevHash = tx.headHash
		e.Hash = e.ComputeHash(e.PrevHash)
		tx.headSeq, tx.headHash, tx.headMoved = e.Seq, e.Hash, true
		fields[i] = strings.Join(e.Fields, ",")
	}
	return tx.insertChunks(ctx, insAudit, 13, len(events), func(i int) []any {
		e := events[i]
		return []any{e.Seq, formatTime(e.At), e.Actor.Kind, e.Actor.ID, e.Actor.Role, e.Action, e.ObjectKind, e.ObjectID,
			fields[i], e.RequestID, e.Purpose, e.PrevHash, e.Hash}
	})
}

// idChunk is how many ids one statement of setByIDs names.
const idChunk = 100

// setByIDs runs prefix + "(?, …)" with value as its first argument for ids, idChunk at a time;
// a shorter last chunk repeats its last id, so every statement has one shape.
func (tx *Tx) setByIDs(ctx context.Context, prefix string, value any, ids []string) error {
	query := prefix + "(" + strings.TrimSuffix(strings.Repeat("?, ", idChunk), ", ") + ")"
	for start := 0; start < len(ids); start += idChunk {
		chunk := ids[start:min(start+idChunk, len(ids))]
		args := make([]any, 0, idChunk+1)
		args = append(args, value)
		for i := range idChunk {
			args = append(args, chunk[min(i, len(chunk)-1)])
		}
		if _, err := tx.exec(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}
