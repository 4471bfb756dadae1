package governance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// Policy is a retention policy: contacts of Kind with no lawful basis left for AfterDays days are
// erased (GDPR Art. 5(1)(e), storage limitation). Erases is the rule.
type Policy struct {
	ID   string       `json:"id"`
	Kind contact.Kind `json:"kind"`
	// Purpose, when set, limits the policy to contacts collected for that purpose (they have a
	// consent event for it), such as the leads of a newsletter sign-up who never confirmed.
	Purpose   string    `json:"purpose,omitempty"`
	AfterDays int       `json:"after_days"`
	CreatedAt time.Time `json:"created_at"`
}

// Candidate is what the store knows about one contact that a retention policy decides on
// (Policy.Erases): ids, times, states and flags, never a personal field.
type Candidate struct {
	ContactID string
	Kind      contact.Kind
	UpdatedAt time.Time // the last change of the contact's record
	// LastConsentEvent is the latest time at which any of the contact's consent events happened
	// or was recorded (an old event imported late counts from its recording); zero when it has
	// none.
	LastConsentEvent time.Time
	// Purposes are the purposes the contact has a consent event for, pending ones included:
	// those it was collected for. In id order.
	Purposes []string
	// States are the contact's current consent states (the projection: a pending event is not
	// current), one per purpose that has one, distinct, in order.
	States     []consent.State
	LegalHold  bool // kept for legal claims (GDPR Art. 17(3)(e)), set by staff
	Restricted bool // processing restricted (Art. 18)
	// OpenRequest: a data subject request about it is open (neither completed nor rejected):
	// one bound to the contact, or one from its address still waiting for identity.
	OpenRequest bool
}

// Erases reports whether policy p erases contact c at now: the contact is of the policy's kind
// (and, for a policy with a purpose, was collected for it: one of c.Purposes), and has no lawful
// basis left for p.AfterDays days before now, meaning no consent given and in force for any
// purpose (an accepted contract counts, being recorded as an acceptance; a consent marked for
// re-consent is still given), neither a consent event nor a change since that cut-off (a time
// exactly at the cut-off is since). A contact under legal hold (Art. 17(3)(e)), restricted
// (Art. 18) or with an open data subject request (its answer needs the data: Art. 12(3), 15-22)
// is never erased. Purposes' own lawful bases and retention_days play no part: the policy's
// period is the one that counts.
func (p Policy) Erases(c Candidate, now time.Time) bool {
	cutoff := p.Cutoff(now)
	switch {
	case c.Kind != p.Kind, p.Purpose != "" && !slices.Contains(c.Purposes, p.Purpose):
		return false
	case c.LegalHold, c.Restricted, c.OpenRequest:
		return false
	case slices.Contains(c.States, consent.Given):
		return false
	case !c.UpdatedAt.Before(cutoff), !c.LastConsentEvent.Before(cutoff):
		return false
	}
	return true
}

// Cutoff is the instant before which a contact must have had its last change and consent event
// for p to erase it at now: now less p.AfterDays calendar days, in UTC.
func (p Policy) Cutoff(now time.Time) time.Time {
	return now.UTC().AddDate(0, 0, -p.AfterDays)
}

// CandidateQuery selects the contacts a sweep reads: up to Limit contacts of Kind with ids after
// After, in id order, idle since IdleBefore: their record changed before it and every consent
// event of theirs both happened and was recorded before it (Candidate.UpdatedAt and
// LastConsentEvent earlier than IdleBefore). The store narrows by these facts only, so that an
// hourly sweep over contacts none of whom is due reads none of them; Policy.Erases still
// decides over every fact. A zero IdleBefore selects no one.
type CandidateQuery struct {
	Kind       contact.Kind
	IdleBefore time.Time
	After      string
	Limit      int
}

