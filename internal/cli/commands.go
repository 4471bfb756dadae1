package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/token"
)

func tokenCreate(ctx context.Context, env Env, args []string) error {
	var role, name, processor string
	cfg, fs, err := parse(env, "token create", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.StringVar(&role, "role", "", "role: admin, dpo, agent, auditor or processor")
		fs.StringVar(&processor, "processor", "", "for --role processor: the registered processor's id")
		fs.StringVar(&name, "name", "", "a name for the token (what uses it, not a person's name)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit token create)", errUsage, fs.Arg(0))
	}
	if role == "" || name == "" {
		return fmt.Errorf("%w: tillit token create --role R --name N", errUsage)
	}
	if !slices.Contains(token.Roles, token.Role(role)) {
		return fmt.Errorf("%w: --role must be admin, dpo, agent, auditor or processor", errUsage)
	}
	if role == string(token.RoleProcessor) && processor == "" {
		return fmt.Errorf("%w: --role processor needs --processor ID, the registered processor the token speaks for", errUsage)
	}
	if role != string(token.RoleProcessor) && processor != "" {
		return fmt.Errorf("%w: --processor is only for --role processor", errUsage)
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "token-create"})
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	if processor != "" {
		p, err := a.Share.Get(ctx, processor)
		if err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return fmt.Errorf("%w: --processor %s is not registered (POST /api/v1/processors)", errUsage, processor)
			}
			return err
		}
		if p.EndedAt != nil {
			return fmt.Errorf("%w: --processor %s: the engagement ended on %s; it gets no new token", errUsage, processor, p.EndedAt.Format("2006-01-02"))
		}
	}
	_, secret, err := a.Tokens.CreateFor(ctx, token.Role(role), name, processor)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, secret)
	return nil
}

func importCmd(ctx context.Context, env Env, args []string) error {
	o := map[string]string{}
	var asJSON bool
	cfg, fs, err := parse(env, "import", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		for _, f := range []struct{ name, help string }{
			{"format", "file format: mailchimp or generic (required)"},
			{"status", "status of every row: subscribed, unsubscribed, cleaned or pending (mailchimp: detected per file)"},
			{"mapping", "generic: field=Column pairs, such as email=E-Mail,first_name=Vorname"},
			{"purpose", "purpose the rows are about: subscribed rows consent to it, unsubscribed rows leave it (default newsletter)"},
			{"kind", "kind of created records: contact (default) or lead"},
			{"delimiter", "',', ';' or tab (default: detect)"},
			{"encoding", "utf-8 or windows-1252 (default: detect)"},
		} {
			fs.Func(f.name, f.help, func(v string) error { o[f.name] = v; return nil })
		}
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	})
	if err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		//lint:ignore ST1005 a usage synopsis: "FILE..." means one or more files, as in the usage text
		return fmt.Errorf("%w: tillit import --format F FILE...", errUsage)
	}
	if _, err := api.ImportOptions(o); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "import"})
	a, err := openApp(ctx, env, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	reports := []importer.Report{}
	type failure struct {
		File  string `json:"file"`
		Error string `json:"error"`
	}
	failures := []failure{}
	failed := false
	for _, path := range files {
		o["name"] = filepath.Base(path)
		opt, _ := api.ImportOptions(o)
		opt.Progress = func(rows int) {
			if rows%10000 < 500 && rows >= 10000 {
				fmt.Fprintf(env.Stderr, "%s: %d rows\n", opt.Name, rows)
			}
		}
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", opt.Name, err)
			failures = append(failures, failure{File: opt.Name, Error: "cannot open the file"})
			failed = true
			continue
		}
		rep, err := a.Importer.Import(ctx, f, opt)
		f.Close()
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", opt.Name, err)
			msg := "the import failed; see stderr"
			if e := apperr.As(err); e != nil && e.Kind != apperr.Internal {
				msg = e.Message
			}
			failures = append(failures, failure{File: opt.Name, Error: msg})
			failed = true
			if rep.Stopped == "" {
				continue // nothing was imported from this file
			}
		} else {
			fmt.Fprintf(env.Stderr, "%s: done, %d rows\n", opt.Name, rep.Rows)
		}
		reports = append(reports, rep)
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"reports": reports, "failures": failures}); err != nil {
			return err
		}
	} else {
		for _, rep := range reports {
			fmt.Fprint(env.Stdout, rep.String())
		}
	}
	if failed {
		return fmt.Errorf("some files were not imported")
	}
	return nil
}

func auditVerify(ctx context.Context, env Env, args []string) error {
	var asJSON bool
	cfg, fs, err := parse(env, "audit verify", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit audit verify)", errUsage, fs.Arg(0))
	}
	a, err := openAppWith(ctx, env, cfg, opening{investigate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.Store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		json.NewEncoder(env.Stdout).Encode(v)
	} else {
		fmt.Fprintln(env.Stdout, v.String())
	}
	if !v.OK {
		return fmt.Errorf("audit log broken at event %d", v.FirstBroken)
	}
	return nil
}

func tokenList(ctx context.Context, env Env, args []string) error {
	cfg, fs, err := parse(env, "token list", args, func(fs *flag.FlagSet, c *config.Config) { c.Flags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit token list)", errUsage, fs.Arg(0))
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	ts, err := a.Tokens.List(audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "token-list"}))
	if err != nil {
		return err
	}
	for _, t := range ts {
		revoked := "-"
		if t.RevokedAt != nil {
			revoked = t.RevokedAt.Format(time.RFC3339)
		}
		role := string(t.Role)
		if t.ProcessorID != "" {
			role += ":" + t.ProcessorID // the processor it speaks for
		}
		fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\t%s\n", t.ID, role, t.CreatedAt.Format(time.RFC3339), revoked, t.Name)
	}
	return nil
}

func tokenRevoke(ctx context.Context, env Env, args []string) error {
	cfg, fs, err := parse(env, "token revoke", args, func(fs *flag.FlagSet, c *config.Config) { c.Flags(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: tillit token revoke ID", errUsage)
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Tokens.Revoke(audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "token-revoke"}), fs.Arg(0))
}

// retentionSweep runs `tillit retention sweep [--dry-run]`: every retention policy applied now,
// the result printed as JSON. Erasure is the app's one path, as in tillit serve (mail files, the
// person's requests).
func retentionSweep(ctx context.Context, env Env, args []string) error {
	var dryRun bool
	cfg, fs, err := parse(env, "retention sweep", args, func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.BoolVar(&dryRun, "dry-run", false, "list who would be erased, erase nothing")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (tillit retention sweep [--dry-run])", errUsage, fs.Arg(0))
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Retention.Sweep(ctx, dryRun)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
