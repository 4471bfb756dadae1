package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/backup"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
)

const backupSynopsis = "tillit backup --recipient age1… [--with-keys [--keys-recipient age1…] [--keys-retention 35d]] FILE"

// defaultKeysRetention is how long a backup's key part may be restored by default: 35 days, a
// month of daily backups and a few days to notice that the newest ones are bad.
const defaultKeysRetention = 35 * 24 * time.Hour

// replayMargin is how far before a snapshot a newer ledger export must reach (Manifest's
// Ledger.ReplaySince): a transaction may have begun before the snapshot and committed after it.
const replayMargin = time.Hour

// backupCmd runs `tillit backup FILE`: a consistent snapshot of the running store (store.
// TakeSnapshot: the data file and the key store at one commit, while tillit serve goes on),
// written as a backup file (package backup): the data file and the whole ledger (read after the
// snapshot, so that it also holds what was decided while it was copied) encrypted with age to
// the data recipients, and with --with-keys the key store and keysets.json in a part of their
// own, encrypted to the key recipients (the data recipients when none are given) and restorable
// until --keys-retention has passed; the manifest signed with the installation's backup signing
// key (keys.Keyring.BackupSigningKey). Progress on stderr, a JSON summary on stdout with the
// verify key tillit restore needs. The root key is never in a backup.
//
// A PostgreSQL store is refused: pg_dump both schemas from one snapshot and keep tillit ledger
// export beside it (README, PostgreSQL and several nodes).
func backupCmd(ctx context.Context, env Env, args []string) error {
	var dataTo, keysTo recipientFlags
	var withKeys bool
	retention := retentionFlag(defaultKeysRetention)
	cfg, fs, err := parse(env, "backup", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.Var(&dataTo.keys, "recipient", "an age `recipient` (age1…) the data and ledger parts are encrypted to (repeat for several)")
		fs.StringVar(&dataTo.file, "recipients-file", "", "a `file` of age recipients, one a line (# comments), for the data and ledger parts")
		fs.BoolVar(&withKeys, "with-keys", false, "add the key store and keysets.json, in a part of their own")
		fs.Var(&keysTo.keys, "keys-recipient", "an age `recipient` the key part is encrypted to (default: the --recipient ones)")
		fs.StringVar(&keysTo.file, "keys-recipients-file", "", "a `file` of age recipients for the key part")
		fs.Var(&retention, "keys-retention", "how long the key part may be restored (`DURATION`: 35d, 720h); tillit restore refuses it afterwards")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: %s", errUsage, backupSynopsis)
	}
	out := fs.Arg(0)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	to, err := dataTo.parse("--recipient", "--recipients-file")
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return fmt.Errorf("%w: name who can read the backup: --recipient age1… or --recipients-file FILE (age-keygen makes a pair; keep the identity apart from the backups) (%s)", errUsage, backupSynopsis)
	}
	keysRecipients, err := keysTo.parse("--keys-recipient", "--keys-recipients-file")
	if err != nil {
		return err
	}
	if !withKeys && (len(keysRecipients) > 0 || set["keys-retention"]) {
		return fmt.Errorf("%w: --keys-recipient, --keys-recipients-file and --keys-retention go with --with-keys", errUsage)
	}
	if len(keysRecipients) == 0 {
		keysRecipients = to
	}
	parts, err := store.Parts(cfg.StoreURL())
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("tillit backup copies the SQLite files of a data directory; this store is a PostgreSQL server's: back up both of its schemas from one snapshot (pg_dump -n SCHEMA -n SCHEMA_keys), keysets.json, and tillit ledger export beside them (README: PostgreSQL and several nodes)")
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return fmt.Errorf("%w: %s is a directory; name the backup file", errUsage, out)
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	signing, err := a.Keys.BackupSigningKey()
	if err != nil {
		return err
	}
	indexKeys, err := a.Keys.IndexKeyIDs() // the primary's first: the installation's id
	if err != nil {
		return err
	}
	installation := indexKeys[0]
	scratch := filepath.Dir(out)
	w, err := backup.NewWriter(scratch)
	if err != nil {
		return err
	}
	defer w.Close()

	// From before the snapshot until keysets.json is read: no wrap rotation disables or deletes
	// a key the copied key store still needs (keys.HoldKeysets).
	release, err := keys.HoldKeysets(ctx, app.KeysetFile(cfg.DataDir))
	if err != nil {
		return err
	}
	defer release()
	started := time.Now()
	createdAt := started.UTC()
	snap, err := store.TakeSnapshot(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, DiskKeys: diskKeys(a.Keys)}, scratch, progressTo(env.Stderr))
	if err != nil {
		return err
	}
	defer snap.Remove()
	copied := time.Since(started)
	dataFile, keysFile := snap.Files[0], snap.Files[1]
	if err := w.Add(backup.DataPart, []string{dataFile}, backup.ToData, to, func(dst io.Writer) error {
		return copySnapshotFile(dst, snap, dataFile)
	}); err != nil {
		return err
	}
	exportedAt := time.Now().UTC()
	entries, err := ledger.Export(ctx, store.Ledger(a.Store), time.Time{})
	if err != nil {
		return err
	}
	if err := w.Add(backup.LedgerPart, []string{"ledger.jsonl"}, backup.ToData, to, func(dst io.Writer) error {
		bw := bufio.NewWriter(dst)
		if err := ledger.WriteHeader(bw, installation); err != nil {
			return err
		}
		if err := ledger.Write(bw, entries); err != nil {
			return err
		}
		return bw.Flush()
	}); err != nil {
		return err
	}
	var keysInfo *backup.KeysInfo
	if withKeys {
		if keysInfo, err = addKeysPart(w, snap, app.KeysetFile(cfg.DataDir), keysFile, keysRecipients, createdAt, time.Duration(retention)); err != nil {
			return err
		}
	}
	// The parts hold the snapshot now: its scratch copy goes before the file is assembled, so
	// that the backup needs twice the store's size beside FILE, not three times.
	if err := snap.Remove(); err != nil {
		return err
	}
	m := backup.Manifest{
		CreatedAt: createdAt, Installation: installation, IndexKeys: indexKeys,
		Store:  backup.Store{Backend: "sqlite", SchemaVersion: snap.Schema, CommitMarker: snap.DataMarker, AuditSeq: snap.AuditSeq, AuditHash: hex.EncodeToString(snap.AuditHash)},
		Ledger: backup.Ledger{ExportedAt: exportedAt, Lines: len(entries), ReplaySince: createdAt.Truncate(time.Second).Add(-replayMargin)},
		Keys:   keysInfo,
	}
	if m, err = w.Finish(out, m, signing); err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	summary := backupSummary{File: out, Size: fi.Size(), CreatedAt: m.CreatedAt, SnapshotMillis: copied.Milliseconds(), TookMillis: time.Since(started).Milliseconds(),
		AuditSeq: m.Store.AuditSeq, LedgerLines: m.Ledger.Lines, ReplaySince: m.Ledger.ReplaySince, VerifyKey: m.Signer, Parts: m.Parts}
	if m.Keys != nil {
		summary.KeysExpireAt = &m.Keys.ExpiresAt
	} else {
		fmt.Fprintf(env.Stderr, "tillit: note: %s holds no key store (made without --with-keys): tillit restore needs a backup with one; this one serves as a newer ledger (tillit restore --ledger)\n", out)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(summary)
}

