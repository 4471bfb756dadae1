package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// Role is a staff or integration role.
type Role string

// The roles.
const (
	RoleAdmin   Role = "admin"   // everything
	RoleDPO     Role = "dpo"     // data protection officer: personal data, consent, erasure, audit
	RoleAgent   Role = "agent"   // support and sales: contacts, consent, imports; no erasure, no audit
	RoleAuditor Role = "auditor" // the audit log and the catalogue; never a personal field
	// RoleProcessor is one processor's integration: it reads only the contacts shared with that
	// processor, only the fields shared, and only while the purpose is still allowed.
	RoleProcessor Role = "processor"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleDPO, RoleAgent, RoleAuditor, RoleProcessor}

// Permission names one kind of action.
type Permission string

// The permissions.
const (
	ContactsRead  Permission = "contacts.read" // decrypts personal fields
	ContactsWrite Permission = "contacts.write"
	ContactsErase Permission = "contacts.erase"
	ConsentsRead  Permission = "consents.read"
	ConsentsWrite Permission = "consents.write"
	ConsentsCheck Permission = "consents.check" // ask the consent gate; reads no personal field
	// ContactsRestrict restricts processing (GDPR Art. 18) and lifts restrictions and objections:
	// data subject request actions, for admin and dpo.
	ContactsRestrict Permission = "contacts.restrict"
	// CampaignsWrite creates, reads and sends marketing campaigns.
	CampaignsWrite Permission = "campaigns.write"
	// CampaignsRead reads campaigns and their counts (no personal field): also for the DPO, who
	// monitors what is sent under which purpose (GDPR Art. 39(1)(b)).
	CampaignsRead Permission = "campaigns.read"
	// CampaignRecipients lists who a campaign considered, by contact id and outcome: for every
	// staff role. The reason (the person's consent state) is shown only to roles with
	// ContactsRead; the auditor sees ids and outcomes.
	CampaignRecipients Permission = "campaigns.recipients"
	// RequestsRead reads the data subject request queue, a request's requester address, details
	// and timeline; RequestsWrite records requests and moves them through their workflow. Acting
	// on a contact (erasure, restriction) still needs that action's own permission.
	RequestsRead  Permission = "requests.read"
	RequestsWrite Permission = "requests.write"
	// ProcessorsRead reads the register of processors (no personal data); ProcessorsWrite
	// registers and changes them; Disclose asks for a consent-gated disclosure to one.
	ProcessorsRead  Permission = "processors.read"
	ProcessorsWrite Permission = "processors.write"
	Disclose        Permission = "disclosures.write"
	// SharedRead reads a contact shared with the token's processor (processor tokens only).
	SharedRead Permission = "shared.read"
	// BreachesRead reads the breach register (Art. 33(5)); BreachesWrite records and updates it.
	BreachesRead  Permission = "breaches.read"
	BreachesWrite Permission = "breaches.write"
	PurposesRead  Permission = "purposes.read"
	PurposesWrite Permission = "purposes.write"
	ImportsWrite  Permission = "imports.write"
	AuditRead     Permission = "audit.read"
)

var grants = map[Role][]Permission{
	RoleAdmin:     {BreachesRead, BreachesWrite, ProcessorsRead, ProcessorsWrite, Disclose, RequestsRead, RequestsWrite, CampaignsWrite, CampaignsRead, CampaignRecipients, ContactsRead, ContactsWrite, ContactsErase, ContactsRestrict, ConsentsRead, ConsentsWrite, ConsentsCheck, PurposesRead, PurposesWrite, ImportsWrite, AuditRead},
	RoleDPO:       {BreachesRead, BreachesWrite, ProcessorsRead, ProcessorsWrite, Disclose, RequestsRead, RequestsWrite, CampaignsRead, CampaignRecipients, ContactsRead, ContactsWrite, ContactsErase, ContactsRestrict, ConsentsRead, ConsentsWrite, ConsentsCheck, PurposesRead, PurposesWrite, ImportsWrite, AuditRead},
	RoleAgent:     {ProcessorsRead, Disclose, RequestsRead, RequestsWrite, CampaignsWrite, CampaignsRead, CampaignRecipients, ContactsRead, ContactsWrite, ConsentsRead, ConsentsWrite, ConsentsCheck, PurposesRead, ImportsWrite},
	RoleAuditor:   {BreachesRead, ProcessorsRead, PurposesRead, AuditRead, CampaignRecipients},
	RoleProcessor: {SharedRead},
}

// Allows reports whether role r has permission p.
func Allows(r Role, p Permission) bool { return slices.Contains(grants[r], p) }

// Token is a stored API token, without its secret.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// ProcessorID is the processor a token of role processor speaks for ("" for staff roles).
	ProcessorID string `json:"processor_id,omitempty"`
}

