package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/backup"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
)

const restoreSynopsis = "tillit restore --identity FILE --verify-key tillit-backup-ed25519:… [--ledger FILE]... [--data DIR] BACKUP-FILE"

// RestoreMarker is the file tillit restore keeps in the data directory until the store it wrote
// has had every ledger replayed: while it is there, no command opens the directory (a store
// restored without its newer ledger would bring back people erased or unsubscribed since).
const RestoreMarker = "RESTORE-UNFINISHED"

// maxKeysets bounds the size of the keysets.json a restore accepts from a backup, in bytes.
const maxKeysets = 1 << 20

// restoreCmd runs `tillit restore BACKUP-FILE`: into an empty data directory, a backup file
// (tillit backup) is checked whole (backup.Open: the signature under --verify-key, never a key
// read from the file, and every byte), its parts opened with the identities (--identity files),
// and only then written: keysets.json (which must open under the root key of the settings, as
// every command's, and be the keys that signed the backup), then the data file and key store,
// encrypted under the restored disk key (store.Restore). Before anything else may open the
// directory (RestoreMarker), the backup's own ledger and then the newer ones (--ledger: files of
// tillit ledger export, or newer backup files, whose ledger part is read) are replayed, so that a
// person erased, unsubscribed, objecting or restricted after the backup stays so (GDPR Art. 7(3),
// 17, 18, 21), and the audit log must verify intact. A failure leaves the directory as it was.
//
// Refused: a key part past its retention (Manifest.Keys.ExpiresAt), a backup without a key
// part, a directory that holds anything but the root key file, a PostgreSQL store.
func restoreCmd(ctx context.Context, env Env, args []string) error {
	var idFiles, ledgers listFlag
	var verifyText string
	cfg, fset, err := parse(env, "restore", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.Var(&idFiles, "identity", "a `file` of age identities (age-keygen's output) that open the backup's parts; repeat for the key part's when they are others")
		fs.StringVar(&verifyText, "verify-key", "", "the installation's backup verify `key` (tillit-backup-ed25519:…, as tillit backup prints it; or TILLIT_BACKUP_VERIFY_KEY)")
		fs.Var(&ledgers, "ledger", "a newer ledger to replay after the backup's own: a `file` of tillit ledger export, or a newer backup file; repeat, oldest first")
	})
	if err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return fmt.Errorf("%w: %s", errUsage, restoreSynopsis)
	}
	if verifyText == "" {
		verifyText = env.Getenv("TILLIT_BACKUP_VERIFY_KEY")
	}
	if verifyText == "" {
		return fmt.Errorf("%w: --verify-key is missing: the verify key tillit backup printed (verify_key), kept apart from the backups (%s)", errUsage, restoreSynopsis)
	}
	verify, err := backup.ParseVerifyKey(verifyText)
	if err != nil {
		return fmt.Errorf("%w: --verify-key: %v", errUsage, err)
	}
	if len(idFiles) == 0 {
		return fmt.Errorf("%w: --identity FILE is missing: the age identities the backup is encrypted to (%s)", errUsage, restoreSynopsis)
	}
	identities, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	parts, err := store.Parts(cfg.StoreURL())
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("tillit restore writes the SQLite files of a data directory; this store is a PostgreSQL server's: restore its dump with pg_restore (both schemas), then run tillit ledger replay before serving (README: PostgreSQL and several nodes)")
	}
	dir := filepath.Dir(parts[0].Path)
	if err := checkEmpty(dir, cfg.RootKeyFile); err != nil {
		return err
	}
	in, err := readRestore(env, fset.Arg(0), verify, identities, ledgers)
	if err != nil {
		return err
	}
	defer in.backup.Close()
	res, err := writeRestore(ctx, env, cfg, dir, parts, in)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// restoreInput is a backup file checked whole, its parts open, and the ledgers to replay read:
// everything a restore needs before it writes.
type restoreInput struct {
	file       string
	verify     backup.VerifyKey
	backup     *backup.Backup
	data       io.Reader // the data file
	keysPart   io.Reader // the key part, read up to the key store by keyFiles
	keyFiles   *backup.Files
	keysets    []byte
	dataName   string // the data file's name (Part.Holds)
	keysName   string // the key store's
	ledgers    []string
	own, newer []ledger.Entry
}

