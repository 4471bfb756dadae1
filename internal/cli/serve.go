package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/web/console"
	"github.com/tillit/tillit/internal/web/portal"
	"github.com/tillit/tillit/internal/webhook"
)

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
	a, err := openAppWith(ctx, cfg, true, logRepairs(logger))
	if err != nil {
		return err
	}
	defer a.Close()
	logger.Info("starting", "config", cfg.String())
	if a.created {
		fmt.Fprintf(env.Stderr, "Tillit created a new root key and keysets in %s; back up root.key apart from the data.\n", cfg.DataDir)
	}
	if inside(cfg.RootKeyFile, cfg.DataDir) {
		// A copy of the data directory (a backup, a snapshot) would decrypt on its own.
		fmt.Fprintf(env.Stderr, "warning: the root key %s is inside the data directory, so a copy of the directory decrypts it; move it elsewhere and set TILLIT_ROOT_KEY_FILE\n", cfg.RootKeyFile)
	}
	// Listen first: a first start on a taken port must not print (and so spend) the one-time
	// admin token of a server that never ran.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if secret, err := a.tokens.EnsureAdmin(ctx, "first-start admin"); err != nil {
		return err
	} else if secret != "" {
		fmt.Fprintf(env.Stderr, "\nOne-time admin token (shown only now; store it safely):\n\n    %s\n\n", secret)
	}
	if cfg.BaseURL == "http://"+cfg.Listen {
		cfg.BaseURL = "http://" + ln.Addr().String() // the default follows the port actually taken
	}
	srv := &api.Server{
		Contacts: a.contacts, Consent: a.consent, Policies: a.policies, Tokens: a.tokens, Importer: a.importer,
		Audit: auditLog{a.st}, Logger: logger, BodyTimeout: cfg.BodyTimeout,
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

	// Mail: SMTP when TILLIT_SMTP_URL is set, else .eml files under the data directory.
	var transport mail.Transport
	sessions := 1 // files: one writer
	var dkim *gomail.DKIMSigner
	if cfg.DKIMDomain != "" || cfg.DKIMSelector != "" || cfg.DKIMKeyFile != "" {
		pemKey, err := os.ReadFile(cfg.DKIMKeyFile)
		if err != nil || cfg.DKIMDomain == "" || cfg.DKIMSelector == "" {
			return fmt.Errorf("%w: DKIM needs TILLIT_DKIM_DOMAIN, TILLIT_DKIM_SELECTOR and a readable TILLIT_DKIM_KEY_FILE", errUsage)
		}
		if dkim, err = mail.NewDKIMSigner(cfg.DKIMDomain, cfg.DKIMSelector, pemKey); err != nil {
			return err
		}
	}
	files := mail.FileTransport{Dir: filepath.Join(cfg.DataDir, "mail"), From: cfg.MailFromAddress(), Domain: cfg.MailDomain(), DKIM: dkim}
	if cfg.SMTPURL != "" {
		t, err := mail.NewSMTPTransport(cfg.SMTPURL, cfg.MailFromAddress(), cfg.MailDomain())
		if err != nil {
			return err
		}
		t.DKIM = dkim
		transport, sessions = t, t.Sessions
		// Real mail goes out: say what a mailbox provider or a court would find missing.
		if !strings.HasPrefix(cfg.BaseURL, "https://") {
			logger.Warn("unsubscribe links are not HTTPS (RFC 8058 §3.1 requires it): set TILLIT_BASE_URL to the public https:// address")
		}
		if cfg.ControllerStreet == "" || cfg.ControllerCity == "" {
			logger.Warn("marketing mail carries no postal address: set TILLIT_CONTROLLER_NAME, _STREET, _POSTAL_CODE, _CITY and _COUNTRY")
		}
	} else {
		transport = files
	}
	a.contacts.AfterErase = func(ctx context.Context, id string) error { return files.RemoveContact(id) }
	if err := sweepMailFiles(ctx, a, files, logger); err != nil {
		return err
	}
	outbox := &mail.Outbox{Store: store.Mail(a.st), Keys: a.keys, Transport: transport, Gate: a.consent, Now: time.Now, Logger: logger,
		Footer: noticeFooter(cfg), AfterForget: files.RemoveRequest, AfterErase: files.RemoveContact, Sessions: sessions}
	wake := make(chan struct{}, 1)
	proxies, _ := cfg.Proxies() // checked by Finish
	doi := &portal.Optin{Pages: pages, TrustedProxies: proxies, Limit: &portal.Limiter{Max: portal.SubscribesPerHour}, Service: &optin.Service{
		Store: store.Optin(a.st), Contacts: a.contacts, Consent: a.consent, Outbox: outbox,
		Now: time.Now, NewID: newID, BaseURL: cfg.BaseURL, Wake: wake, AnswerAfter: optin.DefaultAnswerAfter,
	}}
	unsub := &portal.Unsubscribe{Pages: pages, IP: doi.ClientIP, Service: &optin.Unsubscribe{
		Store: store.Unsubscribes(a.st), Consent: a.consent, Now: time.Now, BaseURL: cfg.BaseURL,
	}}
	prefs := &portal.Preferences{Pages: pages, IP: doi.ClientIP, Service: doi.Service}
	srv.Campaigns = &campaign.Service{
		Store: store.Campaigns(a.st), Contacts: a.contacts, Consent: a.consent, Outbox: outbox, Unsub: unsub.Service,
		Now: time.Now, NewID: newID, Wake: wake, Mailto: cfg.UnsubscribeMailto, Optin: doi.Service, Walks: make(chan struct{}, 1), Logger: logger,
		Postal: strings.Join(nonEmpty(cfg.ControllerName, cfg.ControllerStreet, strings.TrimSpace(cfg.ControllerPostalCode+" "+cfg.ControllerCity), cfg.ControllerCountry), ", "),
	}
	srv.Requests = &dsr.Service{
		Store: store.Requests(a.st), Contacts: a.contacts, Consent: a.consent, Keys: a.keys, Outbox: outbox,
		Now: time.Now, NewID: newID, BaseURL: cfg.BaseURL, Wake: wake, Controller: cfg.ControllerName, DPOEmail: cfg.DPOEmail,
	}
	srv.Share = a.share()
	srv.Retention = a.retention()
	pages.Retention = srv.Retention.Policies
	pages.Recipients = func(ctx context.Context) ([]string, error) {
		ps, err := srv.Share.List(ctx)
		var out []string
		for _, p := range ps {
			if p.EndedAt != nil {
				continue
			}
			line := fmt.Sprintf("%s (%s, %s)", p.Name, strings.ReplaceAll(string(p.Role), "_", "-"), p.Country)
			if !share.InEEA(p.Country) {
				mechanisms := map[string]string{"adequacy": "under an adequacy decision (GDPR Art. 45)", "scc": "under standard contractual clauses (GDPR Art. 46(2)(c))",
					"bcr": "under binding corporate rules (GDPR Art. 47)", "none": "no data is sent to it without a transfer mechanism"}
				line += ", outside the EEA: " + mechanisms[p.TransferMechanism]
			}
			out = append(out, line+": "+strings.Join(p.Purposes, ", "))
		}
		return out, err
	}
	srv.DPAs = &governance.DPAs{Store: store.DPAs(a.st), Policies: a.policies, Share: srv.Share, Controller: srv.Controller, Now: time.Now, NewID: newID}
	srv.Breaches = &governance.Breaches{Store: store.Breaches(a.st), Now: time.Now, NewID: newID, Controller: srv.Controller, Policies: a.policies}
	srv.Webhooks = &share.Webhooks{Store: store.Webhooks(a.st), Keys: a.keys, Sender: webhook.New(), Now: time.Now, NewID: newID, BaseURL: cfg.BaseURL, Logger: logger}
	srv.Ready = (&readiness{db: a.st}).check
	srv.Requests.AfterForget = files.RemoveRequest
	a.contacts.Erasing = srv.Requests.ErasingIn
	a.contacts.AddressChanged = srv.Requests.AddressChangedIn
	a.contacts.EmailChanged = doi.Service.ReconfirmIn
	requests := &portal.Requests{Pages: pages, Service: srv.Requests, IP: doi.ClientIP, Limit: &portal.Limiter{Max: portal.RequestsPerHour}}
	dpaPages := &portal.DPA{Pages: pages, Service: srv.DPAs, IP: doi.ClientIP, Limit: &portal.Limiter{Max: portal.DPAPerHour}}
	srv.Reports = &mail.Reports{Store: store.Reports(a.st), Keys: a.keys, Now: time.Now, NewID: newID, Domain: cfg.MailDomain()}
	cop := http.NewCrossOriginProtection()
	srv.Pages = map[string]http.Handler{
		"GET /p/privacy":                    http.HandlerFunc(pages.Privacy),
		"GET /p/subscribe":                  http.HandlerFunc(doi.SubscribeForm),
		"POST /p/subscribe":                 http.HandlerFunc(doi.Subscribe), // embeddable: other sites may post to it
		"GET /p/confirm/{token}":            http.HandlerFunc(doi.ConfirmPage),
		"POST /p/confirm/{token}":           cop.Handler(http.HandlerFunc(doi.Confirm)),
		"GET /u/{token}":                    http.HandlerFunc(unsub.Page),
		"POST /u/{token}":                   http.HandlerFunc(unsub.OneClick), // mail providers post cross-site (RFC 8058)
		"GET /p/dpa":                        http.HandlerFunc(dpaPages.Form),
		"POST /p/dpa":                       cop.Handler(http.HandlerFunc(dpaPages.Request)),
		"GET /p/dpa/{id}":                   http.HandlerFunc(dpaPages.Document),
		"GET /p/requests":                   http.HandlerFunc(requests.Form),
		"POST /p/requests":                  cop.Handler(http.HandlerFunc(requests.Submit)),
		"GET /p/requests/verify/{token}":    http.HandlerFunc(requests.VerifyPage),
		"POST /p/requests/verify/{token}":   cop.Handler(http.HandlerFunc(requests.Verify)),
		"GET /p/requests/download/{token}":  http.HandlerFunc(requests.DownloadPage),
		"POST /p/requests/download/{token}": cop.Handler(http.HandlerFunc(requests.Download)),
		"GET /p/preferences/{token}":        http.HandlerFunc(prefs.Page),
		"POST /p/preferences/{token}":       cop.Handler(http.HandlerFunc(prefs.Change)),
	}
	staff, err := console.New(a.tokens, srv.Requests, logger, strings.HasPrefix(cfg.BaseURL, "https://"))
	if err != nil {
		return err
	}
	staff.Notifications = srv.Webhooks
	staff.ROPA = func(ctx context.Context) (governance.ROPA, error) {
		purposes, err := a.consent.Purposes(ctx)
		if err != nil {
			return governance.ROPA{}, err
		}
		processors, err := srv.Share.List(ctx)
		if err != nil {
			return governance.ROPA{}, err
		}
		policies, err := srv.Retention.Policies(ctx)
		if err != nil {
			return governance.ROPA{}, err
		}
		return governance.Build(srv.Controller, purposes, processors, policies, time.Now()), nil
	}
	for pattern, h := range staff.Routes(cop.Handler) {
		srv.Pages[pattern] = h
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	jobs.Add(4)
	go func() { // owned by serve: walks the audiences of campaigns being sent, resuming after a restart
		defer jobs.Done()
		srv.Campaigns.Run(runCtx, 10*time.Second)
	}()
	go func() { // owned by serve: processors hear of consent changes, rectifications, restrictions and erasures
		defer jobs.Done()
		srv.Webhooks.Run(runCtx, 2*time.Second)
	}()
	go func() { // owned by serve: stopped and waited for below
		defer jobs.Done()
		outbox.Run(runCtx, 10*time.Second, wake)
	}()
	sweep := func(ctx context.Context) {
		sweepExpired(ctx, a, logger)
		if n, err := srv.Requests.SweepExports(ctx); err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, "export sweep", slog.Any("error", err))
		} else if n > 0 {
			logger.InfoContext(ctx, "expired download links deleted", slog.Int("count", n))
		}
		if res, err := srv.Retention.Sweep(ctx, false); err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, "retention sweep", slog.Any("error", err))
		} else if res.Erased > 0 {
			logger.InfoContext(ctx, "retention sweep erased contacts", slog.Int("count", res.Erased))
		}
		if n, err := srv.Requests.SweepUnverified(ctx); err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, "unverified request sweep", slog.Any("error", err))
		} else if n > 0 {
			logger.InfoContext(ctx, "unverified requests closed", slog.Int("count", n))
		}
	}
	sweep(runCtx) // the first sweep finishes before the server answers
	go func() {   // owned by serve: writes time-based expiry to the ledger and change stream
		defer jobs.Done()
		expirySweeps(runCtx, time.Hour, sweep)
	}()
	defer func() {
		stopRun()
		jobs.Wait()
	}()
	// Headers must arrive within 10 s; bodies are paced by the handler (api.Server.BodyTimeout,
	// BodyMinRate): a fixed ReadTimeout would cut off a large import on a slow link.
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

