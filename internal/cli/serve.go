package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/web/portal"
)

func serve(ctx context.Context, env Env, args []string) error {
	cfg, _, err := parse(env, "serve", args, func(fs *flag.FlagSet, c *config.Config) { c.ServeFlags(fs) })
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel, env.Stderr)
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "serve"})
	a, err := openApp(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	logger.Info("starting", "config", cfg.String())
	if a.created {
		fmt.Fprintf(env.Stderr, "Tillit created a new root key and keysets in %s; back up root.key apart from the data.\n", cfg.DataDir)
	}
	if secret, err := a.tokens.EnsureAdmin(ctx, "first-start admin"); err != nil {
		return err
	} else if secret != "" {
		fmt.Fprintf(env.Stderr, "\nOne-time admin token (shown only now; store it safely):\n\n    %s\n\n", secret)
	}
	srv := &api.Server{
		Contacts: a.contacts, Consent: a.consent, Policies: a.policies, Tokens: a.tokens, Importer: a.importer,
		Audit: auditLog{a.db}, Logger: logger,
		Controller: consent.Controller{
			Name: cfg.ControllerName, Contact: cfg.ControllerContact, Email: cfg.ControllerEmail, Phone: cfg.ControllerPhone,
			Street: cfg.ControllerStreet, Locality: cfg.ControllerCity, PostalCode: cfg.ControllerPostalCode, Country: cfg.ControllerCountry,
			Jurisdiction: cfg.Jurisdiction, DPOEmail: cfg.DPOEmail, URL: cfg.BaseURL, PolicyURL: strings.TrimSuffix(cfg.BaseURL, "/") + "/p/privacy",
		},
	}
	pages, err := portal.New(a.policies, a.consent, srv.Controller, logger)
	if err != nil {
		return err
	}
	srv.Pages = map[string]http.Handler{"GET /p/privacy": http.HandlerFunc(pages.Privacy)}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
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
