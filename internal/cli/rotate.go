package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
)

// rotation is one kind of key tillit keys rotate rotates: its flag, its help and the function
// that rotates it. A new kind is one more entry of rotations.
type rotation struct {
	flag, usage string
	run         func(ctx context.Context, env Env, cfg config.Config, o rotateOptions) error
}

// rotateOptions are the flags of tillit keys rotate besides the kind.
type rotateOptions struct {
	batch int    // --batch: data keys re-wrapped, or contacts or requests re-indexed, per transaction
	to    string // --to: the new root key (--root)
}

func rotations() []rotation {
	return []rotation{
		{"wrap", "rotate the wrap keyset (it wraps every per-contact data key): add a key, make it primary, re-wrap every data key while serving, delete the old key", rotateWrap},
		{"bidx", "rotate the blind-index keyset (blind indexes, suppression hashes): add a key, make it primary, re-index every contact and request while serving; the old keys stay for lookups", rotateBidx},
		{"root", "replace the root key that wraps keysets.json: in place for a root key file, or --to a new one (as keys move-root)", rotateRoot},
	}
}

func rotateSynopsis() string {
	var kinds []string
	for _, r := range rotations() {
		kinds = append(kinds, "--"+r.flag)
	}
	return "tillit keys rotate " + strings.Join(kinds, " | ") + " [--batch N] [--root --to DEST]"
}

// keysRotate runs tillit keys rotate --KIND: one kind of key is rotated while the installation
// serves (keys.Rotation for the keysets, keys.RenewRootFile or moveRootTo for the root key).
// Progress goes to stderr, a JSON summary to stdout. Killed or interrupted, the same command
// continues where it stopped. Two rotations never run at once on one data directory (a lock on
// keysets.json.lock).
func keysRotate(ctx context.Context, env Env, args []string) error {
	kinds := rotations()
	chosen := make([]bool, len(kinds))
	var o rotateOptions
	cfg, fset, err := parse(env, "keys rotate", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		for i, r := range kinds {
			fs.BoolVar(&chosen[i], r.flag, false, r.usage)
		}
		fs.IntVar(&o.batch, "batch", 500, "data keys re-wrapped (--wrap), or contacts or requests re-indexed (--bidx), per transaction")
		fs.StringVar(&o.to, "to", "", "with --root: the new root key, a pkcs11: `URI` (PIN by pin-source) or the path of a new root key file")
	})
	if err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (%s)", errUsage, fset.Arg(0), rotateSynopsis())
	}
	var run *rotation
	for i := range kinds {
		if chosen[i] {
			if run != nil {
				return fmt.Errorf("%w: one kind of key at a time (%s)", errUsage, rotateSynopsis())
			}
			run = &kinds[i]
		}
	}
	switch {
	case run == nil:
		return fmt.Errorf("%w: which key? (%s)", errUsage, rotateSynopsis())
	case o.batch <= 0:
		return fmt.Errorf("%w: --batch must be at least 1", errUsage)
	case o.to != "" && run.flag != "root":
		return fmt.Errorf("%w: --to is for --root only", errUsage)
	case run.flag == "root" && o.to == "" && cfg.RootKey != "":
		return fmt.Errorf("%w: the root key is in a PKCS#11 token: name the new key with --to 'pkcs11:…;object=NEW-LABEL?…' (or a new root key file)", errUsage)
	}
	keysetFile := app.KeysetFile(cfg.DataDir)
	if _, err := os.Stat(keysetFile); err != nil {
		return fmt.Errorf("%s: %w (is --data the installation's data directory?)", keysetFile, err)
	}
	unlock, err := lockFile(keysetFile + ".lock")
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	defer unlock()
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "keys-rotate"})
	err = run.run(ctx, env, cfg, o)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted (%w): keysets.json and the store hold every step done; run the same command again to continue", err)
	}
	return err
}

// openRoot opens the root key cfg names (the token's key, or the root key file) and returns
// it with a function that closes it.
func openRoot(cfg config.Config) (keys.Root, func(), error) {
	if cfg.RootKey != "" {
		k, err := openTokenKey(cfg.RootKey, false)
		if err != nil {
			return nil, nil, err
		}
		return k, func() { k.Close() }, nil
	}
	r, _, err := keys.OpenRootFile(cfg.RootKeyFile, false)
	return r, func() {}, err
}

// rotateWrap rotates the wrap keyset while the installation serves (keys.Rotation.Wrap).
func rotateWrap(ctx context.Context, env Env, cfg config.Config, o rotateOptions) error {
	db, kr, _, err := openStore(ctx, cfg, opening{logger: newLogger(cfg, env.Stderr)})
	if err != nil {
		return err
	}
	defer db.Close()
	root, closeRoot, err := openRoot(cfg)
	if err != nil {
		return err
	}
	defer closeRoot()
	r := keys.Rotation{File: app.KeysetFile(cfg.DataDir), Root: root, Keys: kr, Store: store.Keys(db), Batch: o.batch, Progress: env.Stderr}
	sum, err := r.Wrap(ctx)
	if err != nil {
		return err
	}
	if err := writeJSON(env, sum); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, `The wrap keyset now holds key %d alone: every data key of the store is wrapped under it.
Back up keysets.json now, with keys.db: a copy of keys.db made from now on opens only with
this keysets.json (or a later one), and older copies of keys.db only with the keysets.json
backed up with them. Once those older backups are gone, the deleted key opens nothing anywhere.
`, sum.Added)
	return nil
}