// Tx is what token rules need from a store transaction.
type Tx interface {
	InsertToken(ctx context.Context, t Token, hash []byte) error
	TokenByHash(ctx context.Context, hash []byte) (Token, error) // NotFound when none
	CountLiveTokens(ctx context.Context) (int, error)
	ListTokens(ctx context.Context) ([]Token, error)                // in creation order
	RevokeToken(ctx context.Context, id string, at time.Time) error // NotFound when absent or revoked
	AppendAudit(ctx context.Context, e *audit.Event) error

	// Console sign-ins (Session): by the SHA-256 of the session id.
	InsertConsoleSession(ctx context.Context, hash, tokenHash []byte, expires time.Time) error
	ConsoleSession(ctx context.Context, hash []byte) (tokenHash []byte, expires time.Time, err error) // NotFound when none
	DeleteConsoleSession(ctx context.Context, hash []byte) error
	DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error)
}

// Store runs serialized transactions, and read-only ones that never wait for them.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Service creates and checks tokens.
type Service struct {
	Store Store
	Now   func() time.Time
	NewID func() string
	// Gen, when set, lets Authenticate keep tokens it has looked up while the store's generation
	// stands (a revocation is a commit, so it takes effect at once in this process).
	Gen interface {
		Generation(ctx context.Context) (uint64, error)
	}

	mu    sync.Mutex
	gen   uint64
	known map[string]Token // by string(Hash(secret))
}

// Prefix starts every token secret, so secret scanners can recognise leaked ones.
const Prefix = "tlt_"

// Create makes a token with role r and a descriptive name (1–100 characters, not personal data:
// "crm-sync", "support desk") and returns it with its secret, which is never shown again.
func (s *Service) Create(ctx context.Context, r Role, name string) (Token, string, error) {
	return s.CreateFor(ctx, r, name, "")
}

// CreateFor is Create with the processor a token of role processor speaks for (the caller checks
// that it is registered). Invalid for a processor token without one, or a staff token with one.
func (s *Service) CreateFor(ctx context.Context, r Role, name, processorID string) (Token, string, error) {
	if !slices.Contains(Roles, r) {
		return Token{}, "", apperr.Invalidf("role", "invalid_role", "role: must be admin, dpo, agent, auditor or processor")
	}
	if (r == RoleProcessor) != (processorID != "") {
		return Token{}, "", apperr.Invalidf("processor", "processor_scope", "processor: a processor token names exactly one processor, and only a processor token does")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return Token{}, "", apperr.Invalidf("name", "invalid_name", "name: 1 to 100 characters")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		// A newline or tab would break the columns of tillit token list.
		return Token{}, "", apperr.Invalidf("name", "invalid_name", "name: no control characters (newlines, tabs)")
	}
	raw := make([]byte, SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{ID: s.NewID(), Name: name, Role: r, CreatedAt: s.Now().UTC(), ProcessorID: processorID}
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertToken(ctx, t, Hash(secret)); err != nil {
			return err
		}
		ev := audit.New(ctx, t.CreatedAt, "token.create", "token", t.ID, "role")
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// EnsureAdmin creates an admin token named name when no live token exists, and returns its secret
// ("" when tokens exist already). tillit serve calls it on start, so the first start of a new data
// directory prints exactly one admin token.
func (s *Service) EnsureAdmin(ctx context.Context, name string) (string, error) {
	var n int
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.CountLiveTokens(ctx)
		return err
	})
	if err != nil || n > 0 {
		return "", err
	}
	_, secret, err := s.Create(ctx, RoleAdmin, name)
	return secret, err
}

// Authenticate returns the live token whose secret this is; Unauthenticated otherwise.
func (s *Service) Authenticate(ctx context.Context, secret string) (Token, error) {
	bad := &apperr.Error{Kind: apperr.Unauthenticated, Reason: "invalid_token", Message: "the bearer token is not valid"}
	if !WellFormed(secret) {
		return Token{}, bad
	}
	h := Hash(secret)
	var gen uint64
	if s.Gen != nil {
		var err error
		if gen, err = s.Gen.Generation(ctx); err != nil {
			return Token{}, err
		}
		s.mu.Lock()
		t, ok := s.known[string(h)]
		if s.gen != gen {
			s.gen, s.known, ok = gen, nil, false
		}
		s.mu.Unlock()
		if ok {
			return t, nil
		}
	}
	var t Token
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		t, err = tx.TokenByHash(ctx, h)
		return err
	})
	if apperr.Is(err, apperr.NotFound) || (err == nil && t.RevokedAt != nil) {
		return Token{}, bad
	}
	if err == nil && s.Gen != nil {
		s.mu.Lock()
		if s.gen == gen && len(s.known) < 10000 {
			if s.known == nil {
				s.known = map[string]Token{}
			}
			s.known[string(h)] = t
		}
		s.mu.Unlock()
	}
	return t, err
}

// Hash returns the SHA-256 of a token secret, the only form in which it is stored.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// List returns every token, revoked ones included, without secrets.
func (s *Service) List(ctx context.Context) ([]Token, error) {
	var out []Token
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListTokens(ctx)
		return err
	})
	return out, err
}

// Revoke ends the token with this id at once ("token.revoke"); NotFound when there is no live
// token with it.
func (s *Service) Revoke(ctx context.Context, id string) error {
	now := s.Now().UTC()
	return s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.RevokeToken(ctx, id, now); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "token.revoke", "token", id)
		return tx.AppendAudit(ctx, &ev)
	})
}
