package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/metrics"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/token"
	"github.com/tillit/tillit/internal/web/console"
	"github.com/tillit/tillit/internal/web/portal"
	"github.com/tillit/tillit/internal/webhook"
)

// Config is what New needs besides the store and the keyring.
type Config struct {
	// Settings are the installation's settings (config.Default, the environment and flags,
	// after Finish). DataDir must be set: mail files live under it (MailDir).
	Settings config.Config
	// Transport hands mail over: SMTP, or .eml files under MailDir (Files). Required.
	Transport mail.Transport
	// Logger receives the services' logs (typed ids, never personal data). Required.
	Logger *slog.Logger
	// Now is the one clock of every service (default: the system clock in UTC).
	Now func() time.Time
	// NewID returns a new id (default: a UUIDv7, time-ordered, so ids sort by creation for
	// cursor paging).
	NewID func() string
}

// App is one wired Tillit: a store, a keyring and every service on them. Fields are set by New
// and never changed after.
type App struct {
	Settings config.Config
	Store    store.Store
	Keys     *keys.Keyring
	Logger   *slog.Logger
	// Metrics counts what the services do and reads the store's state for GET /metrics
	// (Metrics.Handler; tillit serve serves it on TILLIT_METRICS_LISTEN).
	Metrics *metrics.Metrics
	// Controller identifies the data controller (receipts, DPAs, breach notices, ROPA), from
	// the settings.
	Controller consent.Controller

	Contacts    *contact.Service
	Consent     *consent.Service
	Policies    *consent.Policies
	Tokens      *token.Service
	Importer    *importer.Importer
	Outbox      *mail.Outbox
	Optin       *optin.Service
	Unsubscribe *optin.Unsubscribe
	Campaigns   *campaign.Service
	Requests    *dsr.Service
	Share       *share.Service
	Webhooks    *share.Webhooks
	Retention   *governance.Retention
	DPAs        *governance.DPAs
	Breaches    *governance.Breaches
	Reports     *mail.Reports
	Ledger      *ledger.Replayer
	// HTTP is the API server with the portal's and the console's pages (HTTP.Handler()).
	HTTP *api.Server
	// Portal renders the public privacy portal's pages; Console is the staff console. Both
	// serve through HTTP.
	Portal  *portal.Server
	Console *console.Server

	now   func() time.Time
	files mail.FileTransport // the mail files erasure and request forgetting remove
	wake  chan struct{}      // tells the outbox that mail is queued

	closeOnce sync.Once
	closeErr  error
}

