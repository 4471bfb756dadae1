package sqlite

import (
	"context"
	"path/filepath"

	"github.com/tillit/tillit/internal/store"
)

// Compile-time checks: the SQLite transaction is every domain's transaction, and the backend
// is a store.
var (
	_ store.Tx    = (*Tx)(nil)
	_ store.Store = backend{}
)

func init() {
	store.Register("sqlite", store.Driver{Open: openStore, Parts: parts, Reseal: reseal, Unencrypted: unencrypted})
}

// backend is a DB seen as a store.Store.
type backend struct{ *DB }

func (b backend) Update(ctx context.Context, fn func(store.Tx) error) error {
	return b.DB.Update(ctx, func(tx *Tx) error { return fn(tx) })
}

func (b backend) View(ctx context.Context, fn func(store.Tx) error) error {
	return b.DB.View(ctx, func(tx *Tx) error { return fn(tx) })
}

// Purge is a TRUNCATE checkpoint of both write-ahead logs (Checkpoint).
func (b backend) Purge(ctx context.Context) error { return b.DB.Checkpoint(ctx) }

// ErasureMeasure is what an erasure leaves in the SQLite files, for the record of processing.
func (b backend) ErasureMeasure() string {
	return "SQLite secure_delete and write-ahead-log checkpoint after erasure: no plaintext left in any file"
}

// openStore opens the data directory dir, keys the audit anchor, seals an anchor written before
// it was keyed, and finishes a transaction a process killed between the two files' commits left
// half done, so that even a command that only reads (audit verify) sees a whole store.
func openStore(ctx context.Context, dir string, cfg store.Config) (store.Store, error) {
	db, err := OpenWith(ctx, dir, Options{VFS: cfg.VFS, Keys: cfg.DiskKeys})
	if err != nil {
		return nil, err
	}
	db.AnchorMAC = cfg.AnchorMAC
	if err := db.SealAnchor(ctx); err != nil {
		db.Close()
		return nil, err
	}
	repair, err := db.Reconcile(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if cfg.OnRepair != nil {
		if repair != nil {
			cfg.OnRepair(*repair, true)
		}
		db.OnRepair = func(r Repair) { cfg.OnRepair(r, false) }
	}
	return backend{db}, nil
}

func parts(dir string) []store.Part {
	return []store.Part{
		{Path: filepath.Join(dir, DataFile), What: "the database"},
		{Path: filepath.Join(dir, KeysFile), What: "the key store"},
	}
}

func reseal(ctx context.Context, dir string, cfg store.Config, to []byte, progress store.Progress) error {
	return Reseal(ctx, dir, Options{VFS: cfg.VFS, Keys: cfg.DiskKeys}, to, Progress(progress))
}

func unencrypted(dir string, keys [][]byte) ([]string, error) {
	data, ks, err := KeysOf(dir, keys)
	if err != nil {
		return nil, err
	}
	var out []string
	if data == nil {
		out = append(out, filepath.Join(dir, DataFile))
	}
	if ks == nil {
		out = append(out, filepath.Join(dir, KeysFile))
	}
	return out, nil
}
