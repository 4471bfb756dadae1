package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/store/sqlite"
)

// erasuresExport prints the erasure ledger as JSON lines ({"contact_id", "erased_at"}; ids and
// times only, no personal data), for keeping apart from the backups it will be replayed on.
func erasuresExport(ctx context.Context, env Env, args []string) error {
	cfg, fs, err := parse(env, "erasures export", args, func(fs *flag.FlagSet, c *config.Config) { c.Flags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit erasures export)", errUsage, fs.Arg(0))
	}
	a, err := openApp(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	ledger, err := a.db.ErasureLedger(ctx)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	enc := json.NewEncoder(w)
	for _, e := range ledger {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return w.Flush()
}

// ReplayResult is what tillit erasures replay prints.
type ReplayResult struct {
	Entries    int `json:"entries"`     // ledger entries read
	Erased     int `json:"erased"`      // contacts the restored data still held, erased again now
	NotPresent int `json:"not_present"` // entries whose contact the data does not hold (erased before the backup, or never in it)
}

// erasuresReplay erases again, in a data directory restored from a backup, every contact a
// ledger file (tillit erasures export) names: an erasure is never undone by a restore
// (GDPR Art. 17; DESIGN §4). The whole file is checked before anything is erased; a bad line is
// an error naming its number.
func erasuresReplay(ctx context.Context, env Env, args []string) error {
	cfg, fs, err := parse(env, "erasures replay", args, func(fs *flag.FlagSet, c *config.Config) { c.Flags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: tillit erasures replay [--data DIR] LEDGER-FILE (the output of tillit erasures export)", errUsage)
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var ids []string
	for i, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e sqlite.Erasure
		if err := jsonin.Decode(line, &e); err != nil {
			return fmt.Errorf("%w: %s line %d: %s", errUsage, fs.Arg(0), i+1, apperr.As(err).Message)
		}
		if strings.TrimSpace(e.ContactID) == "" {
			return fmt.Errorf("%w: %s line %d: contact_id: required", errUsage, fs.Arg(0), i+1)
		}
		ids = append(ids, e.ContactID)
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "erasures-replay"})
	a, err := openApp(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	a.erasureHooks()
	res := ReplayResult{Entries: len(ids)}
	for _, id := range ids {
		switch err := a.contacts.Erase(ctx, id); {
		case err == nil:
			res.Erased++
		case apperr.Is(err, apperr.NotFound):
			res.NotPresent++
		default:
			return fmt.Errorf("erase %s: %w", id, err)
		}
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
