package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/keys/pkcs11"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/postgres" // --database-url postgres://…
	_ "github.com/tillit/tillit/internal/store/sqlite"   // the default backend
)

// opening says how a command opens its data directory.
type opening struct {
	// create allows creating the directory, root key, keysets and database (tillit serve,
	// tillit import and bench); other commands need them to exist.
	create bool
	// onRepair is told of every repair of a transaction a crash left half done
	// (store.Config.OnRepair).
	onRepair func(store.Repair, bool)
	// transport hands mail over; nil: the file transport (app.Files). Only serve runs the
	// outbox, so other commands at most queue mail.
	transport mail.Transport
	// logger receives the services' logs; nil: stderr at the configured level.
	logger *slog.Logger
	// investigate opens a store whose audit anchor does not verify under the keys and that
	// holds no data key to tell whether the keys are its own (tillit audit verify, which
	// reports the anchor); other commands refuse it (checkKeys).
	investigate bool
	// plainDisk makes a new SQLite store's files plain, not encrypted under the disk key
	// (tillit bench --disk plain, to measure what encryption costs).
	plainDisk bool
	// restoring opens a directory tillit restore is writing (RestoreMarker), to replay the
	// ledgers; every other command refuses it.
	restoring bool
}

// openApp opens the data directory (openStore) and builds the app on it (app.New), with mail
// queued for the file transport and logs on stderr.
func openApp(ctx context.Context, env Env, cfg config.Config, create bool) (*app.App, error) {
	return openAppWith(ctx, env, cfg, opening{create: create})
}

