package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
)

// keysSynopsis is the usage of tillit keys.
func keysSynopsis() string {
	return "tillit keys encrypt-disk | tillit keys rotate --disk | " + rotateSynopsis() + " | " + moveRootSynopsis
}

// keysCmd runs tillit keys SUBCOMMAND.
func keysCmd(ctx context.Context, env Env, args []string) error {
	switch {
	case len(args) > 0 && args[0] == "encrypt-disk":
		return encryptDisk(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "rotate" && slices.Contains(args[1:], "--disk"):
		return rotateDisk(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "rotate":
		return keysRotate(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "move-root":
		return moveRoot(ctx, env, args[1:])
	}
	return fmt.Errorf("%w: %s", errUsage, keysSynopsis())
}

// encryptDisk runs `tillit keys encrypt-disk`: the SQLite files of an installation from before
// disk encryption are copied into files encrypted under the disk key (store.Reseal), which
// replace them. keysets.json gains the disk keyset first when it has none. The server must be
// stopped; a store in use is refused. A kill at any moment leaves the plain store or the
// encrypted one, whole (the next command that opens it settles which).
func encryptDisk(ctx context.Context, env Env, args []string) error {
	cfg, dir, err := diskCommand(env, "keys encrypt-disk", args, nil)
	if err != nil {
		return err
	}
	if err := checkStore(ctx, cfg); err != nil {
		return err
	}
	kcfg, done, err := keysConfig(cfg, app.KeysetFile(cfg.DataDir), false)
	if err != nil {
		return err
	}
	defer done()
	primary, err := keys.NewDiskKey(kcfg, false)
	if err != nil {
		return err
	}
	all, err := allDiskKeys(kcfg)
	if err != nil {
		return err
	}
	plain, err := store.Unencrypted(cfg.StoreURL(), all)
	if err != nil {
		return err
	}
	if len(plain) == 0 {
		fmt.Fprintf(env.Stdout, "the SQLite files in %s are encrypted already; nothing to do\n", dir)
		return nil
	}
	fmt.Fprintf(env.Stderr, "encrypting the SQLite files in %s under disk key %d (a copy of each, then swapped in)\n", dir, primary.ID)
	if err := store.Reseal(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, DiskKeys: all}, primary.Key, progressTo(env.Stderr)); err != nil {
		return resealError(dir, err, "the files are plain, as before")
	}
	fmt.Fprintf(env.Stdout, "the SQLite files in %s are encrypted under disk key %d of %s: back up that file (with the root key, apart from the data); copies of the plain files made before (backups) still hold the data in plain\n",
		dir, primary.ID, kcfg.KeysetFile)
	return nil
}

// rotateDisk runs `tillit keys rotate --disk`: a new disk key is added to the keysets as their
// primary, the files are copied under it and swapped in (store.Reseal), and the old disk keys
// are dropped from the keysets once the new files are in place.
func rotateDisk(ctx context.Context, env Env, args []string) error {
	var disk bool
	cfg, dir, err := diskCommand(env, "keys rotate", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&disk, "disk", false, "rotate the disk key, which encrypts the SQLite files")
	})
	if err != nil {
		return err
	}
	if !disk {
		return fmt.Errorf("%w: say which keys to rotate: tillit keys rotate --disk", errUsage)
	}
	if err := checkStore(ctx, cfg); err != nil {
		return err
	}
	kcfg, done, err := keysConfig(cfg, app.KeysetFile(cfg.DataDir), false)
	if err != nil {
		return err
	}
	defer done()
	old, err := allDiskKeys(kcfg)
	if err != nil {
		return err
	}
	plain, err := store.Unencrypted(cfg.StoreURL(), old)
	if err != nil {
		return err
	}
	if len(old) == 0 || len(plain) > 0 {
		return fmt.Errorf("the SQLite files in %s are not encrypted (%s): run tillit keys encrypt-disk first", dir, strings.Join(plain, ", "))
	}
	next, err := keys.NewDiskKey(kcfg, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "copying the SQLite files in %s under the new disk key %d\n", dir, next.ID)
	all := append([][]byte{next.Key}, old...)
	if err := store.Reseal(ctx, store.Config{URL: cfg.StoreURL(), VFS: cfg.SQLiteVFS, DiskKeys: all}, next.Key, progressTo(env.Stderr)); err != nil {
		return resealError(dir, err, fmt.Sprintf("the files are under the old key; the new key %d waits unused in %s (run the command again)", next.ID, kcfg.KeysetFile))
	}
	if err := keys.DropDiskKeys(kcfg, next.ID); err != nil {
		return fmt.Errorf("the files are encrypted under the new disk key %d, but the old keys are still in %s: %w (run tillit keys rotate --disk again to drop them)", next.ID, kcfg.KeysetFile, err)
	}
	fmt.Fprintf(env.Stdout, "the SQLite files in %s are encrypted under the new disk key %d; the old disk keys are dropped from %s: back up that file (copies of the store made before, backups, need the copy of it made with them)\n",
		dir, next.ID, kcfg.KeysetFile)
	return nil
}

// diskCommand parses a tillit keys command on the SQLite files (flags adds its own flags) and
// returns the settings and the store's directory; a PostgreSQL store is refused: its files are
// the server's (volume encryption).
func diskCommand(env Env, name string, args []string, flags func(*flag.FlagSet)) (config.Config, string, error) {
	cfg, fs, err := parse(env, name, args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		if flags != nil {
			flags(fs)
		}
	})
	if err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("%w: unexpected argument %q (%s)", errUsage, fs.Arg(0), keysSynopsis())
	}
	parts, err := store.Parts(cfg.StoreURL())
	if err != nil {
		return cfg, "", err
	}
	if len(parts) == 0 {
		return cfg, "", fmt.Errorf("%w (--database-url)", store.ErrNotFiles)
	}
	return cfg, filepath.Dir(parts[0].Path), nil
}

// checkStore opens the store as every command does, and closes it: the keys must be its own
// (checkKeys: encrypting it under another installation's disk key would lock it away from its
// own keys), and a transaction a crash left half done is finished first.
func checkStore(ctx context.Context, cfg config.Config) error {
	db, _, _, err := openStore(ctx, cfg, opening{logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	return db.Close()
}

// allDiskKeys reads the disk keys of the keysets kcfg names, the primary first.
func allDiskKeys(kcfg keys.Config) ([][]byte, error) {
	kr, _, err := keys.Open(kcfg)
	if err != nil {
		return nil, err
	}
	return diskKeys(kr), nil
}

// resealError explains a failed store.Reseal; state says where the files stand.
func resealError(dir string, err error, state string) error {
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("the SQLite store in %s is in use by another process: stop tillit serve (and any other tillit command on that directory), then run the command again; %s", dir, state)
	}
	return fmt.Errorf("%w; %s", err, state)
}

// progressTo returns a store.Progress that writes a line to w at each tenth of a file copied.
func progressTo(w io.Writer) store.Progress {
	shown := map[string]int{}
	return func(file string, done, total int) {
		if total <= 0 {
			return
		}
		tenth := done * 10 / total
		if last, ok := shown[file]; ok && tenth == last {
			return
		}
		shown[file] = tenth
		fmt.Fprintf(w, "%s: %d of %d pages (%d%%)\n", file, done, total, done*100/total)
	}
}