// expirySweeps runs sweep (lapsed consent, expired download links) every interval until ctx ends.
func expirySweeps(ctx context.Context, interval time.Duration, sweep func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep(ctx)
		}
	}
}

// sweepExpired expires every lapsed consent, in batches.
func sweepExpired(ctx context.Context, a *app, logger *slog.Logger) {
	for {
		n, err := a.consent.SweepExpired(ctx, 1000)
		if err != nil {
			if ctx.Err() == nil {
				logger.ErrorContext(ctx, "expiry sweep", slog.Any("error", err))
			}
			return
		}
		if n == 0 {
			return
		}
		logger.InfoContext(ctx, "consents expired", slog.Int("count", n))
	}
}

// noticeFooter names the controller and its data protection officer under every transactional
// message, from the settings ("" when no controller name is set).
func noticeFooter(cfg config.Config) string {
	if cfg.ControllerName == "" {
		return ""
	}
	lines := []string{strings.Join(nonEmpty(cfg.ControllerName, cfg.ControllerStreet, strings.TrimSpace(cfg.ControllerPostalCode+" "+cfg.ControllerCity), cfg.ControllerCountry), ", ")}
	if cfg.DPOEmail != "" {
		lines = append(lines, "Data protection officer: "+cfg.DPOEmail)
	} else if cfg.ControllerEmail != "" {
		lines = append(lines, "Privacy questions: "+cfg.ControllerEmail)
	}
	if cfg.BaseURL != "" {
		lines = append(lines, "Privacy notice: "+strings.TrimSuffix(cfg.BaseURL, "/")+"/p/privacy")
	}
	return strings.Join(lines, "\n")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
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

// sweepMailFiles removes the mail files of people erased (or requests forgotten) just before a
// crash, and half-written ones, before anything is sent.
func sweepMailFiles(ctx context.Context, a *app, files mail.FileTransport, logger *slog.Logger) error {
	n, err := files.Sweep(func(contactID, requestID string) (bool, error) {
		return a.st.MailOwnerLive(ctx, contactID, requestID)
	})
	if n > 0 {
		logger.Warn("removed mail files left by a crash whose owner was erased or forgotten", "files", n)
	}
	return err
}

// readiness answers /readyz from the store's check at most once a second, so a flood of probes
// does not queue for the write lock.
type readiness struct {
	db   store.Store
	mu   sync.Mutex
	at   time.Time
	last store.Readiness
}

func (r *readiness) check(ctx context.Context) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.at) >= time.Second {
		// Not the probe's own context: a prober that hangs up must not make the next ones fail.
		r.last, r.at = r.db.Ready(context.WithoutCancel(ctx), 2*time.Second), time.Now()
	}
	return r.last.Ready, r.last.Reason
}
