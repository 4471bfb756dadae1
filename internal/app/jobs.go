package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/store"
)

// Intervals of the background jobs Start runs.
const (
	campaignPoll = 10 * time.Second // the campaign walker looks for sends to walk
	webhookPoll  = 2 * time.Second  // webhook deliveries are tried
	outboxPoll   = 10 * time.Second // the outbox looks for due mail (or when woken)
	sweepEvery   = time.Hour        // lapsed consent, download links, retention, unverified requests
	// mailFilesPause: on a cluster store, a process removes the mail files of owners another
	// process made gone (erased, forgotten) at most once per pause (removeGoneFiles).
	mailFilesPause = 2 * time.Second
)

// goneOwners is a store whose processes hear of the mail-file owners each other's commits made
// gone (postgres.DB): Gone receives, coalesced, when TakeGone has something to say.
type goneOwners interface {
	Gone() <-chan struct{}
	TakeGone() store.Gone
}

// Start readies the installation to serve and starts its background work. First, before
// anything is sent: it removes the mail files of people erased (or requests forgotten) just
// before a crash, and half-written ones, then runs one Sweep. Then, each in its own goroutine
// until stop is called: the campaign walker (resuming walks after a restart), webhook
// deliveries (processors hear of consent changes, rectifications, restrictions and erasures),
// the outbox, and Sweep every hour. The jobs run on ctx without its cancellation, so they
// outlive a shutdown signal until stop; stop cancels them and waits for every one to return.
// The watch of keysets.json runs too, on every process (watchKeys: a key rotation while
// serving). An error comes only from the mail-file sweep or the first record of this process's
// keys, and then nothing was started.
//
// On a store several processes share (store.Cluster: PostgreSQL) the jobs run only while this
// process leads the cluster, so nothing is sent or run twice: the first Sweep too waits for the
// lead (the server answers meanwhile), and another process's commits wake the outbox and the
// campaign walker. Each process writes the mail files of the messages it hands over under its
// own data directory, so every process, leading or not, also removes its files of the people
// any process erases and the requests any process forgets, within mailFilesPause of hearing of
// the commit (removeGoneFiles).
func (a *App) Start(ctx context.Context) (stop func(), err error) {
	g, hears := a.Store.(goneOwners)
	if hears {
		g.TakeGone() // what the sweep below covers
	}
	if err := a.sweepMailFiles(ctx); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	if err := a.watchKeys(runCtx, &jobs); err != nil {
		cancel()
		return nil, err
	}
	if hears {
		jobs.Go(func() { a.removeGoneFiles(runCtx, g) })
	}
	if c, ok := a.Store.(store.Cluster); ok {
		// A process that leads at once sweeps before the server answers, as one alone does.
		first, ok := c.TryLead(runCtx)
		if ok {
			a.Sweep(first)
		}
		jobs.Go(func() { a.lead(runCtx, c, first) })
	} else {
		a.Sweep(runCtx) // the first sweep finishes before the server answers
		jobs.Go(func() { a.runJobs(runCtx) })
	}
	return func() {
		cancel()
		jobs.Wait()
	}, nil
}

// lead runs the jobs (a Sweep first) whenever this process leads the cluster, until ctx ends;
// first, when not nil, is a lead taken (and swept) already.
func (a *App) lead(ctx context.Context, c store.Cluster, first context.Context) {
	for ctx.Err() == nil {
		lctx := first
		if first != nil {
			first = nil
		} else {
			var err error
			if lctx, err = c.Lead(ctx); err != nil {
				continue // ctx ended
			}
			a.Sweep(lctx)
		}
		a.Logger.InfoContext(ctx, "this process leads the cluster: background jobs start")
		var wakers sync.WaitGroup
		wakers.Go(func() {
			for {
				select {
				case <-lctx.Done():
					return
				case <-c.Changed():
					poke(a.wake)
					poke(a.Campaigns.Walks)
				}
			}
		})
		a.runJobs(lctx)
		wakers.Wait()
		if ctx.Err() == nil {
			a.Logger.WarnContext(ctx, "this process lost the lead of the cluster: background jobs stopped until it leads again")
		}
	}
}

// poke signals ch without waiting (nil or full: nothing to do).
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// runJobs runs the background jobs until ctx ends.
func (a *App) runJobs(ctx context.Context) {
	var jobs sync.WaitGroup
	jobs.Go(func() { a.Campaigns.Run(ctx, campaignPoll) })
	jobs.Go(func() { a.Webhooks.Run(ctx, webhookPoll) })
	jobs.Go(func() { a.Outbox.Run(ctx, outboxPoll, a.wake) })
	jobs.Go(func() { every(ctx, sweepEvery, a.Sweep) })
	jobs.Wait()
}

