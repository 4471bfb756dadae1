package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/migrate"
)

// migrateStore runs `tillit migrate-store --from sqlite:DIR --to postgres://…?schema=NAME`: the
// whole SQLite store copied to PostgreSQL as stored (store/migrate), progress on stderr, the
// summary as JSON on stdout. The keys stay where they are: the installation's
// AnchorMAC opens the source and verifies the copy's audit chain. --from defaults to the data
// directory (--data), --to to --database-url; given both ways, they must agree.
// MovedMarker is the file migrate-store leaves in the data directory once the store has moved to
// PostgreSQL: while it is there, no command opens the directory's SQLite files (they hold the
// people as they were, and erasures made in PostgreSQL do not reach them).
const MovedMarker = "MOVED-TO-POSTGRESQL"

func migrateStore(ctx context.Context, env Env, args []string) error {
	var from, to string
	var batch int
	cfg, fs, err := parse(env, "migrate-store", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.StringVar(&from, "from", "", "the SQLite store to move: sqlite:DIR (default: the data directory)")
		fs.StringVar(&to, "to", "", "the PostgreSQL store to fill: postgres://…?schema=NAME (default: --database-url)")
		fs.IntVar(&batch, "batch", migrate.DefaultBatch, "rows per destination transaction")
	})
	if err != nil {
		return err
	}
	const synopsis = "tillit migrate-store --from sqlite:DIR --to 'postgres://…?schema=NAME'"
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (%s)", errUsage, fs.Arg(0), synopsis)
	}
	if batch <= 0 {
		return fmt.Errorf("%w: --batch must be at least 1", errUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if from != "" {
		dir, ok := strings.CutPrefix(from, "sqlite:")
		dir = strings.TrimPrefix(dir, "//")
		if !ok || dir == "" {
			return fmt.Errorf("%w: --from must name a SQLite data directory, sqlite:DIR (%s)", errUsage, synopsis)
		}
		if set["data"] && filepath.Clean(dir) != filepath.Clean(cfg.DataDir) {
			return fmt.Errorf("%w: --from %s and --data %s name different directories; the keys are the source's, so give one", errUsage, from, cfg.DataDir)
		}
		if env.Getenv("TILLIT_ROOT_KEY_FILE") == "" && cfg.RootKey == "" {
			cfg.RootKeyFile = filepath.Join(dir, "root.key")
		}
		cfg.DataDir = dir
	}
	switch {
	case to == "" && !strings.HasPrefix(cfg.DatabaseURL, "postgres"):
		return fmt.Errorf("%w: --to names no PostgreSQL store (%s)", errUsage, synopsis)
	case to == "":
		to = cfg.DatabaseURL
	case set["database-url"] && cfg.DatabaseURL != to:
		return fmt.Errorf("%w: --to and --database-url differ; give one", errUsage)
	}
	if !strings.HasPrefix(to, "postgres://") && !strings.HasPrefix(to, "postgresql://") {
		return fmt.Errorf("%w: --to must name a PostgreSQL store, postgres://…?schema=NAME (%s)", errUsage, synopsis)
	}
	if note, err := os.ReadFile(filepath.Join(cfg.DataDir, MovedMarker)); err == nil {
		return fmt.Errorf("%sIts SQLite files hold the people as they were before that move: moving them again would bring back everyone erased since. Remove %s only if the move was undone", note, MovedMarker)
	}
	kr, _, err := openKeyring(cfg, app.KeysetFile(cfg.DataDir), false)
	if err != nil {
		return fmt.Errorf("the installation's keys: %w", err)
	}
	sum, err := migrate.Run(ctx, migrate.Options{From: "sqlite:" + cfg.DataDir, To: to, AnchorMAC: kr.AnchorMAC, AnchorMACs: kr.AnchorMACs, DiskKeys: diskKeys(kr), Batch: batch, Progress: env.Stderr})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted (%w): what was copied is kept; run the same command again to continue", err)
		}
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sum); err != nil {
		return err
	}
	moved := fmt.Sprintf("This installation moved to PostgreSQL (%s) on %s.\nRun every command with --database-url (or TILLIT_DATABASE_URL).\n", sum.To, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(cfg.DataDir, MovedMarker), []byte(moved), 0o600); err != nil {
		return fmt.Errorf("the store moved, but the note that keeps the SQLite files from being served again was not written: %w", err)
	}
	parts, err := store.Parts("sqlite:" + cfg.DataDir)
	if err != nil {
		return err
	}
	var files []string
	for _, p := range parts {
		files = append(files, p.Path)
	}
	rootAt := cfg.RootKeyFile
	if cfg.RootKey != "" {
		rootAt = "the root key in the PKCS#11 token " + config.RedactKeyURI(cfg.RootKey)
	}
	fmt.Fprintf(env.Stderr, `
The store is now in PostgreSQL (%s).
The keys stay where they are: %s and %s. From now on run every command
with them and the new store (or set TILLIT_DATABASE_URL):

    tillit serve --data %s --database-url '%s'

The SQLite files (%s) are left as they were, and no command opens them
again (the note `+MovedMarker+` in the data directory says where the store went). Once the new
store serves, remove them: they hold the same people, and an erasure in PostgreSQL does not reach them.
`, sum.To, rootAt, app.KeysetFile(cfg.DataDir), cfg.DataDir, sum.To, strings.Join(files, ", "))
	return nil
}