// readRestore checks the backup file and opens its parts (backup.Open, backup.Backup.Part), and
// reads the newer ledgers (readLedgerSource), checking their index key against the backup's
// installation. Nothing is written.
func readRestore(env Env, file string, verify backup.VerifyKey, identities []age.Identity, ledgers []string) (_ *restoreInput, err error) {
	b, err := backup.Open(file, verify)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	m := b.Manifest
	if m.Keys == nil {
		return nil, fmt.Errorf("%s holds no key store (it was made without --with-keys): its data opens only with the key store of the same moment; restore a backup made with --with-keys (this one can serve as a newer --ledger)", file)
	}
	if now := time.Now(); !now.Before(m.Keys.ExpiresAt) {
		return nil, fmt.Errorf("the key part of %s expired at %s (the retention it was made with): the keys of people erased since must not come back; restore a newer backup", file, m.Keys.ExpiresAt.Format(time.RFC3339))
	}
	keysPart, _ := m.Part(backup.KeysPart)
	dataPart, _ := m.Part(backup.DataPart)
	if len(dataPart.Holds) != 1 || len(keysPart.Holds) != 2 || keysPart.Holds[0] != keysetsName {
		return nil, fmt.Errorf("%s: the parts hold %v and %v; want the data file, and keysets.json with the key store", file, dataPart.Holds, keysPart.Holds)
	}
	in := &restoreInput{file: file, verify: verify, backup: b, dataName: dataPart.Holds[0], keysName: keysPart.Holds[1], ledgers: ledgers}
	for _, path := range ledgers {
		f, err := readLedgerSource(path, verify, identities, m)
		if err != nil {
			return nil, err
		}
		// The manifest names the installation by its blind-index key id, as a ledger's header.
		switch err := f.CheckKey(append([]string{m.Installation}, m.IndexKeys...)...); {
		case errors.Is(err, ledger.ErrUnchecked):
			fmt.Fprintf(env.Stderr, "tillit: warning: %s: %v\n", path, err)
		case err != nil:
			return nil, fmt.Errorf("%w: --ledger %s: %v; nothing was restored", errUsage, path, err)
		}
		in.newer = append(in.newer, f.Entries...)
	}
	if in.data, err = b.Part(backup.DataPart, identities); err != nil {
		return nil, err
	}
	ledgerPart, err := b.Part(backup.LedgerPart, identities)
	if err != nil {
		return nil, err
	}
	own, err := ledger.ReadFile(ledgerPart)
	if err != nil {
		return nil, fmt.Errorf("%s: its ledger part: %w", file, err)
	}
	in.own = own.Entries
	if in.keysPart, err = b.Part(backup.KeysPart, identities); err != nil {
		return nil, err
	}
	in.keyFiles = backup.NewFiles(in.keysPart)
	ksR, ksSize, err := in.keyFiles.Next(keysetsName)
	if err != nil {
		return nil, err
	}
	if ksSize > maxKeysets {
		return nil, fmt.Errorf("%s: keysets.json of %d bytes (at most %d)", file, ksSize, maxKeysets)
	}
	if in.keysets, err = io.ReadAll(ksR); err != nil {
		return nil, err
	}
	return in, nil
}

// writeRestore writes what in holds into dir (the store's parts), behind RestoreMarker, replays
// the ledgers and checks the audit log; on failure it removes what it wrote.
func writeRestore(ctx context.Context, env Env, cfg config.Config, dir string, parts []store.Part, in *restoreInput) (_ restoreSummary, err error) {
	made, err := makeDir(dir)
	if err != nil {
		return restoreSummary{}, fmt.Errorf("data directory: %w", err)
	}
	keysetFile := app.KeysetFile(cfg.DataDir)
	marker := filepath.Join(cfg.DataDir, RestoreMarker)
	written := []string{marker}
	defer func() {
		if err == nil {
			return
		}
		for _, p := range parts {
			written = append(written, p.Path+"-wal", p.Path+"-shm", p.Path+"-journal", p.Path)
		}
		for _, p := range written {
			os.Remove(p)
		}
		if made != "" {
			os.RemoveAll(made)
		}
		err = fmt.Errorf("%w; nothing was restored: %s is as it was", err, dir)
	}()
	if err := writeSynced(marker, []byte("tillit restore of "+in.file+" began "+time.Now().UTC().Format(time.RFC3339)+"; it did not finish: remove this directory's other files and restore again\n")); err != nil {
		return restoreSummary{}, err
	}
	written = append(written, keysetFile)
	if err := writeSynced(keysetFile, in.keysets); err != nil {
		return restoreSummary{}, err
	}
	m := in.backup.Manifest
	kr, err := restoredKeyring(cfg, keysetFile, in.file, in.verify, m)
	if err != nil {
		return restoreSummary{}, err
	}
	ks, _, err := in.keyFiles.Next(in.keysName)
	if err != nil {
		return restoreSummary{}, err
	}
	if err := store.Restore(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, DiskKeys: diskKeys(kr)}, map[string]io.Reader{in.dataName: in.data, in.keysName: ks}); err != nil {
		return restoreSummary{}, err
	}
	if _, err := io.Copy(io.Discard, in.keysPart); err != nil { // the rest of the key part: its hash is checked at its end
		return restoreSummary{}, err
	}

	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "restore"})
	a, err := openAppWith(ctx, env, cfg, opening{restoring: true})
	if err != nil {
		return restoreSummary{}, err
	}
	defer a.Close()
	replayed, err := a.Ledger.Replay(ctx, append(in.own, in.newer...))
	if err != nil {
		return restoreSummary{}, err
	}
	warnMissingPurposes(env, replayed)
	v, err := a.Store.VerifyAudit(ctx)
	if err != nil {
		return restoreSummary{}, err
	}
	if !v.OK {
		return restoreSummary{}, fmt.Errorf("the restored audit log does not verify (%s)", v)
	}
	if err := a.Close(); err != nil {
		return restoreSummary{}, err
	}
	if err := os.Remove(marker); err != nil {
		return restoreSummary{}, err
	}
	if err := syncDir(dir); err != nil {
		return restoreSummary{}, err
	}
	return restoreSummary{File: in.file, Data: dir, CreatedAt: m.CreatedAt, Ledgers: in.ledgers, Replay: replayed, Audit: v}, nil
}

