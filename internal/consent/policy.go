package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// Policy documents (DESIGN §2).
const (
	DocPrivacyPolicy  = "privacy_policy"
	DocTermsOfService = "terms_of_service"
	DocDPATemplate    = "dpa_template"
	// DocBreachNoticeTemplate drafts the notice to the people affected by a breach (GDPR Art.
	// 34(2)); the built-in text serves while none is published.
	DocBreachNoticeTemplate = "breach_notice_template"
)

// MaxPolicyBody is the largest policy body Draft takes, in bytes of UTF-8 (512 KiB).
const MaxPolicyBody = 512 << 10

// Documents lists every policy document.
var Documents = []string{DocPrivacyPolicy, DocTermsOfService, DocDPATemplate, DocBreachNoticeTemplate}

// reconsentDocuments are the documents whose material change asks people for consent again
// (GDPR Art. 7 and Art. 13(3): consent must be informed by the notice in force).
var reconsentDocuments = []string{DocPrivacyPolicy, DocTermsOfService}

// PolicyVersion is one version of a policy document. Versions are numbered from 1 per document;
// a published version is never changed.
type PolicyVersion struct {
	ID          string     `json:"id"`
	Document    string     `json:"document"`
	Version     int        `json:"version"`
	Body        string     `json:"body"`   // Markdown
	SHA256      string     `json:"sha256"` // hex SHA-256 of Body
	Material    bool       `json:"material"`
	EffectiveAt time.Time  `json:"effective_at"`
	CreatedAt   time.Time  `json:"created_at"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

// PolicyTx is what the policy rules need from a store transaction.
type PolicyTx interface {
	InsertPolicyVersion(ctx context.Context, v PolicyVersion) error
	PolicyVersionByID(ctx context.Context, id string) (PolicyVersion, error) // NotFound when absent
	PolicyVersions(ctx context.Context) ([]PolicyVersion, error)             // by document, then version
	// LatestPolicyVersion returns the highest version number of the document (0 when none).
	LatestPolicyVersion(ctx context.Context, document string) (int, error)
	PublishPolicyVersion(ctx context.Context, id string, at, effective time.Time) error
	// CurrentPolicyVersions returns, per document, the version of the latest published version in
	// effect at at.
	CurrentPolicyVersions(ctx context.Context, at time.Time) (map[string]int, error)
	// MarkReconsent flags every given consent of a consent-based purpose that was not given under
	// version (or later) of the document, and returns the flagged (contact, purpose) pairs.
	MarkReconsent(ctx context.Context, document string, version int) ([][2]string, error)
	AppendConsentChanges(ctx context.Context, cs []Change) error
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// PolicyStore runs serialized transactions for policies.
type PolicyStore interface {
	Update(ctx context.Context, fn func(PolicyTx) error) error
}

// Policies manages policy documents and their versions.
type Policies struct {
	Store PolicyStore
	Now   func() time.Time
	NewID func() string
	// Check, when set, checks a body before Draft stores it and before Publish publishes it (a
	// draft made before a rule existed), such as the placeholders of a template; its error is
	// returned as it is. Set once by internal/cli (governance.CheckTemplate).
	Check func(document, body string) error
}

// Draft stores a new, unpublished version of document with the next version number
// ("policy.draft"). material says whether the change is material (GDPR Art. 13(3)): publishing a
// material version of the privacy policy or the terms asks for consent again. Invalid for an
// unknown document or an empty body, one over MaxPolicyBody bytes (512 KiB) or one that is not
// UTF-8; Check's error when it refuses the body.
func (s *Policies) Draft(ctx context.Context, document, body string, material bool) (PolicyVersion, error) {
	if !slices.Contains(Documents, document) {
		return PolicyVersion{}, apperr.Invalidf("document", "invalid_document", "document: must be privacy_policy, terms_of_service, dpa_template or breach_notice_template")
	}
	if body == "" || len(body) > MaxPolicyBody || !utf8.ValidString(body) {
		return PolicyVersion{}, apperr.Invalidf("body", "invalid_body", "body: 1 byte to 512 KiB of UTF-8 Markdown")
	}
	if s.Check != nil {
		if err := s.Check(document, body); err != nil {
			return PolicyVersion{}, err
		}
	}
	now := s.Now().UTC()
	sum := sha256.Sum256([]byte(body))
	// A version takes effect when it is published (re-consent is marked then); until then
	// EffectiveAt is the draft's creation time.
	v := PolicyVersion{ID: s.NewID(), Document: document, Body: body, SHA256: hex.EncodeToString(sum[:]), Material: material, EffectiveAt: now, CreatedAt: now}
	err := s.Store.Update(ctx, func(tx PolicyTx) error {
		n, err := tx.LatestPolicyVersion(ctx, document)
		if err != nil {
			return err
		}
		v.Version = n + 1
		if err := tx.InsertPolicyVersion(ctx, v); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "policy.draft", "policy", v.ID, document)
		return tx.AppendAudit(ctx, &ev)
	})
	return v, err
}

// PublishResult says what publishing changed.
type PublishResult struct {
	Version PolicyVersion `json:"version"`
	// Reconsent is the number of consents now marked needs_reconsent (material versions of the
	// privacy policy or terms, when an earlier version was published).
	Reconsent int `json:"reconsent"`
}

// Publish publishes a draft version ("policy.publish", fields "material" or "non_material"),
// effective from now. A material version of the privacy policy or the terms, published while an
// earlier version is in effect, marks every consent given under an
// older version needs_reconsent: the gate refuses processing that depends on it until the person
// consents again. A non-material version changes no consent. Conflict when already published, or
// when a later version of the document is (reason superseded); Check's error when it refuses the
// body.
func (s *Policies) Publish(ctx context.Context, id string) (PublishResult, error) {
	now := s.Now().UTC()
	var res PublishResult
	err := s.Store.Update(ctx, func(tx PolicyTx) error {
		v, err := tx.PolicyVersionByID(ctx, id)
		if err != nil {
			return err
		}
		if v.PublishedAt != nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "already_published", Message: "this version is published already; draft a new one", ID: v.ID}
		}
		if s.Check != nil {
			if err := s.Check(v.Document, v.Body); err != nil {
				return err
			}
		}
		earlier, err := tx.CurrentPolicyVersions(ctx, now) // before this version is published
		if err != nil {
			return err
		}
		if earlier[v.Document] > v.Version {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "superseded", Message: "a later version of this document is published already; draft a new one", ID: v.ID}
		}
		v.EffectiveAt = now
		if err := tx.PublishPolicyVersion(ctx, v.ID, now, v.EffectiveAt); err != nil {
			return err
		}
		v.PublishedAt = &now
		res.Version = v
		kind := "non_material"
		if v.Material {
			kind = "material"
		}
		if v.Material && earlier[v.Document] > 0 && slices.Contains(reconsentDocuments, v.Document) {
			pairs, err := tx.MarkReconsent(ctx, v.Document, v.Version)
			if err != nil {
				return err
			}
			res.Reconsent = len(pairs)
			changes := make([]Change, len(pairs))
			for i, p := range pairs {
				changes[i] = Change{ContactID: p[0], Purpose: p[1], Change: "needs_reconsent", OccurredAt: v.EffectiveAt, RecordedAt: now}
			}
			if err := tx.AppendConsentChanges(ctx, changes); err != nil {
				return err
			}
		}
		ev := audit.New(ctx, now, "policy.publish", "policy", v.ID, v.Document, kind)
		return tx.AppendAudit(ctx, &ev)
	})
	return res, err
}

// List returns every version of every document.
func (s *Policies) List(ctx context.Context) ([]PolicyVersion, error) {
	var out []PolicyVersion
	err := s.Store.Update(ctx, func(tx PolicyTx) error {
		var err error
		out, err = tx.PolicyVersions(ctx)
		return err
	})
	return out, err
}

// Get returns one version; NotFound when absent.
func (s *Policies) Get(ctx context.Context, id string) (PolicyVersion, error) {
	var out PolicyVersion
	err := s.Store.Update(ctx, func(tx PolicyTx) error {
		var err error
		out, err = tx.PolicyVersionByID(ctx, id)
		return err
	})
	return out, err
}

// versionStrings renders current policy versions the way consent events record them.
func versionStrings(m map[string]int) map[string]string {
	out := make(map[string]string, len(m))
	for doc, v := range m {
		out[doc] = strconv.Itoa(v)
	}
	return out
}

// Current returns the version in effect now of every document that has one.
func (s *Policies) Current(ctx context.Context) (map[string]PolicyVersion, error) {
	out := map[string]PolicyVersion{}
	err := s.Store.Update(ctx, func(tx PolicyTx) error {
		cur, err := tx.CurrentPolicyVersions(ctx, s.Now())
		if err != nil {
			return err
		}
		all, err := tx.PolicyVersions(ctx)
		if err != nil {
			return err
		}
		for _, v := range all {
			if cur[v.Document] == v.Version {
				out[v.Document] = v
			}
		}
		return nil
	})
	return out, err
}

// PolicyState is what consent recording needs to know about published policy versions.
type PolicyState struct {
	current   map[string]int          // version in effect per document
	published map[string]map[int]bool // published version numbers per document
	trigger   map[string]int          // highest version per document that asks for re-consent
}

// LoadPolicyState reads the published versions at now from versions (every version of every
// document). A version asks for re-consent when it is material, of the privacy policy or the
// terms, and published after the document's first published version (as Publish marks).
func LoadPolicyState(versions []PolicyVersion, now time.Time) PolicyState {
	ps := PolicyState{current: map[string]int{}, published: map[string]map[int]bool{}, trigger: map[string]int{}}
	first := map[string]int{}
	for _, v := range versions {
		if v.PublishedAt == nil || v.EffectiveAt.After(now) {
			continue
		}
		if ps.published[v.Document] == nil {
			ps.published[v.Document] = map[int]bool{}
		}
		ps.published[v.Document][v.Version] = true
		if v.Version > ps.current[v.Document] {
			ps.current[v.Document] = v.Version
		}
		if f, ok := first[v.Document]; !ok || v.Version < f {
			first[v.Document] = v.Version
		}
	}
	for _, v := range versions {
		if ps.published[v.Document][v.Version] && v.Material && v.Version > first[v.Document] &&
			slices.Contains(reconsentDocuments, v.Document) && v.Version > ps.trigger[v.Document] {
			ps.trigger[v.Document] = v.Version
		}
	}
	return ps
}

// Current returns the versions in effect of the documents people agree to (privacy policy and
// terms; the DPA template is for customers, the breach notice template for the controller), as
// consent events record them.
func (ps PolicyState) Current() map[string]string {
	out := versionStrings(ps.current)
	delete(out, DocDPATemplate)
	delete(out, DocBreachNoticeTemplate)
	return out
}

// Check refuses policy versions that were never published or were not in effect at the time the
// state was loaded for (the event's occurred_at: a consent cannot cite a later version).
func (ps PolicyState) Check(pv map[string]string) error {
	for doc, s := range pv {
		if !slices.Contains(Documents, doc) {
			return apperr.Invalidf("policy_versions", "invalid_document", "policy_versions: %s is not a policy document (privacy_policy, terms_of_service, dpa_template, breach_notice_template)", doc)
		}
		n, err := strconv.Atoi(s)
		if err != nil || !ps.published[doc][n] {
			return apperr.Invalidf("policy_versions", "unknown_version", "policy_versions: %s has no published version %q in effect", doc, s)
		}
	}
	return nil
}

// Stale reports whether consent for purpose p given under the versions pv predates a material
// change that asks for re-consent: a privacy policy change affects consent-based purposes, a
// terms change affects acceptance purposes (a version missing from pv counts as older than any).
func (ps PolicyState) Stale(p Purpose, pv map[string]string) bool {
	for doc, t := range ps.trigger {
		if !affects(doc, p) {
			continue
		}
		n, _ := strconv.Atoi(pv[doc])
		if n < t {
			return true
		}
	}
	return false
}

// affects reports whether a material change of the document asks p's consent again.
func affects(document string, p Purpose) bool {
	switch document {
	case DocPrivacyPolicy:
		return p.LawfulBasis == BasisConsent && !p.Acceptance
	case DocTermsOfService:
		return p.Acceptance
	}
	return false
}
