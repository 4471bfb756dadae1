package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
)

// serve runs tillit serve: flags → config → open the store → listen → app.New → first admin
// token → background jobs → HTTP until ctx ends → shutdown.
func serve(ctx context.Context, env Env, args []string) error {
	cfg, _, err := parse(env, "serve", args, func(fs *flag.FlagSet, c *config.Config) { c.ServeFlags(fs) })
	if err != nil {
		return err
	}
	if err := checkListen(cfg.Listen); err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel, env.Stderr)
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "serve"})
	db, kr, created, err := openStore(ctx, cfg, opening{create: true, onRepair: logRepairs(logger), logger: logger})
	if err != nil {
		return err
	}
	announce(env, cfg, logger, created)
	if plain := store.PlainFiles(db); len(plain) > 0 {
		// An installation from before disk encryption: its files are converted on request.
		logger.Warn("the SQLite files are not encrypted: stop tillit and run tillit keys encrypt-disk", "files", strings.Join(plain, ","))
	}
	// Listen first: a first start on a taken port must not print (and so spend) the one-time
	// admin token of a server that never ran.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		db.Close()
		return err
	}
	defer ln.Close()
	if cfg.BaseURL == "http://"+cfg.Listen {
		cfg.BaseURL = "http://" + ln.Addr().String() // the default follows the port actually taken
	}
	transport, err := mailTransport(cfg, logger)
	if err != nil {
		db.Close()
		return err
	}
	a, err := newApp(ctx, cfg, db, kr, transport, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if secret, err := a.Tokens.EnsureAdmin(ctx, "first-start admin"); err != nil {
		return err
	} else if secret != "" {
		fmt.Fprintf(env.Stderr, "\nOne-time admin token (shown only now; store it safely):\n\n    %s\n\n", secret)
	}
	stop, err := a.Start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	return serveHTTP(ctx, env, ln, a.HTTP.Handler(), logger)
}

// announce logs the settings and warns of what the operator must act on: new keys to back up,
// and a root key kept where a copy of the data directory would take it along.
func announce(env Env, cfg config.Config, logger *slog.Logger, created bool) {
	logger.Info("starting", "config", cfg.String())
	if created {
		fmt.Fprintf(env.Stderr, "Tillit created a new root key and keysets in %s; back up root.key apart from the data.\n", cfg.DataDir)
	}
	if inside(cfg.RootKeyFile, cfg.DataDir) {
		// A copy of the data directory (a backup, a snapshot) would decrypt on its own.
		fmt.Fprintf(env.Stderr, "warning: the root key %s is inside the data directory, so a copy of the directory decrypts it; move it elsewhere and set TILLIT_ROOT_KEY_FILE\n", cfg.RootKeyFile)
	}
}

// serveHTTP serves h on ln until ctx ends, then shuts down, giving requests in flight 15 s.
func serveHTTP(ctx context.Context, env Env, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	// Headers must arrive within 10 s; bodies are paced by the handler (api.Server.BodyTimeout,
	// BodyMinRate): a fixed ReadTimeout would cut off a large import on a slow link.
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Every request starts as a public visitor holding no permission (token.Permits); the
		// API's token check and the console's sign-in put the staff actor in its place.
		BaseContext: func(net.Listener) context.Context {
			return audit.WithActor(context.WithoutCancel(ctx), audit.Actor{Kind: audit.ActorPublic})
		},
	}
	logger.Info("listening", "addr", ln.Addr().String())
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// mailTransport picks the mail transport from the settings (app.Transport); a partial DKIM
// setting is a usage error. With SMTP it warns of what a mailbox provider or a court would find
// missing: HTTPS unsubscribe links (RFC 8058 §3.1) and the sender's postal address.
func mailTransport(cfg config.Config, logger *slog.Logger) (mail.Transport, error) {
	t, err := app.Transport(cfg)
	if errors.Is(err, app.ErrDKIMIncomplete) {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err != nil || cfg.SMTPURL == "" {
		return t, err
	}
	if !strings.HasPrefix(cfg.BaseURL, "https://") {
		logger.Warn("unsubscribe links are not HTTPS (RFC 8058 §3.1 requires it): set TILLIT_BASE_URL to the public https:// address")
	}
	if cfg.ControllerStreet == "" || cfg.ControllerCity == "" {
		logger.Warn("marketing mail carries no postal address: set TILLIT_CONTROLLER_NAME, _STREET, _POSTAL_CODE, _CITY and _COUNTRY")
	}
	return t, nil
}

// inside reports whether path lies in (or under) dir, after making both absolute and clean.
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	// Through symbolic links too: a data directory that links to the key's folder, or a key
	// file that links into the data directory, is still one copy away from decrypting.
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	if r, err := filepath.EvalSymlinks(d); err == nil {
		d = r
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// checkListen refuses, as bad usage, a listen address that cannot be right: found before a
// first start makes keys.
func checkListen(listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %v", errUsage, listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: --listen %q: the port must be a number from 0 to 65535", errUsage, listen)
	}
	return nil
}

// logRepairs returns a store.Config.OnRepair that logs the repair the start made after a crash
// between the two files' commits, and every later one (another process that died mid-commit).
// Counts only, no personal data.
func logRepairs(logger *slog.Logger) func(store.Repair, bool) {
	return func(r store.Repair, atOpen bool) {
		if atOpen {
			logger.Warn("repaired the store after a crash between the data file's and the key store's commits", "repair", r.String())
			return
		}
		logger.Warn("repaired the store after another process died between the data file's and the key store's commits", "repair", r.String())
	}
}
