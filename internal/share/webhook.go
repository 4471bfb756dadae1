package share

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
)

// Delivery states.
const (
	DeliveryQueued     = "queued"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"     // gave up after the last retry
	DeliverySuperseded = "superseded" // dropped unsent: the contact was erased meanwhile
)

// Unreachable is the one LastError of a delivery whose last attempt got no answer to show: the
// name did not resolve, the address was refused (publicOrLoopback), the connection was refused
// or reset, TLS failed, the receiver timed out, or a receiver on this machine (loopback)
// answered anything but 2xx. One word for all, so the delivery log cannot be used to learn
// which local ports are open or which hosts exist; the server's own log keeps the status.
const Unreachable = "unreachable"

// EventKinds lists the kinds of webhook event, as the change stream names them.
var EventKinds = []string{"given", "withdrawn", "refused", "expired", "objected", "objection_lifted", "requested",
	"needs_reconsent", "restricted", "restriction_lifted", "rectified", "suppressed", "erased"}

// Delivery is one webhook event for one processor, with its attempts.
type Delivery struct {
	ID            string    `json:"id"` // the event id the processor sees
	ProcessorID   string    `json:"processor_id"`
	ContactID     string    `json:"contact_id"`
	Kind          string    `json:"kind"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// LastStatus is the HTTP status of the last attempt; 0 with LastError "unreachable" when it
	// got no answer to show (see Unreachable).
	LastStatus int `json:"last_status"`
	// LastError is Unreachable after an attempt without an answer to show, else "".
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	Payload        []byte     `json:"-"`
}

// Event is the JSON a processor receives: ids, kinds and states, never a personal field. For
// "erased" the processor deletes what it holds about the contact and acknowledges; for
// "rectified" it fetches the contact again; for a consent change it stops or starts using the
// data for the purpose.
type Event struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"` // given, withdrawn, refused, expired, objected, restricted, restriction_lifted, rectified, erased, …
	ContactID  string    `json:"contact_id"`
	Purpose    string    `json:"purpose,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
	// AckURL is where an "erased" event is acknowledged (POST, signed like the event).
	AckURL string `json:"ack_url,omitempty"`
}

// WebhookTx is what webhook delivery needs from one store transaction.
type WebhookTx interface {
	Tx
	ConsentChanges(ctx context.Context, afterSeq int64, limit int) ([]consent.Change, error)
	WebhookCursor(ctx context.Context) (int64, error)
	SetWebhookCursor(ctx context.Context, seq int64) error
	// RecipientsOf returns the ids of the processors that received data about the contact.
	RecipientsOf(ctx context.Context, contactID string) ([]string, error)
	// DisclosedPurposes returns the purposes the contact's data went to the processor for.
	DisclosedPurposes(ctx context.Context, contactID, processorID string) ([]string, error)
	InsertDelivery(ctx context.Context, d Delivery) error
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	UpdateDelivery(ctx context.Context, d Delivery) error
	// LeaseDeliveries sets the next attempt of the queued deliveries ids to until: a claim on
	// them while they are posted, or its release. Deliveries no longer queued are left alone.
	LeaseDeliveries(ctx context.Context, ids []string, until time.Time) error
	DeliveryByID(ctx context.Context, id string) (Delivery, error) // NotFound when none
	// OlderQueued reports whether a queued delivery to the same processor about the same
	// contact was created before d.
	OlderQueued(ctx context.Context, d Delivery) (bool, error)
	// SupersedeQueued marks the queued deliveries to a processor about a contact superseded.
	SupersedeQueued(ctx context.Context, processorID, contactID string) error
	// Deliveries returns a processor's deliveries newest first (ids are time-ordered), of kind
	// when kind is not "", with ids below before when before is not "".
	Deliveries(ctx context.Context, processorID, kind, before string, limit int) ([]Delivery, error)
	// ErasureDeliveries returns the "erased" deliveries about a contact, by processor.
	ErasureDeliveries(ctx context.Context, contactID string) ([]Delivery, error)
	InsertNotificationTask(ctx context.Context, t NotificationTask) error
	// UpdateNotificationTask stores a task's done_at, done_by and note; NotFound when absent.
	UpdateNotificationTask(ctx context.Context, t NotificationTask) error
	NotificationTaskByID(ctx context.Context, id string) (NotificationTask, error) // NotFound when none
	// NotificationTasks returns the tasks matching f in id order (oldest first), at most f.Limit.
	NotificationTasks(ctx context.Context, f TaskFilter) ([]NotificationTask, error)
}

// WebhookStore runs serialized transactions.
type WebhookStore interface {
	Update(ctx context.Context, fn func(WebhookTx) error) error
}

// Post is one signed event on its way to a processor's webhook: POSTed to URL with Body as
// application/json, EventID in the Tillit-Event-Id header and Signature in SignatureHeader.
type Post struct {
	URL       string
	EventID   string
	Signature string // the SignatureHeader value, from Sign
	Body      []byte // the Event as JSON
}

// Answer is the outcome of one Post.
type Answer struct {
	// Status is the HTTP status of the answer, 0 when none came. A redirect is an answer
	// (3xx, not followed: it would carry the signed event past the https rule).
	Status int
	// Local reports that the connection went to this machine (loopback).
	Local bool
	// Cause names why no answer came, for the server's log only: dns, refused, timeout, tls,
	// not_public (PublicOrLoopback refused the address), bad_url or transport; "" with an answer.
	Cause string
}

// WebhookSender sends one Post and waits for its answer, within its own time limit. It never
// returns an error: a failure is an Answer without a status. internal/webhook is the HTTP
// sender, which connects only where PublicOrLoopback allows.
type WebhookSender interface {
	Send(ctx context.Context, p Post) Answer
}

// errNoSender is SendDue's answer when Webhooks.Sender was not set.
var errNoSender = errors.New("share: Webhooks.Sender is not set")

// Webhooks fans the consent change stream out to the processors concerned and delivers signed
// events with retries. Fields are set once by internal/cli; SendDue (and Run) need Sender.
type Webhooks struct {
	Store   WebhookStore
	Keys    *keys.Keyring
	Sender  WebhookSender
	Now     func() time.Time
	NewID   func() string
	BaseURL string // for the acknowledgement URL
	Logger  *slog.Logger
	// Lease is how long a round's claim on the deliveries it read lasts (mail.DefaultLease when
	// 0): no other round, on this node or another, finds them due meanwhile. A round posts
	// during the first half of it only and releases what it did not post.
	Lease time.Duration
}

// WebhookBackoff is the wait before each retry; after the last, a delivery fails for good.
var WebhookBackoff = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the
// processor's secret>"; a receiver recomputes it and refuses a timestamp older than a few
// minutes (replay).
const SignatureHeader = "Tillit-Signature"

// Sign returns the SignatureHeader value for body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", t.Unix())
	m.Write(body)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(m.Sum(nil)))
}

// Verify checks a SignatureHeader value for body against secret, refusing a timestamp further
// than tolerance from now. It is what a receiver does; Tillit uses it for acknowledgements.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts int64
	var sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			sig = v
		}
	}
	if ts == 0 || sig == "" {
		return false
	}
	t := time.Unix(ts, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, t, body)
	_, wantSig, _ := strings.Cut(want, ",v1=")
	return hmac.Equal([]byte(sig), []byte(wantSig))
}

// Fanout turns new consent changes (given, withdrawn, …, restricted, erased, rectified) into one
// queued delivery per processor that received data about the contact and has a webhook URL, and
// moves the cursor past them. A recipient without a webhook gets a NotificationTask for each
// change of Art19Kinds instead: staff must tell it by hand (GDPR Art. 19). It returns how many
// deliveries it queued.
func (w *Webhooks) Fanout(ctx context.Context, limit int) (int, error) {
	n := 0
	err := w.Store.Update(ctx, func(tx WebhookTx) error {
		cur, err := tx.WebhookCursor(ctx)
		if err != nil {
			return err
		}
		changes, err := tx.ConsentChanges(ctx, cur, limit)
		if err != nil || len(changes) == 0 {
			return err
		}
		now := w.Now().UTC()
		for _, c := range changes {
			ids, err := tx.RecipientsOf(ctx, c.ContactID)
			if err != nil {
				return err
			}
			for _, pid := range ids {
				p, err := tx.ProcessorByID(ctx, pid)
				if err != nil {
					return err
				}
				if p.WebhookURL == "" {
					if slices.Contains(Art19Kinds, c.Change) {
						if err := w.taskIn(ctx, tx, pid, c.ContactID, c.Change, CauseNoWebhook); err != nil {
							return err
						}
					}
					continue
				}
				// A consent change for a purpose the contact's data did not go to the processor for
				// is not its business; restrictions, rectifications, erasures and objections to
				// direct marketing concern every recipient.
				if c.Purpose != "" && c.Purpose != consent.ScopeDirectMarketing {
					// Only the purposes this contact's data went to the processor for.
					ps, err := tx.DisclosedPurposes(ctx, c.ContactID, pid)
					if err != nil {
						return err
					}
					if !slices.Contains(ps, c.Purpose) {
						continue
					}
				}
				if c.Change == "erased" {
					// Older events still in retry are dropped: nothing may arrive after the erasure.
					if err := tx.SupersedeQueued(ctx, pid, c.ContactID); err != nil {
						return err
					}
				}
				ev := Event{ID: w.NewID(), Kind: c.Change, ContactID: c.ContactID, Purpose: c.Purpose, OccurredAt: c.OccurredAt.UTC()}
				if c.Change == "erased" {
					ev.AckURL = strings.TrimSuffix(w.BaseURL, "/") + "/webhooks/acknowledgements"
				}
				body, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				if err := tx.InsertDelivery(ctx, Delivery{ID: ev.ID, ProcessorID: pid, ContactID: c.ContactID, Kind: c.Change,
					Status: DeliveryQueued, NextAttemptAt: now, CreatedAt: now, Payload: body}); err != nil {
					return err
				}
				n++
			}
		}
		return tx.SetWebhookCursor(ctx, changes[len(changes)-1].Seq)
	})
	return n, err
}

// SendDue posts due deliveries, signed with their processor's secret, and records each outcome:
// delivered on a 2xx answer (a redirect is not followed and counts as a failure), else queued
// again after the next back-off, or failed after the last (one of Art19Kinds then becomes a
// NotificationTask). Processors are served concurrently,
// each in order, so a slow or failing receiver delays only its own events; for one processor and
// contact, an event waits while an older one is still queued, so events arrive in the order they
// happened. It returns how many were delivered.
func (w *Webhooks) SendDue(ctx context.Context, limit int) (int, error) {
	type job struct {
		d      Delivery
		url    string
		secret []byte
	}
	if w.Sender == nil {
		return 0, errNoSender
	}
	groups := map[string][]job{}
	var order []string
	var broken []Delivery // processors with a URL but no usable secret: failed at once
	now := w.Now().UTC()
	lease := w.Lease
	if lease <= 0 {
		lease = mail.DefaultLease
	}
	postUntil := now.Add(lease / 2)
	err := w.Store.Update(ctx, func(tx WebhookTx) error {
		due, err := tx.DueDeliveries(ctx, now, limit)
		if err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, d := range due {
			key := d.ProcessorID + "/" + d.ContactID
			if taken[key] {
				continue // one event per contact and processor per round keeps their order
			}
			older, err := tx.OlderQueued(ctx, d)
			if err != nil {
				return err
			}
			if older {
				continue
			}
			taken[key] = true
			p, err := tx.ProcessorByID(ctx, d.ProcessorID)
			if err != nil {
				return err
			}
			secret, err := w.secret(ctx, tx, p)
			if err != nil || p.WebhookURL == "" {
				broken = append(broken, d)
				continue
			}
			if _, ok := groups[p.ID]; !ok {
				order = append(order, p.ID)
			}
			groups[p.ID] = append(groups[p.ID], job{d: d, url: p.WebhookURL, secret: secret})
		}
		for _, d := range broken {
			d.Status, d.Attempts = DeliveryFailed, d.Attempts+1
			if err := w.record(ctx, tx, d); err != nil {
				return err
			}
		}
		var ids []string
		for _, pid := range order {
			for _, j := range groups[pid] {
				ids = append(ids, j.d.ID)
			}
		}
		return tx.LeaseDeliveries(ctx, ids, now.Add(lease))
	})
	if err != nil {
		return 0, err
	}
	for _, d := range broken {
		if w.Logger != nil {
			w.Logger.WarnContext(ctx, "webhook failed: the processor has no webhook URL or secret", slog.String("processor", d.ProcessorID), slog.String("event", d.ID))
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	delivered := 0
	var firstErr error
	var unsent []string // claimed and not posted: released below
	for _, pid := range order {
		wg.Add(1)
		go func(jobs []job) { // owned by SendDue: waited for below
			defer wg.Done()
			for k, j := range jobs {
				if !w.Now().Before(postUntil) {
					mu.Lock()
					for _, j := range jobs[k:] {
						unsent = append(unsent, j.d.ID)
					}
					mu.Unlock()
					return
				}
				d := j.d
				d.Attempts++
				a := w.Sender.Send(ctx, Post{URL: j.url, EventID: d.ID, Signature: Sign(j.secret, w.Now(), d.Payload), Body: d.Payload})
				status, local, cause := a.Status, a.Local, a.Cause
				d.LastStatus = status
				if local && (status < 200 || status >= 300) {
					d.LastStatus = 0 // Unreachable: a port on this machine is no one's business
				}
				switch {
				case status >= 200 && status < 300:
					t := w.Now().UTC()
					d.Status, d.DeliveredAt = DeliveryDelivered, &t
				case d.Attempts > len(WebhookBackoff):
					d.Status = DeliveryFailed
				default:
					// From the round's start, not the attempt's end: a timeout must not show.
					d.NextAttemptAt = now.Add(WebhookBackoff[d.Attempts-1])
				}
				err := w.Store.Update(ctx, func(tx WebhookTx) error { return w.record(ctx, tx, d) })
				mu.Lock()
				if d.Status == DeliveryDelivered {
					delivered++
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if (status < 200 || status >= 300) && w.Logger != nil {
					w.Logger.WarnContext(ctx, "webhook not delivered", slog.String("processor", d.ProcessorID), slog.String("event", d.ID), slog.Int("status", status), slog.String("cause", cause), slog.Int("attempt", d.Attempts))
				}
			}
		}(groups[pid])
	}
	wg.Wait()
	if len(unsent) > 0 {
		rctx := context.WithoutCancel(ctx) // also when the server stops: released now, not at the lease's end
		err := w.Store.Update(rctx, func(tx WebhookTx) error { return tx.LeaseDeliveries(rctx, unsent, now) })
		if err != nil && w.Logger != nil {
			w.Logger.WarnContext(ctx, "webhook deliveries not posted wait for their lease to end", slog.Int("deliveries", len(unsent)), slog.Any("error", err))
		}
	}
	return delivered, firstErr
}

// record stores a delivery's outcome; one of Art19Kinds that failed for good leaves the recipient
// untold, so it becomes a NotificationTask (GDPR Art. 19).
func (w *Webhooks) record(ctx context.Context, tx WebhookTx, d Delivery) error {
	if err := tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	if d.Status == DeliveryFailed && slices.Contains(Art19Kinds, d.Kind) {
		return w.taskIn(ctx, tx, d.ProcessorID, d.ContactID, d.Kind, CauseWebhookFailed)
	}
	return nil
}

func (w *Webhooks) secret(ctx context.Context, tx WebhookTx, p *Record) ([]byte, error) {
	if len(p.WebhookSecret) == 0 {
		return nil, fmt.Errorf("share: processor %s has a webhook URL but no secret", p.ID)
	}
	version, wrapped, err := tx.DataKey(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	dk, err := w.Keys.OpenDataKey(p.ID, version, wrapped)
	if err != nil {
		return nil, err
	}
	return dk.Open("processors", "webhook_secret", p.ID, p.WebhookSecret)
}

// Ack is the body of POST /webhooks/acknowledgements.
type Ack struct {
	EventID string `json:"event_id"`
}

// Acknowledge records that the processor erased the contact an "erased" event named: the body
// is {"event_id": …}, signed with the processor's secret in SignatureHeader (within 5 minutes).
// Audited as "webhook.acknowledge". Unauthenticated (401) for a bad or stale signature or an
// unknown event (the same answer, so event ids cannot be probed); Invalid for a body that is not
// an acknowledgement or an event that is not an erasure.
func (w *Webhooks) Acknowledge(ctx context.Context, header string, body []byte) error {
	var a Ack
	if err := jsonin.Decode(body, &a); err != nil {
		return err
	}
	if a.EventID == "" {
		return apperr.Invalidf("event_id", "required", "event_id: the id of the erased event")
	}
	bad := &apperr.Error{Kind: apperr.Unauthenticated, Reason: "bad_signature", Message: "the acknowledgement's signature does not verify"}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "webhook-ack"})
	return w.Store.Update(ctx, func(tx WebhookTx) error {
		d, err := tx.DeliveryByID(ctx, a.EventID)
		if apperr.Is(err, apperr.NotFound) {
			return bad
		}
		if err != nil {
			return err
		}
		p, err := tx.ProcessorByID(ctx, d.ProcessorID)
		if err != nil {
			return err
		}
		secret, err := w.secret(ctx, tx, p)
		if err != nil {
			return err
		}
		if !Verify(secret, header, body, w.Now(), 5*time.Minute) {
			return bad
		}
		if d.Kind != "erased" {
			return apperr.Invalidf("event_id", "not_erasure", "event_id: only an erasure is acknowledged")
		}
		if d.AcknowledgedAt == nil {
			t := w.Now().UTC()
			d.AcknowledgedAt = &t
			if err := tx.UpdateDelivery(ctx, d); err != nil {
				return err
			}
		}
		ev := audit.New(ctx, w.Now(), "webhook.acknowledge", "processor", p.ID, "erasure")
		return tx.AppendAudit(ctx, &ev)
	})
}

// Deliveries returns a processor's delivery log, newest first: at most limit (default 100, at
// most 500) of kind (any when ""), before the cursor (the last id of the previous page), and the
// cursor of the next page ("" after the last).
func (w *Webhooks) Deliveries(ctx context.Context, processorID string, limit int) ([]Delivery, error) {
	ds, _, err := w.Log(ctx, processorID, "", "", limit)
	return ds, err
}

// Log is Deliveries with a kind filter and paging.
func (w *Webhooks) Log(ctx context.Context, processorID, kind, cursor string, limit int) ([]Delivery, string, error) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 500 {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: at most 500")
	}
	out := []Delivery{}
	next := ""
	err := w.Store.Update(ctx, func(tx WebhookTx) error {
		if _, err := tx.ProcessorByID(ctx, processorID); err != nil {
			return err
		}
		ds, err := tx.Deliveries(ctx, processorID, kind, cursor, limit+1)
		if len(ds) > limit {
			ds = ds[:limit]
			next = ds[limit-1].ID
		}
		for i := range ds {
			if ds[i].Attempts > 0 && ds[i].LastStatus == 0 {
				ds[i].LastError = Unreachable
			}
		}
		out = append(out, ds...)
		return err
	})
	return out, next, err
}

// Run fans out and delivers every interval until ctx ends.
func (w *Webhooks) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.Fanout(ctx, 1000); err != nil && ctx.Err() == nil && w.Logger != nil {
			w.Logger.ErrorContext(ctx, "webhook fan-out", slog.Any("error", err))
		}
		if _, err := w.SendDue(ctx, 100); err != nil && ctx.Err() == nil && w.Logger != nil {
			w.Logger.ErrorContext(ctx, "webhook delivery", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
