package mail

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
)

// Outbox states.
const (
	StatusQueued  = "queued"
	StatusSent    = "sent"
	StatusFailed  = "failed"  // gave up after the last retry, or a permanent error
	StatusSkipped = "skipped" // the consent gate refused it at hand-off; LastError holds the reason
)

// Entry is an outbox row: a rendered message sealed under its recipient's data key.
type Entry struct {
	ID            string
	ContactID     string // the recipient contact; "" for a notice about a data subject request
	RequestID     string // the request a notice is about, when ContactID is ""
	Stream        Stream
	Kind          string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
	SentAt        *time.Time
	LastError     string // a short reason without personal data (for skipped: the gate's reason)
	Sealed        []byte
	Purpose       string // marketing: the purpose the gate is asked for
	CampaignID    string
	// Last marks the last notice about a request: once it is handed over (or fails for good),
	// the request's key and mail are destroyed (Tx.ForgetRequest).
	Last bool
}

// Tx is what the outbox needs from a store transaction.
type Tx interface {
	DataKey(ctx context.Context, contactID string) (version int, wrapped []byte, err error)
	InsertOutbox(ctx context.Context, e Entry) error
	// DueOutbox returns up to limit queued entries whose next attempt is due at now, oldest first.
	DueOutbox(ctx context.Context, now time.Time, limit int) ([]Entry, error)
	UpdateOutbox(ctx context.Context, e Entry) error
	// LeaseOutbox sets the next attempt of the queued entries ids to until: a claim on them
	// while they are handed over (no one else finds them due before until), or its release.
	// Entries no longer queued are left alone.
	LeaseOutbox(ctx context.Context, ids []string, until time.Time) error
	// ForgetRequest destroys a data subject request's key and deletes its mail.
	ForgetRequest(ctx context.Context, requestID string) error
	AppendAudit(ctx context.Context, e *audit.Event) error
	AppendAudits(ctx context.Context, events []*audit.Event) error
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Backoff is the wait before each retry; after the last, a message fails for good.
var Backoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// Gate is the consent gate the outbox asks before handing over a gated message (gated). Prefetch
// warms its cache for the next messages; Check is still asked for each at hand-off.
type Gate interface {
	Check(ctx context.Context, contactID, purpose string) (consent.Decision, error)
	Prefetch(ctx context.Context, contactIDs []string, purpose string) error
}

// Outbox queues messages and sends them with retries. Its fields are set once by internal/app.
type Outbox struct {
	// Footer, when set, closes every transactional message (confirmations, notices about
	// requests): who the controller is and how to reach its data protection officer (GDPR Art.
	// 12(1), 13(1)(a)-(b)). Marketing messages carry their own footer.
	Footer    string
	Store     Store
	Keys      *keys.Keyring
	Transport Transport
	Gate      Gate
	Now       func() time.Time
	Logger    *slog.Logger
	// Sessions is how many transport sessions (SMTP connections) hand messages over at once
	// (default 1). Each message is still asked about at the consent gate right before its own
	// hand-off.
	Sessions int
	// AfterForget, when set, removes what a request left outside the database once its last
	// notice is handed over and its key destroyed: with the file transport, the request's .eml
	// files, the erasure receipt just written among them (FileTransport.RemoveRequest), so no
	// file keeps the address of a person whose erasure is complete.
	AfterForget func(requestID string) error
	// Lease is how long a pass's claim on the messages it read lasts (DefaultLease when 0): no
	// other pass, on this node or another, finds them due before it ends. A pass hands messages
	// over during the first half of it only and releases what it did not hand over; messages
	// claimed by a node that died wait for the end of its lease.
	Lease time.Duration
	// AfterErase, when set, removes a contact's message files (FileTransport.RemoveContact) when
	// a message was handed over after the contact's erasure removed them (the hand-off runs
	// outside any transaction).
	AfterErase func(contactID string) error
	// Recorded, when set, is told of every hand-over attempt once its outcome is committed: the
	// entry as recorded (sent, skipped, failed, or queued again for a retry). The metrics of
	// internal/app count them. It must not block.
	Recorded func(Entry)
}

// DefaultLease is Outbox.Lease when unset: a pass of passSize messages hands them over within a
// minute even on one session to a slow server (60 ms each), and a node that lost the lead stops
// within a second (store.Cluster), long before the lease ends.
const DefaultLease = 2 * time.Minute

// errLeaseEnding stops a pass whose lease is half over: what it did not hand over is released.
var errLeaseEnding = errors.New("mail: the pass's lease is half over")

// outcomeWindow is the longest a group of hand-offs runs before its outcomes are recorded: a
// process killed while it sends hands over again, under the same Message-ID, what it handed
// over and had not recorded, at most the messages of the last outcomeWindow (and never more
// than outcomeGroup). A fast transport fills outcomeGroup sooner; a slow one (a relay taking
// tens of milliseconds a message) records every outcomeWindow, a few milliseconds each time.
const outcomeWindow = 50 * time.Millisecond

// outcomeGroup is how many send outcomes are recorded per transaction at most.
const outcomeGroup = 100

// passSize is how many due messages Run reads and opens per SendDue call: one transaction of
// reads and their audit events per 1,000 messages (as tillit bench send measures it).
const passSize = 1000

// Table is bound into the associated data of sealed messages.
const Table = "outbox"

// owner names the data key a message is sealed under, and the audit object its reads are about:
// the recipient contact, or for a notice to the requester of a data subject request, the request.
func owner(contactID, requestID string) (kind, id string) {
	if contactID != "" {
		return "contact", contactID
	}
	return "request", requestID
}

// EnqueueIn seals m under its contact's data key (or, for a notice about a data subject request,
// the request's) and queues it in the caller's transaction, so a message is queued exactly when
// the change that caused it commits.
func (o *Outbox) EnqueueIn(ctx context.Context, tx Tx, m Message) error {
	_, keyID := owner(m.ContactID, m.RequestID)
	version, wrapped, err := tx.DataKey(ctx, keyID)
	if err != nil {
		return err
	}
	dk, err := o.Keys.OpenDataKey(keyID, version, wrapped)
	if err != nil {
		return err
	}
	if m.Stream == Transactional && o.Footer != "" {
		m.Text = strings.TrimRight(m.Text, "\n") + "\n\n-- \n" + o.Footer + "\n"
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal(Table, "message", m.ID, plain)
	if err != nil {
		return err
	}
	return tx.InsertOutbox(ctx, Entry{
		ID: m.ID, ContactID: m.ContactID, RequestID: m.RequestID, Stream: m.Stream, Kind: m.Kind, Status: StatusQueued,
		NextAttemptAt: m.CreatedAt, CreatedAt: m.CreatedAt, Sealed: sealed, Purpose: m.Purpose, CampaignID: m.CampaignID, Last: m.Last && m.RequestID != "",
	})
}

// SendDue sends every due message once: it claims the due messages it reads for Lease (no other
// pass, on any node, finds them due meanwhile), opens each (an audited read, "mail.read"), asks the
// consent gate for every marketing message at that moment (a withdrawal, suppression,
// restriction or objection made while a campaign is sending stops the next message: it is
// skipped with the gate's reason), hands the rest to the transport outside any transaction, and
// records the outcome: sent, skipped, queued again after the next back-off, or failed. Up to
// Sessions messages are handed over at once. When ctx ends, or half the lease is gone, no further
// message is handed over, the outcomes of those handed over are still recorded, and the rest
// are released (due again). It returns how many were sent and
// how many failed for good.
func (o *Outbox) SendDue(ctx context.Context, limit int) (sent, failed int, err error) {
	var due []Entry
	var msgs []Message
	now := o.Now().UTC()
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	handUntil := now.Add(lease / 2)
	err = o.Store.Update(ctx, func(tx Tx) error {
		var err error
		if due, err = tx.DueOutbox(ctx, now, limit); err != nil {
			return err
		}
		if err := tx.LeaseOutbox(ctx, entryIDs(due), now.Add(lease)); err != nil {
			return err
		}
		msgs = make([]Message, len(due))
		events := make([]*audit.Event, 0, len(due))
		for i, e := range due {
			kind, keyID := owner(e.ContactID, e.RequestID)
			version, wrapped, err := tx.DataKey(ctx, keyID)
			if err != nil {
				return err
			}
			dk, err := o.Keys.OpenDataKey(keyID, version, wrapped)
			if err != nil {
				return err
			}
			ev := audit.New(ctx, now, "mail.read", kind, keyID, "email", "message."+e.Kind)
			events = append(events, &ev)
			plain, err := dk.Open(Table, "message", e.ID, e.Sealed)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(plain, &msgs[i]); err != nil {
				return err
			}
		}
		// The reads are audited in the same transaction: if this fails, nothing was decrypted
		// for sending.
		return tx.AppendAudits(ctx, events)
	})
	if err != nil {
		return 0, 0, err
	}
	// Hand-off, in groups of outcomeGroup, or of what outcomeWindow allows: the gate's facts for
	// the group are read at once, up to Sessions workers (each with its own transport session,
	// owned by SendDue and waited for before it returns) hand the group's messages over, and the
	// group's outcomes are recorded in one transaction before the next group starts. Nothing this
	// outbox writes commits while a group is handed over, so the facts read for it stay current
	// unless someone else changes them (then the gate reads them again). A crash between a
	// hand-off and its record sends that group again at most (at-least-once, same Message-ID). The outcomes are written even when ctx ends (the server
	// stops): a message handed over is recorded, so a restart does not send it again.
	workers := max(1, min(o.Sessions, len(due)))
	next := make(chan int)
	outcomes := make(chan outcome, outcomeGroup)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var session Session
			defer func() {
				if session != nil {
					session.Close()
				}
			}()
			for i := range next { // one outcome per message taken, error or not
				if !o.Now().Before(handUntil) {
					outcomes <- outcome{e: due[i], err: errLeaseEnding}
					continue
				}
				e, err := o.handOff(hctx, &session, due[i], msgs[i])
				outcomes <- outcome{e: e, err: err}
			}
		})
	}
	defer wg.Wait()
	defer close(next)
	var unsent []string // claimed and not handed over: released when the pass ends
	defer func() { o.release(ctx, unsent, now) }()
	done := make([]Entry, 0, outcomeGroup)
	for g, n := 0, 0; g < len(due); g += n {
		group := due[g:min(g+outcomeGroup, len(due))]
		if err := o.prefetch(hctx, group); err != nil {
			unsent = entryIDs(due[g:])
			return sent, failed, err
		}
		// Each send waits for a free session, so the group closes after outcomeWindow when the
		// transport is slow; the rest of it starts the next group.
		cut := time.Now().Add(outcomeWindow)
		n = 0
		for n < len(group) && (n == 0 || time.Now().Before(cut)) {
			next <- g + n
			n++
		}
		group = group[:n]
		var firstErr error
		done = done[:0]
		for range group {
			r := <-outcomes
			switch {
			case r.err != nil:
				if firstErr == nil {
					firstErr = r.err
				}
				unsent = append(unsent, r.e.ID)
				stop() // no further hand-offs; those under way are still recorded
			case r.e.Status == StatusSent:
				sent++
			case r.e.Status == StatusFailed:
				failed++
			}
			if r.err == nil {
				done = append(done, r.e)
			}
		}
		if err := o.record(ctx, done); err != nil && firstErr == nil {
			firstErr = err
		}
		if firstErr != nil {
			unsent = append(unsent, entryIDs(due[g+len(group):])...)
			if firstErr == errLeaseEnding {
				firstErr = nil
			}
			return sent, failed, firstErr
		}
	}
	return sent, failed, nil
}

