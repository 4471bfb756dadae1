package governance

import (
	"context"
	"regexp"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// Policy is a retention policy: contacts of Kind with no lawful basis left for AfterDays days are
// erased (GDPR Art. 5(1)(e), storage limitation). "No lawful basis left" means no consent given
// and in force for any purpose (an accepted contract counts, being recorded as an acceptance),
// no consent event and no change for AfterDays days. A contact under legal hold, restricted
// (Art. 18) or with an open data subject request is never swept.
type Policy struct {
	ID   string       `json:"id"`
	Kind contact.Kind `json:"kind"`
	// Purpose, when set, limits the policy to contacts collected for that purpose (they have a
	// consent event for it), such as the leads of a newsletter sign-up who never confirmed.
	Purpose   string    `json:"purpose,omitempty"`
	AfterDays int       `json:"after_days"`
	CreatedAt time.Time `json:"created_at"`
}

// RetentionTx is what retention needs from one store transaction.
type RetentionTx interface {
	InsertPolicy(ctx context.Context, p Policy) error // Conflict when the id is taken
	DeletePolicy(ctx context.Context, id string) error
	Policies(ctx context.Context) ([]Policy, error)
	// Expired returns up to limit ids of contacts of kind (and, when purpose is not "", with a
	// consent event for it) that have no consent given, no consent event since before, no change
	// since before, no legal hold, no restriction and no open request, after the id after, in id
	// order.
	Expired(ctx context.Context, kind contact.Kind, purpose string, before time.Time, after string, limit int) ([]string, error)
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

// RetentionStore runs serialized transactions.
type RetentionStore interface {
	Update(ctx context.Context, fn func(RetentionTx) error) error
}

// Retention keeps the policies and sweeps. Fields are set once by internal/cli.
type Retention struct {
	Store    RetentionStore
	Contacts *contact.Service
	Now      func() time.Time
	Batch    int // contacts erased per batch (default 500)
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

// Sweep applies every policy at this moment: each expired contact is erased (the ordinary
// erasure, audited per contact, actor "system:retention") in batches, and the sweep's counts are
// audited as "retention.sweep" on each policy. With dryRun nothing is erased and the result lists
// who would be (WouldErase, with Erased 0). Idempotent: a second sweep finds nothing the first one left.
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
		before := r.Now().UTC().AddDate(0, 0, -p.AfterDays)
		after := ""
		for {
			var ids []string
			if err := r.Store.Update(ctx, func(tx RetentionTx) error {
				var err error
				ids, err = tx.Expired(ctx, p.Kind, p.Purpose, before, after, batch)
				return err
			}); err != nil {
				return res, err
			}
			for _, id := range ids {
				if !dryRun {
					if err := r.Contacts.Erase(ctx, id); err != nil && !apperr.Is(err, apperr.NotFound) {
						return res, err
					}
				}
				out.Contacts = append(out.Contacts, id)
			}
			if len(ids) < batch {
				break
			}
			after = ids[len(ids)-1]
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
