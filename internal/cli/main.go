package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tillit/tillit/internal/config"
)

// Env is what a command sees of its process: arguments, streams and environment. Tests fill it.
type Env struct {
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Ready, when set, is called by serve with the address it listens on (tests use ":0").
	Ready func(addr string)
}

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage")

const usage = `usage: tillit <command> [flags]

commands:
  serve                         serve the API (default 127.0.0.1:8080, data in ./tillit-data)
  token create --role R --name N [--processor ID]
                                 create an API token (roles: admin, dpo, agent, auditor, processor
                                 with --processor); prints only the token
  token list                    list tokens (id, role, name, created, revoked); never their secrets
  token revoke ID               revoke a token at once
  import --format F [--json] FILE...
                                import CSV files (formats: mailchimp, generic); report on stdout
  audit verify                  verify the audit log's hash chain
  retention sweep [--dry-run]    apply the retention policies now (JSON result)
  ledger export [--since TIME]  print the ledger of erasures, suppressions, list unsubscribes,
                                withdrawals, refusals, objections, restrictions and verified
                                requests as JSON lines: ids, times and keyed address hashes
                                (each line about a person carries the hash of their address),
                                no personal data
  ledger replay FILE...         after restoring a backup: re-apply every choice the files hold,
                                by address for people the backup lacks (several: oldest first;
                                checked whole before any is applied)
                                (erasures export / erasures replay: the same commands)
  backup --recipient age1… [--with-keys [--keys-recipient age1…] [--keys-retention 35d]] FILE
                                write a signed backup of the running store, encrypted with age:
                                the data file and the ledger, and with --with-keys the key store
                                and keysets.json in a part of their own (JSON summary on stdout,
                                with the verify key restore needs); never the root key
  restore --identity FILE --verify-key KEY [--ledger FILE]... BACKUP-FILE
                                check a backup whole, restore it into an empty data directory and
                                replay its ledger and the newer ones (--ledger: tillit ledger
                                export files or newer backups) before anything serves it
  keys move-root --to DEST       re-wrap the keysets under a new root key: a pkcs11: URI (a key in
                                a PKCS#11 token, made there if absent; PIN by pin-source) or a
                                new root key file; the old root key is left as it was
  keys encrypt-disk             encrypt the SQLite files of an installation from before disk
                                encryption under the disk key (stop the server first; a copy
                                of each file, swapped in; progress on stderr)
  keys rotate --disk            copy the SQLite files under a new disk key, then drop the old
                                one (stop the server first)
  keys rotate --wrap | --bidx | --root [--batch N] [--to DEST]
                                rotate a key while the server serves (Tink's add, make primary,
                                re-wrap or re-index, disable, delete; --bidx keeps the old key
                                for lookups); progress on stderr, JSON summary on stdout; run it
                                again to continue after an interruption
  migrate-store --from sqlite:DIR --to 'postgres://…?schema=NAME' [--batch N]
                                move the SQLite store to PostgreSQL as stored (stop the server
                                first; progress on stderr, JSON summary on stdout; run it again
                                to continue after an interruption); the keys stay in DIR
  bench SCENARIO [--n N] --json measure speed (scenarios: import, lookup, consent-check, send, export,
                                erase, hostile)

every command takes --data DIR and --database-url URL (or TILLIT_DATA, TILLIT_DATABASE_URL)
and finds the root key by TILLIT_ROOT_KEY (a pkcs11: URI) or TILLIT_ROOT_KEY_FILE
`

// Main runs one command and returns its exit code: 0 success, 1 failure, 2 bad usage.
func Main(ctx context.Context, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	err := run(ctx, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(env.Stderr, "tillit:", err)
		return 2
	default:
		fmt.Fprintln(env.Stderr, "tillit:", err)
		return 1
	}
}

func run(ctx context.Context, env Env) error {
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, args := env.Args[0], env.Args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, env, args)
	case "token":
		switch {
		case len(args) > 0 && args[0] == "create":
			return tokenCreate(ctx, env, args[1:])
		case len(args) > 0 && args[0] == "list":
			return tokenList(ctx, env, args[1:])
		case len(args) > 0 && args[0] == "revoke":
			return tokenRevoke(ctx, env, args[1:])
		}
		return fmt.Errorf("%w: tillit token create --role R --name N | token list | token revoke ID", errUsage)
	case "import":
		return importCmd(ctx, env, args)
	case "audit":
		if len(args) == 0 || args[0] != "verify" {
			return fmt.Errorf("%w: tillit audit verify", errUsage)
		}
		return auditVerify(ctx, env, args[1:])
	case "retention":
		if len(args) == 0 || args[0] != "sweep" {
			return fmt.Errorf("%w: tillit retention sweep [--dry-run]", errUsage)
		}
		return retentionSweep(ctx, env, args[1:])
	case "ledger", "erasures": // erasures: the name from before the ledger carried more than erasures
		switch {
		case len(args) > 0 && args[0] == "export":
			return ledgerExport(ctx, env, cmd+" export", args[1:])
		case len(args) > 0 && args[0] == "replay":
			return ledgerReplay(ctx, env, cmd+" replay", args[1:])
		}
		return fmt.Errorf("%w: tillit %s export [--since TIME] | %s replay LEDGER-FILE", errUsage, cmd, cmd)
	case "keys":
		return keysCmd(ctx, env, args)
	case "backup":
		return backupCmd(ctx, env, args)
	case "restore":
		return restoreCmd(ctx, env, args)
	case "migrate-store":
		return migrateStore(ctx, env, args)
	case "bench":
		return bench(ctx, env, args)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	default:
		fmt.Fprint(env.Stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// parse loads defaults, the environment, then flags; the flag set is built by register.
func parse(env Env, name string, args []string, register func(*flag.FlagSet, *config.Config)) (config.Config, *flag.FlagSet, error) {
	cfg := config.Default()
	if err := cfg.FromEnv(env.Getenv); err != nil {
		return cfg, nil, err
	}
	fs := flag.NewFlagSet("tillit "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	register(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, fs, err
		}
		return cfg, fs, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Finish(); err != nil {
		return cfg, fs, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, fs, nil
}
