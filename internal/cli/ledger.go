package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
)

// ledgerExport prints the ledger (package ledger) as JSON lines: every erasure, suppression, list
// unsubscribe, withdrawal, refusal, objection, restriction and verified request, or with --since
// those recorded at or after a time (open requests always), after a header line naming the
// blind-index key; ids, times and keyed hashes, no personal data in the clear: erasures carry the
// hashes of the person's addresses, and every line about a contact (withdrawal, refusal,
// objection, restriction, request) the hash of its address, by which replay re-applies it when
// the restored store lacks the contact. Kept apart from the backups it is
// replayed on. "tillit erasures export" is the same command.
func ledgerExport(ctx context.Context, env Env, name string, args []string) error {
	var sinceFlag string
	cfg, fs, err := parse(env, name, args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.StringVar(&sinceFlag, "since", "", "only what was decided at or after this time (RFC 3339, for example the time of the last backup)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit %s [--since TIME])", errUsage, fs.Arg(0), name)
	}
	var since time.Time
	if sinceFlag != "" {
		if since, err = time.Parse(time.RFC3339Nano, sinceFlag); err != nil {
			return fmt.Errorf("%w: --since: an RFC 3339 time, for example 2026-03-01T12:00:00Z", errUsage)
		}
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	entries, err := ledger.Export(ctx, store.Ledger(a.Store), since)
	if err != nil {
		return err
	}
	keyID, err := a.Keys.IndexKeyID()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	if err := ledger.WriteHeader(w, keyID); err != nil {
		return err
	}
	if err := ledger.Write(w, entries); err != nil {
		return err
	}
	return w.Flush()
}

// ledgerReplay re-applies ledger files (tillit ledger export), in the order given (request lines first), to a data
// directory restored from a backup, so a restore never undoes a choice (GDPR Art. 7(3), 17, 18,
// 21; DESIGN §4), and prints the counts per line type as JSON. Every file is checked whole before
// anything is applied: a bad line is a usage error naming the file, the line's number and field;
// a file written under another installation's blind-index key is a usage error (its hashes would
// match nothing); a file that names no key (written before the header) replays with a warning.
// "tillit erasures replay" is the same command.
func ledgerReplay(ctx context.Context, env Env, name string, args []string) error {
	cfg, fs, err := parse(env, name, args, func(fs *flag.FlagSet, c *config.Config) { c.Flags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: tillit %s [--data DIR] LEDGER-FILE... (the output of tillit ledger export; several: oldest first)", errUsage, name)
	}
	files := make([]ledger.File, fs.NArg())
	for i, path := range fs.Args() {
		if files[i], err = readLedgerFile(path); err != nil {
			return err
		}
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "ledger-replay"})
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	keyIDs, err := a.Keys.IndexKeyIDs() // a file exported before a rotation names an older key
	if err != nil {
		return err
	}
	var entries []ledger.Entry
	for i, f := range files {
		switch err := f.CheckKey(keyIDs...); {
		case errors.Is(err, ledger.ErrUnchecked):
			fmt.Fprintf(env.Stderr, "tillit: warning: %s: %v\n", fs.Arg(i), err)
		case err != nil:
			return fmt.Errorf("%w: %s: %v; nothing applied", errUsage, fs.Arg(i), err)
		}
		entries = append(entries, f.Entries...)
	}
	res, err := a.Ledger.Replay(ctx, entries)
	if err != nil {
		return err
	}
	warnMissingPurposes(env, res)
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// warnMissingPurposes tells on stderr of the purposes lines named that the store lacks (created
// after the backup): those lines were not applied until the purposes exist again.
func warnMissingPurposes(env Env, res ledger.Result) {
	if len(res.MissingPurposes) == 0 {
		return
	}
	fmt.Fprintf(env.Stderr, "tillit: warning: lines about purposes this store does not have were not applied (%s): create each again with the same id (POST /api/v1/purposes), then run tillit ledger replay with the same files again\n",
		strings.Join(res.MissingPurposes, ", "))
}

// readLedgerFile reads and checks one ledger file; a bad line is a usage error naming the file.
func readLedgerFile(path string) (ledger.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return ledger.File{}, err
	}
	defer f.Close()
	lf, err := ledger.ReadFile(f)
	if le := (*ledger.LineError)(nil); errors.As(err, &le) {
		return ledger.File{}, fmt.Errorf("%w: %s %s; nothing applied", errUsage, path, le)
	}
	if err != nil {
		return ledger.File{}, fmt.Errorf("%s: %w", path, err)
	}
	return lf, nil
}
