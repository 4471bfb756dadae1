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
	if err := checkListen("--listen", cfg.Listen); err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		if err := checkListen("--metrics-listen", cfg.MetricsListen); err != nil {
			return err
		}
	}
	logger := newLogger(cfg, env.Stderr)
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
	var sites []site
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			db.Close()
			return fmt.Errorf("--metrics-listen (TILLIT_METRICS_LISTEN) %q: %w", cfg.MetricsListen, err)
		}
		defer mln.Close()
		sites = append(sites, site{ln: mln, name: "metrics"})
	}
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
	for i := range sites {
		sites[i].h = a.Metrics.Handler()
	}
	return serveHTTP(ctx, env, ln, a.HTTP.Handler(), logger, sites...)
}

// announce logs the settings and warns of what the operator must act on: new keys to back up,
// and a root key kept where a copy of the data directory would take it along.
func announce(env Env, cfg config.Config, logger *slog.Logger, created bool) {
	logger.Info("starting", "config", cfg.String())
	switch {
	case created && cfg.RootKey != "":
		fmt.Fprintf(env.Stderr, "Tillit created new keysets in %s, wrapped by the root key in the PKCS#11 token (%s); back up keysets.json, and the token as its maker says: without that key the data is lost.\n", cfg.DataDir, config.RedactKeyURI(cfg.RootKey))
	case created:
		// The root key may have been made now or given beforehand (a file the operator placed).
		fmt.Fprintf(env.Stderr, "Tillit created new keysets in %s, wrapped by the root key file %s; back up %s apart from the data: without it the data is lost.\n", cfg.DataDir, cfg.RootKeyFile, cfg.RootKeyFile)
	}
	if cfg.RootKeyFile != "" && inside(cfg.RootKeyFile, cfg.DataDir) {
		// A copy of the data directory (a backup, a snapshot) would decrypt on its own.
		fmt.Fprintf(env.Stderr, "warning: the root key %s is inside the data directory, so a copy of the directory decrypts it; move it elsewhere and set TILLIT_ROOT_KEY_FILE\n", cfg.RootKeyFile)
	}
}

// site is a listener besides the API's and what it serves: the metrics (TILLIT_METRICS_LISTEN).
type site struct {
	ln   net.Listener
	h    http.Handler
	name string // for the log: "metrics"
}

// serveHTTP serves h on ln, and each of more on its own listener, until ctx ends or one of them
// fails, then shuts all down, giving requests in flight 15 s. The other sites are announced
// before ln (env.Ready is told of ln last: a caller that waits for it finds every address in the
// log). Only the API's listener is public: a metrics site (GET /metrics, no authentication) is
// warned about when it is not on a loopback address.
func serveHTTP(ctx context.Context, env Env, ln net.Listener, h http.Handler, logger *slog.Logger, more ...site) error {
	sites := append(append([]site{}, more...), site{ln: ln, h: h})
	servers := make([]*http.Server, len(sites))
	for i, s := range sites {
		// Headers must arrive within 10 s; bodies are paced by the handler (api.Server.BodyTimeout,
		// BodyMinRate): a fixed ReadTimeout would cut off a large import on a slow link.
		servers[i] = &http.Server{
			Handler:           s.h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// Every request starts as a public visitor holding no permission (token.Permits); the
			// API's token check and the console's sign-in put the staff actor in its place.
			BaseContext: func(net.Listener) context.Context {
				return audit.WithActor(context.WithoutCancel(ctx), audit.Actor{Kind: audit.ActorPublic})
			},
		}
		if s.name == "" {
			continue
		}
		addr := s.ln.Addr().String()
		logger.Info(s.name+" listening", "addr", addr)
		if host, _, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				logger.Warn(s.name+" are served without authentication on a non-loopback address: allow only the scraper to reach it", "addr", addr)
			}
		}
	}
	logger.Info("listening", "addr", ln.Addr().String())
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(sites[i].ln) }() // each waited for below
	}
	var first error
	running := len(servers)
	select {
	case first = <-errc: // a listener failed: stop the others
		running--
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && first == nil {
			first = err
		}
	}
	for ; running > 0; running-- {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
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
// first start makes keys. flag names the setting in the error ("--listen").
func checkListen(flag, listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v", errUsage, flag, listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: %s %q: the port must be a number from 0 to 65535", errUsage, flag, listen)
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