// restoreSummary is what tillit restore prints.
type restoreSummary struct {
	File      string             `json:"file"`
	Data      string             `json:"data"`
	CreatedAt time.Time          `json:"created_at"`
	Ledgers   []string           `json:"ledgers"`
	Replay    ledger.Result      `json:"replay"`
	Audit     audit.Verification `json:"audit"`
}

// restoredKeyring opens the keysets restored at keysetFile with the root key of cfg, and checks
// that they are the installation's that signed the backup m of file.
func restoredKeyring(cfg config.Config, keysetFile, file string, verify backup.VerifyKey, m backup.Manifest) (*keys.Keyring, error) {
	kcfg, done, err := keysConfig(cfg, keysetFile, false)
	if err != nil {
		return nil, err
	}
	defer done()
	kr, _, err := keys.Open(kcfg)
	if err != nil {
		root := "the root key file " + cfg.RootKeyFile
		if cfg.RootKey != "" {
			root = "the root key " + config.RedactKeyURI(cfg.RootKey)
		}
		return nil, fmt.Errorf("%s does not open the keysets of %s (give the installation's root key: TILLIT_ROOT_KEY_FILE or TILLIT_ROOT_KEY; one moved since, tillit keys move-root, opens only backups made after): %w", root, file, err)
	}
	// Any key of the restored set: the backup was made under the set it holds.
	verifies, err := kr.BackupVerifyKeys()
	if err != nil {
		return nil, err
	}
	ids, err := kr.IndexKeyIDs()
	if err != nil {
		return nil, err
	}
	signed := slices.ContainsFunc(verifies, func(p ed25519.PublicKey) bool { return bytes.Equal(p, verify) })
	if !signed || !slices.Contains(ids, m.Installation) {
		return nil, fmt.Errorf("the keysets in %s are not those of the installation that signed it", file)
	}
	return kr, nil
}

// readLedgerSource reads a newer ledger for a restore of the backup m: a file of tillit ledger
// export, or a backup file of the same installation (checked whole, as the one restored),
// whose ledger part is read.
func readLedgerSource(path string, verify backup.VerifyKey, identities []age.Identity, m backup.Manifest) (ledger.File, error) {
	if !isBackupFile(path) {
		return readLedgerFile(path)
	}
	b, err := backup.Open(path, verify)
	if err != nil {
		return ledger.File{}, fmt.Errorf("--ledger: %w", err)
	}
	defer b.Close()
	if !m.SameInstallation(b.Manifest) {
		return ledger.File{}, fmt.Errorf("--ledger %s is another installation's backup", path)
	}
	r, err := b.Part(backup.LedgerPart, identities)
	if err != nil {
		return ledger.File{}, fmt.Errorf("--ledger %s: %w", path, err)
	}
	f, err := ledger.ReadFile(r)
	if err != nil {
		return ledger.File{}, fmt.Errorf("--ledger %s: its ledger part: %w", path, err)
	}
	return f, nil
}

// isBackupFile reports whether the file at path starts as a backup file does (a tar header of
// manifest.json), rather than as a ledger (JSON lines).
func isBackupFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(backup.ManifestName)+1)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return string(head) == backup.ManifestName+"\x00"
}

// readIdentities reads the age identities in files.
func readIdentities(files []string) ([]age.Identity, error) {
	var out []age.Identity
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: --identity: %v", errUsage, err)
		}
		ids, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: --identity %s: %v", errUsage, p, err)
		}
		out = append(out, ids...)
	}
	return out, nil
}

// checkEmpty refuses a data directory that holds anything but the root key file: a restore
// never writes over or beside another installation's files.
func checkEmpty(dir, rootKeyFile string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	var held []string
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); rootKeyFile != "" && sameFile(p, rootKeyFile) {
			continue
		}
		held = append(held, e.Name())
	}
	if len(held) > 0 {
		if len(held) > 5 {
			held = append(held[:5], "…")
		}
		return fmt.Errorf("%s is not empty (it holds %s): tillit restore writes only into an empty data directory (the root key file may be there); give another --data, or move its files away first", dir, strings.Join(held, ", "))
	}
	return nil
}

// sameFile reports whether the paths a and b name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// writeSynced writes data into the new file path (mode 0600) and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir syncs the directory dir, so that the files made and removed in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