// addKeysPart adds the key part to w: keysets.json as it is now (the caller holds it,
// keys.HoldKeysets, since before the snapshot) and the snapshot's key store, encrypted to
// recipients; it expires retention after createdAt.
func addKeysPart(w *backup.Writer, snap *store.Snapshot, keysetFile, keysFile string, recipients []age.Recipient, createdAt time.Time, retention time.Duration) (*backup.KeysInfo, error) {
	keysets, err := os.ReadFile(keysetFile)
	if err != nil {
		return nil, err
	}
	if err := w.Add(backup.KeysPart, []string{keysetsName, keysFile}, backup.ToKeys, recipients, func(dst io.Writer) error {
		r, size, err := snap.Open(keysFile)
		if err != nil {
			return err
		}
		defer r.Close()
		return backup.WriteFiles(dst, createdAt, backup.File{Name: keysetsName, Size: int64(len(keysets)), R: bytes.NewReader(keysets)}, backup.File{Name: keysFile, Size: size, R: r})
	}); err != nil {
		return nil, err
	}
	return &backup.KeysInfo{ExpiresAt: createdAt.Truncate(time.Second).Add(retention)}, nil
}

// keysetsName is the name of keysets.json in a backup's key part.
const keysetsName = "keysets.json"

// backupSummary is what tillit backup prints.
type backupSummary struct {
	File           string        `json:"file"`
	Size           int64         `json:"size"`
	CreatedAt      time.Time     `json:"created_at"`
	SnapshotMillis int64         `json:"snapshot_ms"` // the copy of the files (the read transaction's time)
	TookMillis     int64         `json:"took_ms"`
	AuditSeq       int64         `json:"audit_seq"`
	LedgerLines    int           `json:"ledger_lines"`
	ReplaySince    time.Time     `json:"replay_since"`
	KeysExpireAt   *time.Time    `json:"keys_expire_at,omitempty"`
	VerifyKey      string        `json:"verify_key"`
	Parts          []backup.Part `json:"parts"`
}

// copySnapshotFile writes the file name of snap to dst.
func copySnapshotFile(dst io.Writer, snap *store.Snapshot, name string) error {
	r, size, err := snap.Open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(dst, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: read %d of %d bytes", name, n, size)
	}
	return err
}

// recipientFlags are age recipients given one by one and in a file.
type recipientFlags struct {
	keys listFlag
	file string
}

// parse reads the recipients; a bad one is a usage error naming its flag (keysFlag, fileFlag).
func (r recipientFlags) parse(keysFlag, fileFlag string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range r.keys {
		rs, err := age.ParseRecipients(strings.NewReader(k))
		if err != nil || len(rs) != 1 {
			return nil, fmt.Errorf("%w: %s %q is no age recipient (age1…)", errUsage, keysFlag, k)
		}
		out = append(out, rs...)
	}
	if r.file != "" {
		f, err := os.Open(r.file)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fileFlag, err)
		}
		defer f.Close()
		rs, err := age.ParseRecipients(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %s: %v", errUsage, fileFlag, r.file, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// retentionFlag is a duration given in days ("35d") or as Go writes durations ("720h").
type retentionFlag time.Duration

func (r *retentionFlag) String() string { return time.Duration(*r).String() }

func (r *retentionFlag) Set(s string) error {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return errors.New("a whole number of days (35d) or a duration (720h)")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return errors.New("a whole number of days (35d) or a duration (720h)")
		}
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	*r = retentionFlag(d)
	return nil
}