// RetentionTx is what retention needs from one store transaction.
type RetentionTx interface {
	InsertPolicy(ctx context.Context, p Policy) error // Conflict when the id is taken
	DeletePolicy(ctx context.Context, id string) error
	Policies(ctx context.Context) ([]Policy, error)
	// RetentionCandidates returns the Candidate of every contact q selects, at most q.Limit, in
	// id order (a read; no personal field is read, nothing is decrypted).
	RetentionCandidates(ctx context.Context, q CandidateQuery) ([]Candidate, error)
	// DeleteExpiredOptinTokens deletes double opt-in links that expired before now (unconfirmed
	// requests expire) and returns how many.
	DeleteExpiredOptinTokens(ctx context.Context, now time.Time) (int, error)
	// PurposeBasis returns the purpose's lawful basis and whether it records acceptances; ok is
	// false when there is no such purpose.
	PurposeBasis(ctx context.Context, id string) (basis string, acceptance, ok bool, err error)
	SetLegalHold(ctx context.Context, contactID string, on bool) error // NotFound when absent
	LegalHold(ctx context.Context, contactID string) (bool, error)     // NotFound when absent
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// RetentionStore runs serialized transactions (Update) and read-only ones (View).
type RetentionStore interface {
	Update(ctx context.Context, fn func(RetentionTx) error) error
	View(ctx context.Context, fn func(RetentionTx) error) error
}

// Retention keeps the policies and sweeps. Fields are set once by internal/cli.
type Retention struct {
	Store    RetentionStore
	Contacts *contact.Service
	Now      func() time.Time
	Batch    int // contacts read per batch of a sweep (default 500)
}

var policyID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreatePolicy stores a policy ("retention.policy_create"). Invalid for a bad slug id, a kind other
// than lead or contact, or after_days outside 1–36500; Conflict for a taken id.
func (r *Retention) CreatePolicy(ctx context.Context, p Policy) (Policy, error) {
	switch {
	case !policyID.MatchString(p.ID):
		return Policy{}, apperr.Invalidf("id", "invalid_id", "id: a slug such as leads-30-days")
	case p.Kind != contact.KindLead && p.Kind != contact.KindContact:
		return Policy{}, apperr.Invalidf("kind", "invalid_kind", "kind: lead or contact")
	case p.AfterDays < 1 || p.AfterDays > 36500:
		return Policy{}, apperr.Invalidf("after_days", "invalid_days", "after_days: 1 to 36500")
	}
	p.CreatedAt = r.Now().UTC()
	err := r.Store.Update(ctx, func(tx RetentionTx) error {
		if p.Purpose != "" {
			basis, acceptance, ok, err := tx.PurposeBasis(ctx, p.Purpose)
			if err != nil {
				return err
			}
			if !ok {
				return apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
			}
			if basis != consent.BasisConsent && !acceptance {
				// Contacts are tied to a purpose by their consent events; nothing ties them to a
				// purpose on another basis, so such a policy would match no one.
				return apperr.Invalidf("purpose", "not_consent_based", "purpose: a policy can be scoped only to a consent-based purpose")
			}
		}
		if err := tx.InsertPolicy(ctx, p); err != nil {
			return err
		}
		ev := audit.New(ctx, p.CreatedAt, "retention.policy_create", "retention_policy", p.ID, "kind", "after_days")
		return tx.AppendAudit(ctx, &ev)
	})
	return p, err
}

// DeletePolicy removes a policy ("retention.policy_delete"); NotFound when absent.
func (r *Retention) DeletePolicy(ctx context.Context, id string) error {
	return r.Store.Update(ctx, func(tx RetentionTx) error {
		if err := tx.DeletePolicy(ctx, id); err != nil {
			return err
		}
		ev := audit.New(ctx, r.Now(), "retention.policy_delete", "retention_policy", id)
		return tx.AppendAudit(ctx, &ev)
	})
}

// Policies returns every policy in id order.
func (r *Retention) Policies(ctx context.Context) ([]Policy, error) {
	out := []Policy{}
	err := r.Store.Update(ctx, func(tx RetentionTx) error {
		ps, err := tx.Policies(ctx)
		out = append(out, ps...)
		return err
	})
	return out, err
}

// SetLegalHold puts a contact under legal hold (kept out of every sweep, GDPR Art. 17(3)(e)) or
// lifts it ("contact.legal_hold" / "contact.legal_hold_lift"). NotFound for an unknown contact.
func (r *Retention) SetLegalHold(ctx context.Context, contactID string, on bool) error {
	return r.Store.Update(ctx, func(tx RetentionTx) error {
		if err := tx.SetLegalHold(ctx, contactID, on); err != nil {
			return err
		}
		action := "contact.legal_hold"
		if !on {
			action = "contact.legal_hold_lift"
		}
		ev := audit.New(ctx, r.Now(), action, "contact", contactID, "legal_hold")
		return tx.AppendAudit(ctx, &ev)
	})
}

// LegalHold reports whether the contact is under legal hold; NotFound for an unknown contact.
func (r *Retention) LegalHold(ctx context.Context, contactID string) (bool, error) {
	var on bool
	err := r.Store.Update(ctx, func(tx RetentionTx) error {
		var err error
		on, err = tx.LegalHold(ctx, contactID)
		return err
	})
	return on, err
}

// SweepResult is what a sweep found and did, per policy.
type SweepResult struct {
	DryRun   bool            `json:"dry_run"`
	Policies []PolicyOutcome `json:"policies"`
	// Erased is how many contacts the sweep erased: always 0 on a dry run, which erases no one.
	Erased int `json:"erased"`
	// WouldErase is how many contacts a dry run found that a sweep would erase now (0 on a real
	// sweep, which reports them in Erased).
	WouldErase int `json:"would_erase"`
	// ExpiredLinks is how many unconfirmed double opt-in links past their expiry were deleted
	// (0 on a dry run).
	ExpiredLinks int `json:"expired_optin_links"`
}

// PolicyOutcome is one policy's part of a sweep: the ids it erased (or would erase).
type PolicyOutcome struct {
	Policy   string   `json:"policy"`
	Contacts []string `json:"contacts"`
}

// Sweep applies every policy at this moment: Policy.Erases decides over the candidates the store
// reads in batches of Batch, in id order; each contact it erases goes by the ordinary erasure
// (audited per contact, actor "system:retention"), and the sweep's counts are audited as
// "retention.sweep" on each policy. With dryRun nothing is erased and the result lists who would
// be (WouldErase, with Erased 0). Idempotent: a second sweep finds nothing the first one left.
func (r *Retention) Sweep(ctx context.Context, dryRun bool) (SweepResult, error) {
	if audit.ActorFrom(ctx).Kind == audit.ActorSystem { // a scheduled sweep; a staff one keeps its token
		ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "retention"})
	}
	res := SweepResult{DryRun: dryRun, Policies: []PolicyOutcome{}}
	policies, err := r.Policies(ctx)
	if err != nil {
		return res, err
	}
	if !dryRun {
		if err := r.Store.Update(ctx, func(tx RetentionTx) error {
			var err error
			res.ExpiredLinks, err = tx.DeleteExpiredOptinTokens(ctx, r.Now().UTC())
			return err
		}); err != nil {
			return res, err
		}
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 500
	}
	for _, p := range policies {
		out := PolicyOutcome{Policy: p.ID, Contacts: []string{}}
		now := r.Now().UTC()
		after := ""
		for {
			var cs []Candidate
			if err := r.Store.View(ctx, func(tx RetentionTx) error {
				var err error
				cs, err = tx.RetentionCandidates(ctx, CandidateQuery{Kind: p.Kind, IdleBefore: p.Cutoff(now), After: after, Limit: batch})
				return err
			}); err != nil {
				return res, err
			}
			prev := after
			for _, c := range cs {
				from := prev
				prev = c.ContactID
				if !p.Erases(c, now) {
					continue
				}
				if !dryRun {
					err := r.Contacts.EraseGuarded(ctx, c.ContactID, r.stillErases(p, from, now))
					if errors.Is(err, errKept) || apperr.Is(err, apperr.NotFound) {
						continue // changed since the batch was read (a legal hold, a consent), or gone
					}
					if err != nil {
						return res, err
					}
				}
				out.Contacts = append(out.Contacts, c.ContactID)
			}
			if len(cs) < batch {
				break
			}
			after = cs[len(cs)-1].ContactID
		}
		if !dryRun {
			ev := audit.New(ctx, r.Now(), "retention.sweep", "retention_policy", p.ID, "erased")
			if err := r.Store.Update(ctx, func(tx RetentionTx) error { return tx.AppendAudit(ctx, &ev) }); err != nil {
				return res, err
			}
		}
		if dryRun {
			res.WouldErase += len(out.Contacts)
		} else {
			res.Erased += len(out.Contacts)
		}
		res.Policies = append(res.Policies, out)
	}
	return res, nil
}

// errKept is stillErases' refusal: the contact no longer meets the policy.
var errKept = errors.New("governance: the contact no longer meets the retention policy")

// stillErases is the erasure's guard: inside the erasure's own transaction it reads the
// contact's facts again (the first candidate after from, which is the contact unless it is gone)
// and decides again, so that a legal hold, a restriction, a request or a consent recorded after
// the batch was read keeps the contact (GDPR Art. 17(3)(e), 18; no decision on stale facts).
func (r *Retention) stillErases(p Policy, from string, now time.Time) contact.Guard {
	return func(ctx context.Context, ctTx contact.Tx, rec *contact.Record) error {
		tx, ok := ctTx.(RetentionTx)
		if !ok {
			return fmt.Errorf("governance: erasing %s: the store transaction does not hold retention facts", rec.ID)
		}
		cs, err := tx.RetentionCandidates(ctx, CandidateQuery{Kind: p.Kind, IdleBefore: p.Cutoff(now), After: from, Limit: 1})
		if err != nil {
			return err
		}
		if len(cs) == 0 || cs[0].ContactID != rec.ID || !p.Erases(cs[0], now) {
			return errKept
		}
		return nil
	}
}