// New builds every service on db and kr, once and completely, and makes sure the default
// purpose exists. It fails, naming what is missing, when db, kr, cfg.Transport, cfg.Logger or
// cfg.Settings.DataDir is missing. On success the App owns db (Close closes it); on error db is
// left open for the caller to close.
func New(ctx context.Context, cfg Config, db store.Store, kr *keys.Keyring) (*App, error) {
	if err := cfg.check(db, kr); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	a := &App{Settings: cfg.Settings, Store: db, Keys: kr, Logger: cfg.Logger, now: cfg.Now,
		files: Files(cfg.Settings), wake: make(chan struct{}, 1), Controller: controller(cfg.Settings)}
	a.Metrics = metrics.New(gauges{db}, cfg.Now, cfg.Logger)
	a.core(cfg)
	a.mailing(cfg)
	a.requests(cfg)
	a.governance(cfg)
	a.hooks()
	if err := a.web(cfg.Settings); err != nil {
		return nil, err
	}
	if err := a.Consent.EnsureDefaultPurpose(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// check names every missing part of New's input.
func (c Config) check(db store.Store, kr *keys.Keyring) error {
	var missing []string
	if db == nil {
		missing = append(missing, "the store")
	}
	if kr == nil {
		missing = append(missing, "the keyring")
	}
	if c.Transport == nil {
		missing = append(missing, "Config.Transport")
	}
	if c.Logger == nil {
		missing = append(missing, "Config.Logger")
	}
	if c.Settings.DataDir == "" {
		missing = append(missing, "Config.Settings.DataDir")
	}
	if len(missing) > 0 {
		return fmt.Errorf("app: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// core builds the services every command uses: contacts, consent, policies, tokens, importer.
func (a *App) core(cfg Config) {
	db, kr, now, id := a.Store, a.Keys, cfg.Now, cfg.NewID
	a.Contacts = &contact.Service{Store: store.Contacts(db), Keys: kr, Now: now, NewID: id, DefaultRegion: cfg.Settings.DefaultRegion}
	a.Consent = &consent.Service{Store: store.Consent(db), Keys: kr, Now: now, NewID: id, Cache: &consent.GateCache{}, Gen: db,
		Decided: a.Metrics.Decision}
	a.Policies = &consent.Policies{Store: store.Policies(db), Now: now, NewID: id, Check: governance.CheckTemplate}
	a.Tokens = &token.Service{Store: store.Tokens(db), Now: now, NewID: id, Gen: db}
	a.Importer = &importer.Importer{Store: store.Importer(db), Contacts: a.Contacts, Consent: a.Consent, Keys: kr, Now: now, NewID: id,
		Counted: a.Metrics.ImportRows}
}

// mailing builds the outbox, double opt-in, unsubscribe, campaigns and mail reports.
func (a *App) mailing(cfg Config) {
	db, kr, now, id, s := a.Store, a.Keys, cfg.Now, cfg.NewID, cfg.Settings
	sessions := 1 // files: one writer
	if t, ok := cfg.Transport.(*mail.SMTPTransport); ok {
		sessions = t.Sessions
	}
	a.Outbox = &mail.Outbox{Store: store.Mail(db), Keys: kr, Transport: cfg.Transport, Gate: a.Consent, Now: now, Logger: a.Logger,
		Footer: NoticeFooter(s), AfterForget: a.files.RemoveRequest, AfterErase: a.files.RemoveContact, Sessions: sessions, Lease: s.JobLease,
		Recorded: a.Metrics.Sent}
	a.Optin = &optin.Service{Store: store.Optin(db), Contacts: a.Contacts, Consent: a.Consent, Outbox: a.Outbox,
		Keys: kr, Now: now, NewID: id, BaseURL: s.BaseURL, Wake: a.wake, AnswerAfter: optin.DefaultAnswerAfter, Sleep: a.sleepUntil}
	a.Unsubscribe = &optin.Unsubscribe{Store: store.Unsubscribes(db), Consent: a.Consent, Keys: kr, Now: now, BaseURL: s.BaseURL}
	a.Campaigns = &campaign.Service{Store: store.Campaigns(db), Contacts: a.Contacts, Consent: a.Consent, Outbox: a.Outbox, Unsub: a.Unsubscribe,
		Now: now, NewID: id, Wake: a.wake, Mailto: s.UnsubscribeMailto, Optin: a.Optin, Walks: make(chan struct{}, 1), Logger: a.Logger,
		Postal: Postal(s)}
	a.Reports = &mail.Reports{Store: store.Reports(db), Keys: kr, Now: now, NewID: id, Domain: s.MailDomain()}
}

// requests builds the data subject request service and the ledger replayer.
func (a *App) requests(cfg Config) {
	s := cfg.Settings
	a.Requests = &dsr.Service{Store: store.Requests(a.Store), Contacts: a.Contacts, Consent: a.Consent, Keys: a.Keys, Outbox: a.Outbox,
		Now: cfg.Now, NewID: cfg.NewID, BaseURL: s.BaseURL, Wake: a.wake, Controller: s.ControllerName, DPOEmail: s.DPOEmail,
		AfterForget: a.files.RemoveRequest}
	a.Ledger = &ledger.Replayer{Contacts: a.Contacts, Consent: a.Consent, Requests: ledgerRequests{a.Requests}, Store: store.Ledger(a.Store),
		Now: cfg.Now, NewID: cfg.NewID}
}

// governance builds sharing, webhooks, retention, DPAs and breaches.
func (a *App) governance(cfg Config) {
	db, kr, now, id := a.Store, a.Keys, cfg.Now, cfg.NewID
	a.Share = &share.Service{Store: store.Share(db), Contacts: a.Contacts, Keys: kr, Now: now, NewID: id}
	a.Webhooks = &share.Webhooks{Store: store.Webhooks(db), Keys: kr, Sender: webhook.New(), Now: now, NewID: id, BaseURL: cfg.Settings.BaseURL, Logger: a.Logger, Lease: cfg.Settings.JobLease}
	a.Retention = &governance.Retention{Store: store.Retention(db), Contacts: a.Contacts, Now: now}
	a.DPAs = &governance.DPAs{Store: store.DPAs(db), Policies: a.Policies, Share: a.Share, Controller: a.Controller, Now: now, NewID: id}
	a.Breaches = &governance.Breaches{Store: store.Breaches(db), Now: now, NewID: id, Controller: a.Controller, Policies: a.Policies}
}

// gauges is the store as the metrics' gauges read it (metrics.Store over store.GaugeTx).
type gauges struct{ db store.Store }

func (g gauges) View(ctx context.Context, fn func(metrics.Tx) error) error {
	return g.db.View(ctx, func(tx store.Tx) error { return fn(tx) })
}

// Close closes the store; calls after the first do nothing and return its result.
func (a *App) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.Store.Close() })
	return a.closeErr
}

// Files is the file transport of an installation: .eml files under MailDir, from the settings'
// sender. Without SMTP it is the transport; with SMTP it still names the files erasure removes.
func Files(s config.Config) mail.FileTransport {
	return mail.FileTransport{Dir: MailDir(s.DataDir), From: s.MailFromAddress(), Domain: s.MailDomain()}
}

// KeysetFile is where the keysets of the installation in dataDir are kept (keys.Config).
func KeysetFile(dataDir string) string { return filepath.Join(dataDir, "keysets.json") }

// MailDir is where the file transport writes messages: "mail" under the data directory.
func MailDir(dataDir string) string { return filepath.Join(dataDir, "mail") }

// sleepUntil waits until t on the app's clock, or until ctx ends (optin.Service.Sleep).
func (a *App) sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(t.Sub(a.now()))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// controller is the data controller as the settings describe it.
func controller(s config.Config) consent.Controller {
	return consent.Controller{
		Name: s.ControllerName, Contact: s.ControllerContact, Email: s.ControllerEmail, Phone: s.ControllerPhone,
		Street: s.ControllerStreet, Locality: s.ControllerCity, PostalCode: s.ControllerPostalCode, Country: s.ControllerCountry,
		Jurisdiction: s.Jurisdiction, DPOEmail: s.DPOEmail, URL: s.BaseURL, PolicyURL: strings.TrimSuffix(s.BaseURL, "/") + "/p/privacy",
	}
}
