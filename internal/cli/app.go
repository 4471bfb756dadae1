package cli

import (
	"context"
	"fmt"
	"io"
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
}

// openApp opens the data directory (openStore) and builds the app on it (app.New), with mail
// queued for the file transport and logs on stderr.
func openApp(ctx context.Context, env Env, cfg config.Config, create bool) (*app.App, error) {
	return openAppWith(ctx, env, cfg, opening{create: create})
}

// openAppWith is openApp as o says.
func openAppWith(ctx context.Context, env Env, cfg config.Config, o opening) (*app.App, error) {
	db, kr, _, err := openStore(ctx, cfg, o.create, o.onRepair)
	if err != nil {
		return nil, err
	}
	if o.transport == nil {
		o.transport = app.Files(cfg)
	}
	if o.logger == nil {
		o.logger = newLogger(cfg.LogLevel, env.Stderr)
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
// only for a directory that holds nothing yet.
func openStore(ctx context.Context, cfg config.Config, create bool, onRepair func(store.Repair, bool)) (store.Store, *keys.Keyring, bool, error) {
	if create {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, nil, false, fmt.Errorf("data directory: %w", err)
		}
	}
	if cfg.DatabaseURL == "" || strings.HasPrefix(cfg.DatabaseURL, "sqlite:") {
		if note, err := os.ReadFile(filepath.Join(cfg.DataDir, MovedMarker)); err == nil {
			return nil, nil, false, fmt.Errorf("%s%s's SQLite files are no longer the store; remove %s only to serve them again", note, cfg.DataDir, MovedMarker)
		}
	}
	keysetFile := app.KeysetFile(cfg.DataDir)
	// Keys are created only for a data directory that holds nothing yet. A database without its
	// keys is unreadable; making new keys for it would hide the loss and let the same people be
	// stored twice, so every missing piece of an existing directory is an error.
	parts, err := store.Parts(cfg.StoreURL())
	if err != nil {
		return nil, nil, false, err
	}
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
			if _, err := os.Stat(cfg.RootKeyFile); err != nil {
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
	db, err := store.Open(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, AnchorMAC: kr.AnchorMAC, OnRepair: onRepair})
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
	return db, kr, created, nil
}

// openKeyring opens the keysets at keysetFile with the root key cfg names (keys.Open): the
// root key file, or the key in a PKCS#11 token that TILLIT_ROOT_KEY names, which it opens only
// for as long as keys.Open runs. create allows creating the keysets and, where there is none,
// the root key (in the token: under the URI's object label).
func openKeyring(cfg config.Config, keysetFile string, create bool) (*keys.Keyring, bool, error) {
	if cfg.RootKey == "" {
		return keys.Open(keys.Config{RootKeyFile: cfg.RootKeyFile, KeysetFile: keysetFile, Create: create})
	}
	root, err := openTokenKey(cfg.RootKey, create)
	if err != nil {
		return nil, false, err
	}
	defer root.Close()
	return keys.Open(keys.Config{Root: root, KeysetFile: keysetFile, Create: create})
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

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
