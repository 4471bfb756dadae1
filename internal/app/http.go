package app

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/throttle"
	"github.com/tillit/tillit/internal/web/console"
	"github.com/tillit/tillit/internal/web/portal"
)

// web builds the HTTP surface: the API server with the public portal's pages and the staff
// console's routes (a.HTTP). Templates are parsed here, once.
func (a *App) web(s config.Config) error {
	a.HTTP = &api.Server{
		Contacts: a.Contacts, Consent: a.Consent, Policies: a.Policies, Tokens: a.Tokens, Importer: a.Importer,
		Campaigns: a.Campaigns, Reports: a.Reports, Requests: a.Requests, Share: a.Share, Webhooks: a.Webhooks,
		Breaches: a.Breaches, Retention: a.Retention, DPAs: a.DPAs,
		Audit: auditLog{a.Store}, Controller: a.Controller, Logger: a.Logger, BodyTimeout: s.BodyTimeout,
		Ready: (&readiness{db: a.Store}).check, ROPA: a.ROPA, Observe: a.Metrics.Request,
	}
	pages, err := portal.New(a.Policies, a.Consent, a.Controller, a.Logger)
	if err != nil {
		return err
	}
	a.Portal = pages
	pages.Recipients = a.Recipients
	pages.Retention = a.Retention.Policies
	proxies, _ := s.Proxies() // checked by config.Finish
	// One process counts posts in memory; the nodes of a cluster count them in the store.
	var shared *throttle.Windows
	if _, ok := a.Store.(store.Cluster); ok {
		shared = &throttle.Windows{Store: store.Throttle(a.Store), Key: func(client string) ([]byte, error) {
			return a.Keys.BlindIndex(keys.IndexClient, 1, client)
		}}
	}
	limit := func(max int, form string) *portal.Limiter {
		return &portal.Limiter{Max: max, Now: a.now, Shared: shared, Form: form}
	}
	doi := &portal.Optin{Pages: pages, Service: a.Optin, TrustedProxies: proxies, Limit: limit(portal.SubscribesPerHour, "subscribe")}
	unsub := &portal.Unsubscribe{Pages: pages, Service: a.Unsubscribe, IP: doi.ClientIP}
	prefs := &portal.Preferences{Pages: pages, Service: a.Optin, IP: doi.ClientIP}
	requests := &portal.Requests{Pages: pages, Service: a.Requests, IP: doi.ClientIP, Limit: limit(portal.RequestsPerHour, "requests")}
	dpas := &portal.DPA{Pages: pages, Service: a.DPAs, IP: doi.ClientIP, Limit: limit(portal.DPAPerHour, "dpa")}
	cop := http.NewCrossOriginProtection()
	a.HTTP.Pages = map[string]http.Handler{
		"GET /p/privacy":                    http.HandlerFunc(pages.Privacy),
		"GET /p/subscribe":                  http.HandlerFunc(doi.SubscribeForm),
		"POST /p/subscribe":                 http.HandlerFunc(doi.Subscribe), // embeddable: other sites may post to it
		"GET /p/confirm/{token}":            http.HandlerFunc(doi.ConfirmPage),
		"POST /p/confirm/{token}":           cop.Handler(http.HandlerFunc(doi.Confirm)),
		"GET /u/{token}":                    http.HandlerFunc(unsub.Page),
		"POST /u/{token}":                   http.HandlerFunc(unsub.OneClick), // mail providers post cross-site (RFC 8058)
		"GET /p/dpa":                        http.HandlerFunc(dpas.Form),
		"POST /p/dpa":                       cop.Handler(http.HandlerFunc(dpas.Request)),
		"GET /p/dpa/{id}":                   http.HandlerFunc(dpas.Document),
		"GET /p/requests":                   http.HandlerFunc(requests.Form),
		"POST /p/requests":                  cop.Handler(http.HandlerFunc(requests.Submit)),
		"GET /p/requests/verify/{token}":    http.HandlerFunc(requests.VerifyPage),
		"POST /p/requests/verify/{token}":   cop.Handler(http.HandlerFunc(requests.Verify)),
		"GET /p/requests/download/{token}":  http.HandlerFunc(requests.DownloadPage),
		"POST /p/requests/download/{token}": cop.Handler(http.HandlerFunc(requests.Download)),
		"GET /p/preferences/{token}":        http.HandlerFunc(prefs.Page),
		"POST /p/preferences/{token}":       cop.Handler(http.HandlerFunc(prefs.Change)),
	}
	staff, err := console.New(a.Tokens, a.Requests, a.Logger, strings.HasPrefix(s.BaseURL, "https://"))
	if err != nil {
		return err
	}
	a.Console = staff
	staff.Notifications = a.Webhooks
	staff.ROPA = a.ROPA
	for pattern, h := range staff.Routes(cop.Handler) {
		a.HTTP.Pages[pattern] = h
	}
	return nil
}

// auditLog adapts the store's audit reader to api.AuditLog.
type auditLog struct{ db store.Store }

func (l auditLog) AuditEvents(ctx context.Context, kind, id string, after int64, limit int) ([]audit.Event, error) {
	return l.db.AuditEvents(ctx, store.AuditFilter{ObjectKind: kind, ObjectID: id, AfterSeq: after, Limit: limit})
}

func (l auditLog) VerifyAudit(ctx context.Context) (audit.Verification, error) {
	return l.db.VerifyAudit(ctx)
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