// openAppWith is openApp as o says.
func openAppWith(ctx context.Context, env Env, cfg config.Config, o opening) (*app.App, error) {
	if o.logger == nil {
		o.logger = newLogger(cfg, env.Stderr)
	}
	db, kr, _, err := openStore(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	if o.transport == nil {
		o.transport = app.Files(cfg)
	}
	return newApp(ctx, cfg, db, kr, o.transport, o.logger)
}

// newApp builds the app on db and kr (app.New), closing db when that fails.
func newApp(ctx context.Context, cfg config.Config, db store.Store, kr *keys.Keyring, transport mail.Transport, logger *slog.Logger) (*app.App, error) {
	a, err := app.New(ctx, app.Config{Settings: cfg, Transport: transport, Logger: logger}, db, kr)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// openStore opens the data directory's root key, keysets and store; created reports whether the
// keys were made by this call. create allows creating the directory and everything in it, and
// only for a directory that holds nothing yet; o.logger receives the store's background
// warnings. When it fails, the directories it made are
// removed with what was put in them: a start that failed (a database it could not reach) leaves
// nothing behind. A store whose keys are not the data directory's is refused (checkKeys).
func openStore(ctx context.Context, cfg config.Config, o opening) (_ store.Store, _ *keys.Keyring, _ bool, err error) {
	create := o.create
	if create {
		made, mkErr := makeDir(cfg.DataDir)
		if mkErr != nil {
			return nil, nil, false, fmt.Errorf("data directory: %w", mkErr)
		}
		if made != "" {
			defer func() {
				if err != nil {
					os.RemoveAll(made)
				}
			}()
		}
	}
	if cfg.DatabaseURL == "" || strings.HasPrefix(cfg.DatabaseURL, "sqlite:") {
		if note, err := os.ReadFile(filepath.Join(cfg.DataDir, MovedMarker)); err == nil {
			return nil, nil, false, fmt.Errorf("%s%s's SQLite files are no longer the store; remove %s only to serve them again", note, cfg.DataDir, MovedMarker)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, RestoreMarker)); err == nil && !o.restoring {
		return nil, nil, false, fmt.Errorf("a tillit restore into %s did not finish (%s is there): the store may lack choices made after its backup; remove the directory's files and restore again", cfg.DataDir, RestoreMarker)
	}
	keysetFile := app.KeysetFile(cfg.DataDir)
	// Keys are created only for a data directory that holds nothing yet. A database without its
	// keys is unreadable; making new keys for it would hide the loss and let the same people be
	// stored twice, so every missing piece of an existing directory is an error.
	parts, err := store.Parts(cfg.StoreURL())
	if err != nil {
		return nil, nil, false, err
	}
	inFiles := len(parts) > 0 // the store is files of the installation (SQLite's), not a server's
	parts = append(parts, store.Part{Path: keysetFile, What: "the keysets"})
	var present, missing []string
	for _, p := range parts {
		if _, err := os.Stat(p.Path); err == nil {
			present = append(present, p.What+" ("+filepath.Base(p.Path)+")")
		} else {
			missing = append(missing, p.What+" ("+filepath.Base(p.Path)+")")
		}
	}
	inDB, err := store.Exists(ctx, cfg.StoreURL())
	if err != nil {
		return nil, nil, false, err
	}
	if inDB {
		present = append(present, "a Tillit store (the database URL)")
	}
	fresh := len(present) == 0
	if !fresh && !inFiles && !inDB && len(missing) == 0 {
		// Keys but no store at the server's URL: a mistyped schema= would otherwise become a
		// new, empty store that every check reports intact.
		return nil, nil, false, fmt.Errorf("%s holds %s, but %s holds no Tillit store: check the database URL (its schema=) — Tillit makes a store only with its keys, on a first start of an empty data directory",
			cfg.DataDir, strings.Join(present, ", "), config.RedactURL(cfg.StoreURL()))
	}
	if !fresh && len(missing) > 0 {
		return nil, nil, false, fmt.Errorf("%s holds %s but not %s: restore the missing files from a backup (Tillit never makes new keys for existing data)",
			cfg.DataDir, strings.Join(present, ", "), strings.Join(missing, ", "))
	}
	if fresh && !create {
		return nil, nil, false, fmt.Errorf("no Tillit database in %s (start tillit serve once, or pass --data)", cfg.DataDir)
	}
	if !fresh && cfg.RootKey == "" {
		// keys.Open says which setting names a root key of another kind.
		if kind, err := keys.WrappedBy(keysetFile); err == nil && kind == keys.RootFile {
			if _, err := os.Stat(cfg.RootKeyFile); err != nil && renewalInterrupted(cfg) {
				return nil, nil, false, fmt.Errorf("the root key %s is missing: a renewal of the root key was interrupted (%s.next is there): run tillit keys rotate --root again to finish it", cfg.RootKeyFile, filepath.Base(cfg.RootKeyFile))
			} else if err != nil {
				return nil, nil, false, fmt.Errorf("the root key %s is missing: if it was moved, set TILLIT_ROOT_KEY_FILE to where it is; otherwise restore it from its backup (Tillit never makes a new root key for existing data)", cfg.RootKeyFile)
			}
		}
	}
	rootErr := os.ErrNotExist
	if cfg.RootKeyFile != "" {
		_, rootErr = os.Stat(cfg.RootKeyFile)
	}
	kr, created, err := openKeyring(cfg, keysetFile, fresh)
	if err != nil {
		return nil, nil, false, err
	}
	disk := diskKeys(kr)
	if o.plainDisk {
		disk = nil
	}
	db, err := store.Open(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, DiskKeys: disk, AnchorMAC: kr.AnchorMAC, AnchorMACs: kr.AnchorMACs, OnRepair: o.onRepair, Logger: o.logger})
	if errors.Is(err, store.ErrNoDiskKey) {
		return nil, nil, false, fmt.Errorf("the root key %s and keysets %s do not belong to the store at %s: %w; start with the root key and keysets this store was made with (its own data directory, or their backup)",
			cfg.RootKeyFile, app.KeysetFile(cfg.DataDir), config.RedactURL(cfg.StoreURL()), err)
	}
	if err != nil {
		if fresh {
			// A first start that made keys for a store that did not open leaves nothing behind:
			// kept, the keys alone would make the directory refuse every later start. (A key it
			// made in a token stays: the next first start finds it by its label and uses it.)
			os.Remove(keysetFile)
			if rootErr != nil && cfg.RootKeyFile != "" {
				os.Remove(cfg.RootKeyFile)
			}
		}
		return nil, nil, false, err
	}
	if err := checkKeys(ctx, cfg, db, kr, o.investigate); err != nil {
		db.Close()
		return nil, nil, false, err
	}
	return db, kr, created, nil
}

// diskKeys returns kr's disk keys as a store takes them (store.Config.DiskKeys), the primary
// first.
func diskKeys(kr *keys.Keyring) [][]byte {
	var out [][]byte
	for _, k := range kr.DiskKeys() {
		out = append(out, k.Key)
	}
	return out
}

// checkKeys refuses a store opened with keys that are not its own. Another installation's root
// key and keysets (a copy of the wrong data directory, another node's --data) open any store;
// the start then went on and every write was refused (anchor_forged, /readyz 503). The audit
// anchor's keyed MAC verifies under the store's own keys; when it does not, one of the store's
// data keys tells another installation's keys (it does not unwrap) from an anchor rewritten by
// someone without the keys (it does: the store starts and reports anchor_forged, as /readyz and
// tillit audit verify say). A store that holds no data key cannot tell: it is refused, unless
// investigate (tillit audit verify). The messages name files and the store, nothing personal.
func checkKeys(ctx context.Context, cfg config.Config, db store.Store, kr *keys.Keyring, investigate bool) error {
	ev, err := db.KeyEvidence(ctx)
	if err != nil || ev.AnchorVerifies {
		return err
	}
	keysIn := fmt.Sprintf("the root key %s and keysets %s", cfg.RootKeyFile, app.KeysetFile(cfg.DataDir))
	at := config.RedactURL(cfg.StoreURL())
	if ev.Wrapped != nil {
		if _, err := kr.OpenDataKey(ev.OwnerID, ev.Version, ev.Wrapped); err == nil {
			kr.Forget(ev.OwnerID)
			return nil
		}
		return fmt.Errorf("%s do not belong to the store at %s: its audit anchor's keyed MAC does not verify under them and its data keys do not unwrap; "+
			"start with the root key and keysets this store was made with (its own data directory, or their backup), or give the database URL of the store these keys belong to", keysIn, at)
	}
	if investigate {
		return nil
	}
	return fmt.Errorf("the audit anchor of the store at %s does not verify under %s: they are another installation's keys, or the anchor was rewritten, and the store holds no data key to tell which; "+
		"start with the root key and keysets this store was made with (tillit audit verify reports the log)", at, keysIn)
}

// makeDir makes dir and its missing parents (mode 0700) and returns the outermost directory it
// made: "" when dir was there already.
func makeDir(dir string) (string, error) {
	made := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return made, nil
}

// openKeyring opens the keysets at keysetFile with the root key cfg names (keys.Open, through
// keysConfig). create allows creating the keysets and, where there is none, the root key (in
// the token: under the URI's object label).
func openKeyring(cfg config.Config, keysetFile string, create bool) (*keys.Keyring, bool, error) {
	kcfg, done, err := keysConfig(cfg, keysetFile, create)
	if err != nil {
		return nil, false, err
	}
	defer done()
	return keys.Open(kcfg)
}

// keysConfig is the keys.Config of the root key cfg names: the root key file, or the key in a
// PKCS#11 token that TILLIT_ROOT_KEY names, opened until done is called (call it once the keys
// package is done with the root: the token is used only while keysets are opened or written; a
// reload of keysets.json, a key rotation while serving, opens the token again).
func keysConfig(cfg config.Config, keysetFile string, create bool) (kcfg keys.Config, done func(), err error) {
	if cfg.RootKey == "" {
		return keys.Config{RootKeyFile: cfg.RootKeyFile, KeysetFile: keysetFile, Create: create}, func() {}, nil
	}
	root, err := openTokenKey(cfg.RootKey, create)
	if err != nil {
		return keys.Config{}, nil, err
	}
	reopen := func() (keys.Root, func(), error) {
		k, err := openTokenKey(cfg.RootKey, false)
		if err != nil {
			return nil, nil, err
		}
		return k, func() { k.Close() }, nil
	}
	return keys.Config{Root: root, ReopenRoot: reopen, KeysetFile: keysetFile, Create: create}, func() { root.Close() }, nil
}

// openTokenKey opens the root key in the PKCS#11 token that the pkcs11: URI raw names, creating
// it when it does not exist and create is set. Errors say TILLIT_ROOT_KEY and never the PIN.
func openTokenKey(raw string, create bool) (*pkcs11.Key, error) {
	u, err := pkcs11.ParseURI(raw)
	if err != nil {
		return nil, fmt.Errorf("TILLIT_ROOT_KEY: %w", err)
	}
	k, _, err := pkcs11.Open(u, create)
	if err != nil {
		return nil, fmt.Errorf("TILLIT_ROOT_KEY (%s): %w", config.RedactKeyURI(raw), err)
	}
	return k, nil
}

// newLogger is the logger of the settings: cfg.LogLevel, and cfg.LogFormat "json" for one JSON
// object per line (time, level, msg and the attributes), else text. What is logged never holds
// personal data, in either format: typed ids, counts, route patterns and reason codes.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: l}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