// Sweep writes time-based changes: it expires every lapsed consent (to the ledger and the change
// stream), deletes expired download links, applies the retention policies (erasing what lost
// its basis, GDPR Art. 5(1)(e)) and closes unverified portal requests. Errors are logged, not
// returned: each part runs again at the next sweep.
func (a *App) Sweep(ctx context.Context) {
	a.expireConsent(ctx)
	if n, err := a.Requests.SweepExports(ctx); err != nil && ctx.Err() == nil {
		a.Logger.ErrorContext(ctx, "export sweep", slog.Any("error", err))
	} else if n > 0 {
		a.Logger.InfoContext(ctx, "expired download links deleted", slog.Int("count", n))
	}
	if res, err := a.Retention.Sweep(ctx, false); err != nil && ctx.Err() == nil {
		a.Logger.ErrorContext(ctx, "retention sweep", slog.Any("error", err))
	} else if res.Erased > 0 {
		a.Logger.InfoContext(ctx, "retention sweep erased contacts", slog.Int("count", res.Erased))
	}
	if n, err := a.Requests.SweepUnverified(ctx); err != nil && ctx.Err() == nil {
		a.Logger.ErrorContext(ctx, "unverified request sweep", slog.Any("error", err))
	} else if n > 0 {
		a.Logger.InfoContext(ctx, "unverified requests closed", slog.Int("count", n))
	}
}

// expireConsent expires every lapsed consent, in batches of 1,000.
func (a *App) expireConsent(ctx context.Context) {
	for {
		n, err := a.Consent.SweepExpired(ctx, 1000)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.ErrorContext(ctx, "expiry sweep", slog.Any("error", err))
			}
			return
		}
		if n == 0 {
			return
		}
		a.Logger.InfoContext(ctx, "consents expired", slog.Int("count", n))
	}
}

// sweepMailFiles removes the mail files whose owner (contact or request) is gone, and
// half-written ones (mail.FileTransport.Sweep).
func (a *App) sweepMailFiles(ctx context.Context) error {
	n, err := a.files.Sweep(func(contactID, requestID string) (bool, error) {
		return a.Store.MailOwnerLive(ctx, contactID, requestID)
	})
	if n > 0 {
		a.Logger.Warn("removed mail files left by a crash whose owner was erased or forgotten", "files", n)
	}
	return err
}

// removeGoneFiles removes, until ctx ends, this process's mail files of the owners (contacts,
// requests) that any process of the cluster made gone, as g tells of them: at most one pass every
// mailFilesPause, each reading the mail directory once. A pass for owners g names asks the store
// nothing; one after g may have missed some (store.Gone.All: its listener reconnected) looks up
// every file's owner, as the sweep at start does. A failed pass is repeated.
func (a *App) removeGoneFiles(ctx context.Context, g goneOwners) {
	var pending store.Gone
	var last time.Time
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.Gone():
		case <-retry:
		}
		retry = nil
		if wait := mailFilesPause - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		pending.Add(g.TakeGone(), maxPendingGone)
		n, err := a.removeGone(ctx, pending)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.WarnContext(ctx, "removing the mail files of erased people and forgotten requests failed; it is repeated", slog.Any("error", err))
				retry = time.After(mailFilesPause)
			}
			continue
		}
		pending = store.Gone{}
		if n > 0 {
			a.Logger.InfoContext(ctx, "removed mail files of people erased or requests forgotten", slog.Int("files", n))
		}
	}
}

// maxPendingGone bounds the owners a failed pass of removeGoneFiles keeps; past it the next
// pass looks up every file's owner.
const maxPendingGone = 100_000

// removeGone removes this process's mail files of the owners gone names (every file's owner
// looked up when gone is All) and returns how many it removed.
func (a *App) removeGone(ctx context.Context, gone store.Gone) (int, error) {
	if gone.All {
		return a.files.SweepGone(func(contactID, requestID string) (bool, error) {
			return a.Store.MailOwnerLive(ctx, contactID, requestID)
		})
	}
	if gone.Empty() {
		return 0, nil
	}
	contacts, requests := make(map[string]bool, len(gone.Contacts)), make(map[string]bool, len(gone.Requests))
	for _, id := range gone.Contacts {
		contacts[id] = true
	}
	for _, id := range gone.Requests {
		requests[id] = true
	}
	return a.files.SweepGone(func(contactID, requestID string) (bool, error) {
		if contactID != "" {
			return !contacts[contactID], nil
		}
		return !requests[requestID], nil
	})
}

// every runs fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
