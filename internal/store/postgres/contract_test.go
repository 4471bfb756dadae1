package postgres

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest"
)

// TestContract runs the store contract suite on PostgreSQL, each store in schemas of its own.
func TestContract(t *testing.T) {
	b := &backend{admin: testDB(t), schemas: map[store.Store]string{}}
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
}

func (b *backend) open(t *testing.T) store.Store {
	schema := randomName(t, "tc_")
	t.Cleanup(func() {
		for _, s := range []string{schema, schema + "_keys"} {
			if _, err := b.admin.Exec("DROP SCHEMA IF EXISTS " + quoteIdent(s) + " CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", s, err)
			}
		}
	})
	return b.openSchema(t, schema)
}

func (b *backend) openSchema(t *testing.T, schema string) store.Store {
	t.Helper()
	u := os.Getenv(testURLEnv)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	s, err := store.Open(t.Context(), store.Config{URL: u + sep + "schema=" + schema, AnchorMAC: testMAC})
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

// remnants lists the tables of s's two schemas whose files on disk hold m, after a checkpoint
// has written every page out. It reads the server's files, so it needs the test to run where
// the server does, as a user who may read them.
func (b *backend) remnants(t *testing.T, s store.Store, m []byte) []string {
	t.Helper()
	schema := b.schema(t, s)
	// What Purge asked for, run now rather than DataVacuumDelay later (TestPurgeVacuumsDataSoon),
	// after the transactions of the cases running beside this one.
	if clear, err := s.(*DB).Vacuum(t.Context(), time.Now(), time.Minute); err != nil || !clear {
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
		OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.reltoastrelid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2)))`, schema, schema+"_keys")
	if err != nil {
		t.Fatalf("relations: %v", err)
	}
	defer rows.Close()
	var out []string
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
			if bytes.Contains(body, m) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}
