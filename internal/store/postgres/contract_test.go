package postgres

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestContract runs the store contract suite on PostgreSQL, each store in schemas of its own.
func TestContract(t *testing.T) {
	b := &backend{admin: pgtest.Open(t), schemas: map[store.Store]string{}, scans: map[*DB]scan{}}
	storetest.Run(t, storetest.Backend{Open: b.open, Tamper: b.tamper, Remnants: b.remnants})
}

var testMAC = func(seq int64, hash []byte) ([]byte, error) {
	return append([]byte(fmt.Sprintf("mac:%d:", seq)), hash...), nil
}

// backend opens stores for the contract suite through store.Open, as the program does.
type backend struct {
	admin   *sql.DB
	mu      sync.Mutex
	schemas map[store.Store]string
	scans   map[*DB]scan
}

func (b *backend) open(t *testing.T) store.Store {
	schema, _ := pgtest.FreshSchema(t, "tc_")
	return b.openSchema(t, schema)
}

func (b *backend) openSchema(t *testing.T, schema string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{URL: pgtest.WithSchema(t, pgtest.Require(t), schema), AnchorMAC: testMAC})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	b.mu.Lock()
	b.schemas[s] = schema
	b.mu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s
}

func (b *backend) schema(t *testing.T, s store.Store) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	name, ok := b.schemas[s]
	if !ok {
		t.Fatalf("storetest passed a store this backend did not open")
	}
	return name
}

// tamper closes s, edits its audit_events through a plain connection and opens it again.
func (b *backend) tamper(t *testing.T, s store.Store, edits []storetest.AuditEdit) store.Store {
	t.Helper()
	schema := b.schema(t, s)
	s.Close()
	for _, e := range edits {
		var err error
		if e.Delete {
			_, err = b.admin.Exec(`DELETE FROM `+quoteIdent(schema)+`.audit_events WHERE seq = $1`, e.Seq)
		} else {
			ev := e.Event
			_, err = b.admin.Exec(`UPDATE `+quoteIdent(schema)+`.audit_events SET at = $1, actor_kind = $2, actor_id = $3, actor_role = $4,
				action = $5, object_kind = $6, object_id = $7, fields = $8, request_id = $9, purpose = $10, prev_hash = $11, hash = $12 WHERE seq = $13`,
				ev.At.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), string(ev.Actor.Kind), ev.Actor.ID, ev.Actor.Role, ev.Action,
				ev.ObjectKind, ev.ObjectID, strings.Join(ev.Fields, ","), ev.RequestID, ev.Purpose, ev.PrevHash, ev.Hash, e.Seq)
		}
		if err != nil {
			t.Fatalf("tamper: %v", err)
		}
	}
	return b.openSchema(t, schema)
}

// remnants lists the tables of s's two schemas whose files on disk hold m, after a vacuum and a
// checkpoint have written every page out. It reads the server's files, so it needs the test to
// run where the server does, as a user who may read them. The files are read once for each
// state of the store (its generation) and searched for every marker asked about in it.
func (b *backend) remnants(t *testing.T, s store.Store, m []byte) []string {
	t.Helper()
	db := s.(*DB)
	b.mu.Lock()
	scan, ok := b.scans[db]
	b.mu.Unlock()
	if !ok || scan.gen != db.gen.Load() {
		scan = b.scan(t, db)
		b.mu.Lock()
		b.scans[db] = scan
		b.mu.Unlock()
	}
	var out []string
	for _, f := range scan.files {
		if bytes.Contains(f.body, m) && !slices.Contains(out, f.table) {
			out = append(out, f.table)
		}
	}
	return out
}

// scan is the files of a store's relations as read at one generation.
type scan struct {
	gen   uint64
	files []relationFile
}

type relationFile struct {
	table string
	body  []byte
}

// scan vacuums (what Purge asked for, run now rather than DataVacuumDelay later, after the
// transactions of the cases running beside this one: TestPurgeVacuumsDataSoon), checkpoints
// and reads the files of every relation of db's schemas, TOAST included.
func (b *backend) scan(t *testing.T, db *DB) scan {
	t.Helper()
	gen := db.gen.Load()
	if clear, err := db.Vacuum(t.Context(), time.Now(), time.Minute); err != nil || !clear {
		t.Fatalf("vacuum: %v; transactions older than now ended: %v", err, clear)
	}
	if _, err := b.admin.Exec("CHECKPOINT"); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	var dir string
	if err := b.admin.QueryRow("SHOW data_directory").Scan(&dir); err != nil {
		t.Fatalf("data directory: %v", err)
	}
	rows, err := b.admin.Query(`SELECT n.nspname || '.' || c.relname, pg_relation_filepath(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE pg_relation_filepath(c.oid) IS NOT NULL AND (n.nspname IN ($1, $2)
		OR c.oid IN (SELECT t.reltoastrelid FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2))
		OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.reltoastrelid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2)))`, db.data, db.keys)
	if err != nil {
		t.Fatalf("relations: %v", err)
	}
	defer rows.Close()
	out := scan{gen: gen}
	for rows.Next() {
		var name, path string
		if err := rows.Scan(&name, &path); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, path) + "*") // the main fork, its segments and other forks
		for _, f := range matches {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read %s (the test must run where the server keeps its files): %v", f, err)
			}
			out.files = append(out.files, relationFile{table: name, body: body})
		}
	}
	return out
}
