package sqlite

import (
	"context"
	"fmt"
	"io"
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
	store.Register("sqlite", store.Driver{Open: openStore, Parts: parts, Reseal: reseal, Unencrypted: unencrypted,
		Snapshot: snapshot, Restore: restore})
}

// backend is a DB seen as a store.Store.
type backend struct{ *DB }

func (b backend) Update(ctx context.Context, fn func(store.Tx) error) error {
	return b.DB.Update(ctx, func(tx *Tx) error { return fn(tx) })
}

func (b backend) View(ctx context.Context, fn func(store.Tx) error) error {
	return b.DB.View(ctx, func(tx *Tx) error { return fn(tx) })
}

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
	db.AnchorMAC, db.AnchorMACs = cfg.AnchorMAC, cfg.AnchorMACs
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

func snapshot(ctx context.Context, dir string, cfg store.Config, scratch string, progress store.Progress) (*store.Snapshot, error) {
	s, err := TakeSnapshot(ctx, dir, Options{VFS: cfg.VFS, Keys: cfg.DiskKeys}, scratch, Progress(progress))
	if err != nil {
		return nil, err
	}
	return &store.Snapshot{
		Files: []string{DataFile, KeysFile}, Open: s.Open, Remove: s.Remove,
		Schema: s.Schema, DataMarker: s.DataMarker, KeysMarker: s.KeysMarker, AuditSeq: s.AuditSeq, AuditHash: s.AuditHash,
	}, nil
}

func restore(ctx context.Context, dir string, cfg store.Config, files map[string]io.Reader) error {
	data, keystore := files[DataFile], files[KeysFile]
	if data == nil || keystore == nil || len(files) != 2 {
		return fmt.Errorf("sqlite: a restore needs %s and %s, and nothing else", DataFile, KeysFile)
	}
	return Restore(ctx, dir, Options{VFS: cfg.VFS, Keys: cfg.DiskKeys}, data, keystore)
}
