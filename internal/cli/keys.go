package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/keys/pkcs11"
)

const moveRootSynopsis = "tillit keys move-root --to 'pkcs11:token=…;object=…?module-path=…&pin-source=file:…' | --to FILE"

// moveRoot runs `tillit keys move-root --to DEST`: the keysets move from the root key the
// settings name (TILLIT_ROOT_KEY, else TILLIT_ROOT_KEY_FILE or the data directory's root.key)
// to DEST, a pkcs11: URI (the key is made in the token when it has none under the label) or the
// path of a new root key file. keys.Rewrap replaces keysets.json atomically and only once the
// new root opens it; the keysets, and so every personal field, stay the same. The old root key
// is left as it was: backups of keysets.json made before still need it.
//
// The PIN of --to must come from a file (pin-source): a command line is visible to every user
// of the machine (ps), so pin-value is refused there.
func moveRoot(_ context.Context, env Env, args []string) error {
	var to string
	cfg, fset, err := parse(env, "keys move-root", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.StringVar(&to, "to", "", "the new root key: a pkcs11: `URI` (RFC 7512, PIN by pin-source) or the path of a new root key file")
	})
	if err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (%s)", errUsage, fset.Arg(0), moveRootSynopsis)
	}
	if to == "" {
		return fmt.Errorf("%w: --to is missing (%s)", errUsage, moveRootSynopsis)
	}
	return moveRootTo(env, cfg, to)
}

// moveRootTo moves the keysets from the root key cfg names to the new root key to (a pkcs11:
// URI or the path of a new root key file): moveRoot, and tillit keys rotate --root --to.
func moveRootTo(env Env, cfg config.Config, to string) error {
	var err error
	keysetFile := app.KeysetFile(cfg.DataDir)
	if _, err := os.Stat(keysetFile); err != nil {
		return fmt.Errorf("%s: %w (is --data the installation's data directory?)", keysetFile, err)
	}

	var from keys.Root
	if cfg.RootKey != "" {
		k, err := openTokenKey(cfg.RootKey, false)
		if err != nil {
			return err
		}
		defer k.Close()
		from = k
	} else {
		if from, _, err = keys.OpenRootFile(cfg.RootKeyFile, false); err != nil {
			return err
		}
	}

	var dest keys.Root
	var setting string
	if scheme, _, _ := strings.Cut(to, ":"); strings.EqualFold(scheme, "pkcs11") {
		if strings.Contains(strings.ToLower(to), "pin-value=") {
			return fmt.Errorf("%w: --to: give the PIN by pin-source=file:… (a command line is visible to every user of the machine), not pin-value", errUsage)
		}
		u, err := pkcs11.ParseURI(to)
		if err != nil {
			return fmt.Errorf("%w: --to: %v", errUsage, err)
		}
		k, _, err := pkcs11.Open(u, true)
		if err != nil {
			return fmt.Errorf("--to (%s): %w", config.RedactKeyURI(to), err)
		}
		defer k.Close()
		dest, setting = k, fmt.Sprintf("TILLIT_ROOT_KEY='%s' (and unset TILLIT_ROOT_KEY_FILE)", to)
	} else {
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: --to %s exists; name a new file for the new root key", errUsage, to)
		}
		if dest, _, err = keys.OpenRootFile(to, true); err != nil {
			return err
		}
		setting = fmt.Sprintf("TILLIT_ROOT_KEY_FILE=%s (and unset TILLIT_ROOT_KEY)", to)
	}

	if err := keys.Rewrap(keysetFile, from, dest); err != nil {
		return err
	}
	old := "the old root key file " + cfg.RootKeyFile
	if cfg.RootKey != "" {
		old = "the old key in its token (" + config.RedactKeyURI(cfg.RootKey) + ")"
	}
	fmt.Fprintf(env.Stderr, `%s is now wrapped by the new root key.
From now on run every command with
    %s
and restart a running server with it: until then it keeps the keys it has, but cannot read
keysets.json again (a key rotation would wait for it).
Keep %s while any backup of keysets.json made before now exists:
those copies open only with it. Then destroy it.
`, keysetFile, setting, old)
	return nil
}