// release makes the messages ids, claimed by a pass at now and not handed over, due again at now
// (also after ctx ended). When that fails they wait for the end of the lease.
func (o *Outbox) release(ctx context.Context, ids []string, now time.Time) {
	if len(ids) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	err := o.Store.Update(ctx, func(tx Tx) error { return tx.LeaseOutbox(ctx, ids, now) })
	if err != nil && o.Logger != nil {
		o.Logger.WarnContext(ctx, "outbox: messages not handed over wait for their lease to end", slog.Int("messages", len(ids)), slog.Any("error", err))
	}
}

func entryIDs(es []Entry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// record writes the outcomes in one transaction, also after ctx ended; the last notice about a
// request destroys the request's key and mail.
func (o *Outbox) record(ctx context.Context, done []Entry) error {
	if len(done) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var forgotten []string
	var gone []Entry
	err := o.Store.Update(ctx, func(tx Tx) error {
		forgotten, gone = forgotten[:0], gone[:0]
		for _, e := range done {
			if err := tx.UpdateOutbox(ctx, e); apperr.Is(err, apperr.NotFound) {
				// Erased (or its request forgotten) while the message was on its way: the
				// erasure removed the owner's files before this one was written.
				gone = append(gone, e)
				continue
			} else if err != nil {
				return err
			}
			if e.Last && e.Status != StatusQueued {
				if err := tx.ForgetRequest(ctx, e.RequestID); err != nil {
					return err
				}
				forgotten = append(forgotten, e.RequestID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.Recorded != nil {
		for _, e := range done {
			o.Recorded(e)
		}
	}
	for _, id := range forgotten {
		o.Keys.Forget(id)
	}
	for _, e := range gone {
		if e.ContactID != "" && o.AfterErase != nil {
			err = errors.Join(err, o.AfterErase(e.ContactID))
		} else if e.ContactID == "" && o.AfterForget != nil {
			err = errors.Join(err, o.AfterForget(e.RequestID))
		}
	}
	if o.AfterForget != nil {
		for _, id := range forgotten {
			err = errors.Join(err, o.AfterForget(id))
		}
	}
	return err
}

// outcome is one hand-off's result: the entry with its new status, or an error that stops the
// hand-off (the entry then stays queued).
type outcome struct {
	e   Entry
	err error
}

// gated reports whether the consent gate is asked about e at hand-off: a marketing message (sent
// only while consent allows it), and a consent-request campaign's request, a transactional
// message with a campaign and a purpose (sent only while the person may still be asked,
// consent.Askable: a refusal, withdrawal, objection, restriction or suppression since the walk
// queued it stops it).
func gated(e Entry) bool {
	return e.Stream == Marketing || e.CampaignID != "" && e.Purpose != ""
}

// allows applies the gate's decision d at hand-off to a gated entry e and names the reason: a
// marketing message needs d.Allowed; a consent request needs a person who may still be asked
// (consent.Askable), and is not sent to one who agreed meanwhile (consent_given).
func allows(e Entry, d consent.Decision) (reason string, ok bool) {
	switch {
	case e.Stream == Marketing:
		return string(d.Reason), d.Allowed
	case d.Allowed:
		return "consent_given", false
	}
	return string(d.Reason), consent.Askable(d.Reason)
}

// handOff asks the consent gate about a gated message (a marketing message or a campaign's
// consent request) at this moment and hands m to the transport on *session (opened on first use, closed and cleared after an error that may have
// broken the connection). It returns e with the outcome: skipped with the gate's reason, sent,
// failed for good, or queued again after the next back-off. An error other than the message's
// own (the gate could not be asked) is returned and nothing is recorded for e.
func (o *Outbox) handOff(ctx context.Context, session *Session, e Entry, m Message) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return e, err
	}
	if gated(e) {
		d, err := o.Gate.Check(ctx, e.ContactID, e.Purpose)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return e, err
		}
		reason, ok := "erased", false
		if err == nil {
			reason, ok = allows(e, d)
		}
		if !ok {
			e.Status, e.LastError = StatusSkipped, reason
			return e, nil
		}
	}
	var serr error
	if *session == nil {
		if *session, serr = o.Transport.Open(ctx); serr != nil {
			*session = nil
			serr = openError{serr}
			if o.Logger != nil {
				o.Logger.WarnContext(ctx, "mail transport not available", slog.String("error", serr.Error()))
			}
		}
	}
	if serr == nil {
		// Not cancelled by ctx: a message under way is finished (the transport's own timeouts
		// bound it), so a stopping server records what it handed over.
		serr = (*session).Send(context.WithoutCancel(ctx), m)
	}
	if serr != nil && !IsPermanent(serr) && *session != nil {
		(*session).Close() // the connection may be broken: the next message opens a new one
		*session = nil
	}
	e.Attempts++
	switch {
	case serr == nil:
		t := o.Now().UTC()
		e.Status, e.SentAt, e.LastError = StatusSent, &t, ""
	case IsPermanent(serr) || e.Attempts > len(Backoff):
		e.Status, e.LastError = StatusFailed, reason(serr)
	default:
		e.NextAttemptAt, e.LastError = o.Now().UTC().Add(Backoff[e.Attempts-1]), reason(serr)
	}
	if serr != nil && o.Logger != nil {
		o.Logger.WarnContext(ctx, "mail not sent", slog.String("message_id", e.ID), slog.Int("attempt", e.Attempts), slog.String("reason", e.LastError))
	}
	return e, nil
}

// reason reduces a send error to a short text without addresses.
func reason(err error) string {
	var ctxErr error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		ctxErr = err
	}
	if ctxErr != nil {
		return "cancelled"
	}
	kind := "temporary failure"
	if IsPermanent(err) {
		kind = "permanent failure"
	}
	var f SMTPFailure
	if errors.As(err, &f) {
		return kind + ": " + f.Error()
	}
	if errors.As(err, new(openError)) {
		return kind + ": could not connect or log in to the mail server (see the server log)"
	}
	return kind + " (see the message id in the server log)"
}

// openError is a failure to open a transport session: it names the server, never a recipient,
// so its text is logged.
type openError struct{ err error }

func (e openError) Error() string { return e.err.Error() }
func (e openError) Unwrap() error { return e.err }

// Run sends due messages every interval, and at once when wake receives, until ctx ends.
func (o *Outbox) Run(ctx context.Context, interval time.Duration, wake <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			sent, _, err := o.SendDue(ctx, passSize)
			if err != nil {
				if ctx.Err() == nil && o.Logger != nil {
					o.Logger.ErrorContext(ctx, "outbox", slog.Any("error", err))
				}
				break
			}
			if sent < passSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}

// prefetch warms the gate for the gated messages of the next group, by purpose.
func (o *Outbox) prefetch(ctx context.Context, group []Entry) error {
	byPurpose := map[string][]string{}
	for _, e := range group {
		if gated(e) {
			byPurpose[e.Purpose] = append(byPurpose[e.Purpose], e.ContactID)
		}
	}
	for p, ids := range byPurpose {
		if err := o.Gate.Prefetch(ctx, ids, p); err != nil {
			return err
		}
	}
	return nil
}