// rotateBidx rotates the blind-index keyset while the installation serves (keys.Rotation.Bidx):
// a new key becomes primary once every serving process looks up under it, and every contact's
// e-mail and phone indexes and suppression hash are made again under it
// (contact.Service.Reindex), then every data subject request's address index
// (dsr.Service.Reindex). The older keys stay in the set, enabled for lookups: the
// suppression hashes of addresses that are gone were made with them and cannot be made again.
func rotateBidx(ctx context.Context, env Env, cfg config.Config, o rotateOptions) error {
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	root, closeRoot, err := openRoot(cfg)
	if err != nil {
		return err
	}
	defer closeRoot()
	r := keys.Rotation{File: app.KeysetFile(cfg.DataDir), Root: root, Keys: a.Keys, Store: store.Keys(a.Store), Batch: o.batch, Progress: env.Stderr}
	reindex := func(batch func(ctx context.Context, after string, limit int, action, object string) (contact.ReindexBatch, error)) keys.Reindexer {
		return func(ctx context.Context, after string, limit int, action, object string) (string, int, int, int, error) {
			b, err := batch(ctx, after, limit, action, object)
			return b.Next, b.Read, b.Reindexed, b.Lost, err
		}
	}
	sum, err := r.Bidx(ctx, keys.ReindexStep{Table: "contacts", Reindex: reindex(a.Contacts.Reindex)},
		keys.ReindexStep{Table: "requests", Reindex: reindex(a.Requests.Reindex)})
	if err != nil {
		return err
	}
	if err := writeJSON(env, sum); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, `The blind-index keyset's primary is now key %d: every contact and request is indexed under it.
The older keys %v stay in the set, enabled for lookups, and are not deleted: the suppression
hashes of erased and unsubscribed people's addresses (and the erasure ledger's, and contacts'
former addresses') were made with them and cannot be made again. Back up keysets.json now: a
backup or ledger export made from now on names key %d, which older copies of keysets.json lack.
`, sum.Added, sum.Kept, sum.Added)
	return nil
}

// rotateRoot replaces the root key: with --to, as keys move-root (a key in a token, or a new
// file elsewhere); without, a root key file is renewed in place (keys.RenewRootFile). A root
// key in a token needs --to: the token keeps the old key under its label, and the new one
// needs a label of its own.
//
// A renewal of a root key file that was killed (root.key.next beside root.key) is finished
// first, before the store is opened: between its re-wrap of keysets.json and its renames,
// keysets.json opens with neither the root key the settings name nor any command's, this one's
// included. With --to, the finished renewal's key is the one moved from.
func rotateRoot(ctx context.Context, env Env, cfg config.Config, o rotateOptions) error {
	keysetFile := app.KeysetFile(cfg.DataDir)
	var done []string // the kinds of root key put in place, in order: audit events
	if o.to == "" || renewalInterrupted(cfg) {
		retired, err := keys.RenewRootFile(keysetFile, cfg.RootKeyFile, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, `%s is now wrapped by a new root key, in %s (running servers read it at their next reload;
no restart is needed). The old root key is kept as %s:
copies of keysets.json made before now (backups) open only with it. Move it to where those
backups are kept, apart from them, and destroy it once they are gone.
`, keysetFile, cfg.RootKeyFile, retired)
		done = append(done, "file")
	}
	db, _, _, err := openStore(ctx, cfg, opening{logger: newLogger(cfg, env.Stderr)})
	if err != nil {
		return err
	}
	defer db.Close()
	if o.to != "" {
		if err := moveRootTo(env, cfg, o.to); err != nil {
			return err
		}
		what := "file"
		if strings.HasPrefix(strings.ToLower(o.to), "pkcs11:") {
			what = "pkcs11"
		}
		done = append(done, what)
	}
	err = store.Keys(db).Update(ctx, func(tx keys.RotateTx) error {
		for _, what := range done {
			ev := audit.New(ctx, time.Now(), "keys.root", "root_key", what)
			if err := tx.AppendAudit(ctx, &ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(env, map[string]string{"root": done[len(done)-1]})
}

// renewalInterrupted reports whether a renewal in place of the root key file cfg names was
// killed before it finished (keys.RenewRootFile): its root.key.next is there.
func renewalInterrupted(cfg config.Config) bool {
	if cfg.RootKey != "" || cfg.RootKeyFile == "" {
		return false
	}
	_, err := os.Stat(cfg.RootKeyFile + ".next")
	return err == nil
}

// writeJSON writes v to stdout as indented JSON.
func writeJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
