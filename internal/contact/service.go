package contact

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Tx is what the contact rules need from one store transaction.
type Tx interface {
	// InsertContact stores a new record. A taken EmailIndex is an apperr.Conflict whose ID is the
	// existing contact's id.
	InsertContact(ctx context.Context, r *Record) error
	// UpdateContact replaces the stored record with the same ID (NotFound when absent).
	UpdateContact(ctx context.Context, r *Record) error
	ContactByID(ctx context.Context, id string) (*Record, error)             // NotFound when absent
	ContactByEmailIndex(ctx context.Context, idx ...[]byte) (*Record, error) // NotFound when absent
	ContactsByPhoneIndex(ctx context.Context, idx [][]byte, limit int) ([]*Record, error)
	// ListContacts returns up to limit records with id > after, in id order; kind "" means any.
	ListContacts(ctx context.Context, kind Kind, after string, limit int) ([]*Record, error)
	DeleteContact(ctx context.Context, id string) error
	InsertDataKey(ctx context.Context, contactID string, version int, wrapped []byte, at time.Time) error
	DataKey(ctx context.Context, contactID string) (version int, wrapped []byte, err error) // NotFound when absent
	DeleteDataKey(ctx context.Context, contactID string) error
	AppendAudit(ctx context.Context, e *audit.Event) error
	// AddSuppression adds an entry; an existing entry for the same hash is kept as it is.
	AddSuppression(ctx context.Context, s consent.Suppression) error
	// Suppression returns the entry for hash (NotFound when the address is not suppressed).
	Suppression(ctx context.Context, hashes ...[]byte) (consent.Suppression, error)
	// PutSuppression sets the entry for s.Hash, replacing the one held (consent.Suppress).
	PutSuppression(ctx context.Context, s consent.Suppression) error
	// ConfirmedOptIns says when the holders of suppression hashes last confirmed a double
	// opt-in (consent.Suppress, consent.Outdated).
	ConfirmedOptIns(ctx context.Context, hashes [][]byte) (map[string]time.Time, error)
	// AppendErasure appends the contact id to the erasure ledger with the suppression hashes of
	// its addresses; an id already there is kept as it is. ErasureRecorded reports whether the
	// ledger holds the id.
	AppendErasure(ctx context.Context, contactID string, at time.Time, suppressionHashes [][]byte) error
	ErasureRecorded(ctx context.Context, contactID string) (bool, error)
	// AddFormerEmail remembers the suppression hash of an address the contact had; FormerEmails
	// returns them. Both go with the contact on erasure.
	AddFormerEmail(ctx context.Context, contactID string, hash []byte) error
	FormerEmails(ctx context.Context, contactID string) ([][]byte, error)
	AppendConsentChanges(ctx context.Context, cs []consent.Change) error
	// DeleteSuppression and MovePurposeUnsubscribes: consent.Rekey.
	DeleteSuppression(ctx context.Context, hashes ...[]byte) error
	MovePurposeUnsubscribes(ctx context.Context, to []byte, from [][]byte) error
}

// Store runs serialized read-write transactions and compacts storage after erasure.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	// Purge makes the rows deleted by committed transactions unrecoverable from the store's
	// files (GDPR Art. 17): no copy of the files holds an erased person afterwards.
	Purge(ctx context.Context) error
}

// Service applies the contact rules. Its fields are set once by internal/app.
type Service struct {
	Store         Store
	Keys          *keys.Keyring
	Now           func() time.Time
	NewID         func() string
	DefaultRegion string // ISO 3166-1 alpha-2 region for phone numbers without a country code
	// AfterErase, when set, removes what the contact left outside the database (mail files);
	// it runs after the erasure committed.
	AfterErase func(ctx context.Context, contactID string) error
	// Erasing, when set, runs inside the erasure's transaction, before the contact's rows go,
	// with its id and its address's e-mail blind indexes under every key of the blind-index
	// keyset, the primary's first (nil without an address): what other packages keep about the
	// person goes in the same commit (internal/dsr: their requests, indexed under any key).
	Erasing func(ctx context.Context, tx Tx, contactID string, emailIndexes [][]byte) error
	// AddressChanged, when set, runs inside the transaction of a staff update (Update) that
	// replaced the contact's e-mail address, with the replaced address: the person is told there,
	// so a change they did not ask for does not go unnoticed. Rectification by request tells
	// them itself.
	AddressChanged func(ctx context.Context, tx Tx, contactID, oldEmail string) error
	// EmailChanged, when set, runs inside the transaction of any update (staff or rectification)
	// that gave the contact a new e-mail address: consent confirmed at the old address by double
	// opt-in is confirmed again at the new one (optin.Service.ReconfirmIn).
	EmailChanged func(ctx context.Context, tx Tx, contactID, newEmail string) error
}

// Input is the body of a create: every field optional except that at least one of Email and Phone
// must be given. Kind defaults to "contact".
type Input struct {
	Kind        Kind              `json:"kind"`
	Email       string            `json:"email"`
	FirstName   string            `json:"first_name"`
	LastName    string            `json:"last_name"`
	Phone       string            `json:"phone"`
	Company     string            `json:"company"`
	Title       string            `json:"title"`
	Address     *Address          `json:"address"`
	Birthday    string            `json:"birthday"`
	Notes       string            `json:"notes"`
	Source      string            `json:"source"`
	Custom      map[string]string `json:"custom"`
	Tags        []string          `json:"tags"`
	ExternalIDs map[string]string `json:"external_ids"`
}

// Patch changes some fields: a nil pointer leaves a field as it is, a pointer to "" clears it.
// Custom and ExternalIDs replace the whole map when non-nil; Tags replaces the list when non-nil.
type Patch struct {
	Email       *string           `json:"email"`
	FirstName   *string           `json:"first_name"`
	LastName    *string           `json:"last_name"`
	Phone       *string           `json:"phone"`
	Company     *string           `json:"company"`
	Title       *string           `json:"title"`
	Address     *Address          `json:"address"`
	Birthday    *string           `json:"birthday"`
	Notes       *string           `json:"notes"`
	Custom      map[string]string `json:"custom"`
	Tags        *[]string         `json:"tags"`
	ExternalIDs map[string]string `json:"external_ids"`
	Version     int               `json:"version"` // when non-zero, the update applies only to this version (else Conflict)
}

// IsZero reports whether the patch changes no field.
func (p *Patch) IsZero() bool {
	return p.Email == nil && p.FirstName == nil && p.LastName == nil && p.Phone == nil && p.Company == nil && p.Title == nil &&
		p.Address == nil && p.Birthday == nil && p.Notes == nil && p.Custom == nil && p.Tags == nil && p.ExternalIDs == nil
}

// Clear sets the patch to clear the field with this JSON name (a null in a JSON Merge Patch,
// RFC 7396 §2). Invalid for a name that is not a clearable field.
func (p *Patch) Clear(field string) error {
	empty := ""
	switch field {
	case "email":
		p.Email = &empty
	case "first_name":
		p.FirstName = &empty
	case "last_name":
		p.LastName = &empty
	case "phone":
		p.Phone = &empty
	case "company":
		p.Company = &empty
	case "title":
		p.Title = &empty
	case "birthday":
		p.Birthday = &empty
	case "notes":
		p.Notes = &empty
	case "address":
		p.Address = &Address{}
	case "custom":
		p.Custom = map[string]string{}
	case "tags":
		p.Tags = &[]string{}
	case "external_ids":
		p.ExternalIDs = map[string]string{}
	case "version":
	default:
		return apperr.Invalidf(field, "unknown_field", "%s: unknown field", field)
	}
	return nil
}

// Limits on field sizes, in characters.
const (
	maxShort = 200   // names, company, title, address parts, tags, custom keys
	maxNotes = 10000 // notes, custom values
	maxTags  = 100
)

// Create validates and normalizes in, seals it under a new data key and stores it with an audit
// event "contact.create". A normalized e-mail that already belongs to a contact is an
// apperr.Conflict whose ID is that contact's id.
func (s *Service) Create(ctx context.Context, in Input) (Contact, error) {
	var out Contact
	err := s.Store.Update(ctx, func(tx Tx) error {
		c, err := s.CreateIn(ctx, tx, in)
		out = c
		return err
	})
	return out, err
}

// CreateByStaff is Create for a contact typed in by staff (POST /api/v1/contacts). An address
// erased at the person's request (GDPR Art. 17; its suppression entry has reason "erased") is an
// apperr.Conflict with reason "erased" unless recreateErased is set: staff create it again only
// on the person's own new request, and only an actor that may erase does (Forbidden, field
// recreate_erased, reason role_forbidden, before the input is looked at: MayRecreateErased).
// The entry stays either way, so nobody is mailed until that person's own double opt-in lifts
// it (DESIGN §2).
func (s *Service) CreateByStaff(ctx context.Context, in Input, recreateErased bool) (Contact, error) {
	var out Contact
	err := s.Store.Update(ctx, func(tx Tx) error {
		if recreateErased {
			if err := MayRecreateErased(ctx); err != nil {
				return err
			}
		}
		p, err := s.Prepare(in)
		if err != nil {
			return err
		}
		if !recreateErased {
			if err := erasedAddress(ctx, tx, p.Record); err != nil {
				return err
			}
		}
		out, err = s.insertPrepared(ctx, tx, p)
		return err
	})
	return out, err
}

// erasedAddress is a Conflict with reason erased when rec's address was erased at the person's
// request and no contact holds it now (one that does answers duplicate_email as usual).
func erasedAddress(ctx context.Context, tx Tx, rec *Record) error {
	if rec.SuppressionHash == nil {
		return nil
	}
	if _, err := tx.ContactByEmailIndex(ctx, indexes(rec.EmailIndexes, rec.EmailIndex)...); err == nil {
		return nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return err
	}
	sup, err := tx.Suppression(ctx, indexes(rec.SuppressionHashes, rec.SuppressionHash)...)
	switch {
	case err == nil && sup.Reason == consent.SuppressionErased:
		return &apperr.Error{Kind: apperr.Conflict, Field: "email", Reason: "erased",
			Message: "email: this address was erased at the person's request (GDPR Art. 17); use it again only on that person's new request, with ?recreate_erased=true"}
	case err != nil && !apperr.Is(err, apperr.NotFound):
		return err
	}
	return nil
}

// CreateIn is Create inside the caller's transaction.
func (s *Service) CreateIn(ctx context.Context, tx Tx, in Input) (Contact, error) {
	p, err := s.Prepare(in)
	if err != nil {
		return Contact{}, err
	}
	return s.insertPrepared(ctx, tx, p)
}

// insertPrepared stores p with its data key and its "contact.create" audit event.
func (s *Service) insertPrepared(ctx context.Context, tx Tx, p *Prepared) (Contact, error) {
	if err := tx.InsertDataKey(ctx, p.Contact.ID, p.Key.Version(), p.WrappedKey, p.Contact.CreatedAt); err != nil {
		return Contact{}, err
	}
	if err := addressFree(ctx, tx, p.Record); err != nil {
		return Contact{}, err
	}
	if err := tx.InsertContact(ctx, p.Record); err != nil {
		return Contact{}, err
	}
	if err := rekeyAddress(ctx, tx, p.Record); err != nil {
		return Contact{}, err
	}
	ev := p.AuditEvent(ctx)
	if err := tx.AppendAudit(ctx, &ev); err != nil {
		return Contact{}, err
	}
	return p.Contact, nil
}

// Prepared is a new contact, validated, normalized and sealed under a fresh data key, not yet
// stored. The importer prepares rows ahead of its store transaction and inserts them in bulk.
type Prepared struct {
	Contact    Contact       // the plaintext contact, with its new id and times
	Record     *Record       // the sealed record to store
	Key        *keys.DataKey // the new data key
	WrappedKey []byte        // the data key wrapped by the key ring, for the key store
}

// Prepare validates and normalizes in, assigns an id, makes and wraps a new data key and seals
// every personal field. It touches no store. Errors are Invalid and name the field.
func (s *Service) Prepare(in Input) (*Prepared, error) {
	c, err := s.validate(in)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	c.ID = s.NewID()
	c.CreatedAt, c.UpdatedAt, c.Version = now, now, 1
	dk, wrapped, err := s.Keys.NewDataKey(c.ID, 1)
	if err != nil {
		return nil, err
	}
	rec, err := s.seal(&c, dk)
	if err != nil {
		return nil, err
	}
	return &Prepared{Contact: c, Record: rec, Key: dk, WrappedKey: wrapped}, nil
}

// AuditEvent returns the "contact.create" audit event for p, naming the fields it holds.
func (p *Prepared) AuditEvent(ctx context.Context) audit.Event {
	return audit.New(ctx, p.Contact.CreatedAt, "contact.create", "contact", p.Contact.ID, presentFields(&p.Contact)...)
}

// Get returns the decrypted contact and records an audit event "contact.read" in the same
// transaction. NotFound when there is no such contact.
func (s *Service) Get(ctx context.Context, id string) (Contact, error) {
	return s.readOne(ctx, func(tx Tx) (*Record, error) { return tx.ContactByID(ctx, id) })
}

// FindByEmail returns the contact whose normalized e-mail equals the normalized email (audited
// read). Invalid for an address that does not normalize; NotFound when no contact has it.
func (s *Service) FindByEmail(ctx context.Context, email string) (Contact, error) {
	idx, err := s.EmailIndex(email)
	if err != nil {
		return Contact{}, err
	}
	return s.readOne(ctx, func(tx Tx) (*Record, error) { return tx.ContactByEmailIndex(ctx, idx...) })
}

// readOne finds one record with find and opens it, audited, in one transaction.
func (s *Service) readOne(ctx context.Context, find func(Tx) (*Record, error)) (Contact, error) {
	var out Contact
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := find(tx)
		if err != nil {
			return err
		}
		out, err = s.openAudited(ctx, tx, rec)
		return err
	})
	return out, err
}

// FindByPhone returns the contacts (at most 100) whose E.164 phone equals the normalized phone
// (audited reads). A phone is not unique: a household may share one.
func (s *Service) FindByPhone(ctx context.Context, phone string) ([]Contact, error) {
	norm, err := normalize.Phone(phone, s.DefaultRegion)
	if err != nil {
		return nil, err
	}
	idx, err := s.Keys.BlindIndexes(keys.IndexPhone, normalize.Version, norm)
	if err != nil {
		return nil, err
	}
	var out []Contact
	err = s.Store.Update(ctx, func(tx Tx) error {
		recs, err := tx.ContactsByPhoneIndex(ctx, idx, 100)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			c, err := s.openAudited(ctx, tx, rec)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, err // fail closed: the reads before the failure were not audited either
	}
	return out, nil
}

// List returns up to limit (1–500, default 50) contacts after the cursor (an id; "" starts at the
// beginning) in creation order, each read audited, and the cursor of the next page ("" at the end).
func (s *Service) List(ctx context.Context, kind Kind, cursor string, limit int) ([]Contact, string, error) {
	if kind != "" && kind != KindLead && kind != KindContact {
		return nil, "", apperr.Invalidf("kind", "invalid_kind", "kind: must be lead or contact")
	}
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 500 {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: must be between 1 and 500")
	}
	var out []Contact
	var next string
	err := s.Store.Update(ctx, func(tx Tx) error {
		recs, err := tx.ListContacts(ctx, kind, cursor, limit+1)
		if err != nil {
			return err
		}
		if len(recs) > limit {
			recs = recs[:limit]
			next = recs[limit-1].ID
		}
		out = make([]Contact, 0, len(recs))
		for _, rec := range recs {
			c, err := s.openAudited(ctx, tx, rec)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, "", err // fail closed: the reads before the failure were not audited either
	}
	return out, next, nil
}

// Update applies p to the contact and records "contact.update" with the names of the changed
// fields (never their values), then "contact.read" of the fields the returned contact holds. Changing the e-mail to one another contact has is a Conflict.
// Consent is never changed by an update. Restricted contacts (GDPR Art. 18) are refused with
// Forbidden: they change only through a data subject request.
func (s *Service) Update(ctx context.Context, id string, p Patch) (Contact, error) {
	c, _, err := s.update(ctx, id, p, "contact.update", erasedIgnored)
	return c, err
}

// UpdateByStaff is Update for PATCH /api/v1/contacts/{id}: changing the address to one erased at
// its person's request is a Conflict with reason erased (as CreateByStaff) unless
// recreateErased is set, which only an actor that may erase sets (Forbidden, field
// recreate_erased, before the contact is looked up: MayRecreateErased).
func (s *Service) UpdateByStaff(ctx context.Context, id string, p Patch, recreateErased bool) (Contact, error) {
	use := erasedRefused
	if recreateErased {
		use = erasedRecreated
	}
	c, _, err := s.update(ctx, id, p, "contact.update", use)
	return c, err
}

// Rectify applies corrections the person asked for in a data subject request (GDPR Art. 16)
// like Update, also to a restricted contact when the actor may restrict (CheckRectify, checked
// on the record this transaction changes; Forbidden otherwise), and records "contact.rectify"
// with the names of the changed fields (never the old or new values), which it returns.
func (s *Service) Rectify(ctx context.Context, id string, p Patch) (Contact, []string, error) {
	return s.update(ctx, id, p, "contact.rectify", erasedIgnored)
}

// erasedUse says what an update does with a new address erased at its person's request.
type erasedUse int

const (
	erasedIgnored   erasedUse = iota // Update, Rectify: not looked at
	erasedRefused                    // UpdateByStaff: Conflict, reason erased (erasedAddress)
	erasedRecreated                  // UpdateByStaff with recreateErased: for an actor that may erase (MayRecreateErased)
)

// update applies p and audits action with the changed fields; "contact.rectify" (a data subject
// request's) may change a restricted contact (CheckRectify), "contact.update" may not.
func (s *Service) update(ctx context.Context, id string, p Patch, action string, erased erasedUse) (Contact, []string, error) {
	var out Contact
	var changed []string
	err := s.Store.Update(ctx, func(tx Tx) error {
		if erased == erasedRecreated {
			if err := MayRecreateErased(ctx); err != nil {
				return err
			}
		}
		rec, err := tx.ContactByID(ctx, id)
		if err != nil {
			return err
		}
		if rec.Restricted && action == "contact.update" {
			return &apperr.Error{Kind: apperr.Forbidden, Reason: "restricted", Message: "the contact is restricted (GDPR Art. 18); it changes only through a data subject request"}
		}
		if action == "contact.rectify" {
			if err := CheckRectify(ctx, rec); err != nil {
				return err
			}
		}
		if p.Version < 0 {
			return apperr.Invalidf("version", "invalid_version", "version: must be a positive number")
		}
		if p.Version != 0 && p.Version != rec.Version {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "stale_version", Field: "version", Message: fmt.Sprintf("version: the contact is at version %d", rec.Version), ID: rec.ID}
		}
		dk, err := s.dataKey(ctx, tx, rec)
		if err != nil {
			return err
		}
		cur, err := s.open(rec, dk)
		if err != nil {
			return err
		}
		in := cur.input()
		p.apply(&in)
		next, err := s.validate(in)
		if err != nil {
			return err
		}
		changed = changedFields(&cur, &next)
		if len(changed) == 0 {
			// Nothing to write, but the answer carries the decrypted contact: a read.
			ev := audit.New(ctx, s.Now(), "contact.read", "contact", id, presentFields(&cur)...)
			out = cur
			return tx.AppendAudit(ctx, &ev)
		}
		next.ID, next.Kind, next.Source, next.Restricted = cur.ID, cur.Kind, cur.Source, cur.Restricted
		next.CreatedAt, next.UpdatedAt, next.Version = cur.CreatedAt, s.Now().UTC(), cur.Version+1
		nrec, err := s.seal(&next, dk)
		if err != nil {
			return err
		}
		if erased == erasedRefused && next.Email != cur.Email {
			if err := erasedAddress(ctx, tx, nrec); err != nil {
				return err
			}
		}
		if next.Email != cur.Email {
			if err := addressFree(ctx, tx, nrec); err != nil {
				return err
			}
		}
		if err := tx.UpdateContact(ctx, nrec); err != nil {
			return err
		}
		if next.Email != cur.Email {
			if err := rekeyAddress(ctx, tx, nrec); err != nil {
				return err
			}
		}
		if cur.Email != "" && cur.Email != next.Email {
			// Kept so that erasure can suppress the old address too.
			h, err := s.Keys.BlindIndex(keys.IndexSuppression, normalize.Version, cur.Email)
			if err != nil {
				return err
			}
			if err := tx.AddFormerEmail(ctx, id, h); err != nil {
				return err
			}
			if action == "contact.update" && s.AddressChanged != nil {
				if err := s.AddressChanged(ctx, tx, id, cur.Email); err != nil {
					return err
				}
			}
		}
		if cur.Email != next.Email && next.Email != "" && s.EmailChanged != nil {
			if err := s.EmailChanged(ctx, tx, id, next.Email); err != nil {
				return err
			}
		}
		{ // a correction by staff or by request: processors that hold the data fetch it again (GDPR Art. 19)
			if err := tx.AppendConsentChanges(ctx, []consent.Change{{ContactID: id, Change: "rectified", OccurredAt: next.UpdatedAt, RecordedAt: next.UpdatedAt}}); err != nil {
				return err
			}
		}
		ev := audit.New(ctx, next.UpdatedAt, action, "contact", id, changed...)
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		if action == "contact.update" {
			// The answer carries the whole decrypted contact, not only what changed: a read.
			rd := audit.New(ctx, next.UpdatedAt, "contact.read", "contact", id, presentFields(&next)...)
			if err := tx.AppendAudit(ctx, &rd); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	return out, changed, err
}

// Convert turns a lead into a contact, keeping its id and data ("contact.convert"). Converting a
// contact is a Conflict.
func (s *Service) Convert(ctx context.Context, id string) (Contact, error) {
	var out Contact
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.ContactByID(ctx, id)
		if err != nil {
			return err
		}
		if rec.Kind != KindLead {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "not_a_lead", Field: "kind", Message: "kind: only a lead can be converted", ID: id}
		}
		if rec.Restricted {
			return &apperr.Error{Kind: apperr.Forbidden, Reason: "restricted", Message: "the contact is restricted (GDPR Art. 18)"}
		}
		rec.Kind = KindContact
		rec.UpdatedAt = s.Now().UTC()
		rec.Version++
		if err := tx.UpdateContact(ctx, rec); err != nil {
			return err
		}
		ev := audit.New(ctx, rec.UpdatedAt, "contact.convert", "contact", id, "kind")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		out, err = s.openAudited(ctx, tx, rec)
		return err
	})
	return out, err
}

// SetRestricted restricts processing of the contact (GDPR Art. 18) or lifts the restriction: a
// restricted contact is kept but the consent gate refuses every use, and it changes only through
// a data subject request. Audited as "contact.restrict" or "contact.restriction_lift", and told to
// processors as a "restricted" or "restriction_lifted" change. Setting the state it already has
// changes nothing.
func (s *Service) SetRestricted(ctx context.Context, id string, on bool) (Contact, error) {
	var out Contact
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.ContactByID(ctx, id)
		if err != nil {
			return err
		}
		if _, err := s.setRestricted(ctx, tx, rec, on, s.Now().UTC()); err != nil {
			return err
		}
		out, err = s.openAudited(ctx, tx, rec)
		return err
	})
	return out, err
}

// setRestricted gives rec the restriction state on, decided at time at, unless it has it
// already, and reports whether it changed it (SetRestricted).
func (s *Service) setRestricted(ctx context.Context, tx Tx, rec *Record, on bool, at time.Time) (bool, error) {
	if rec.Restricted == on {
		return false, nil
	}
	now := s.Now().UTC()
	rec.Restricted, rec.UpdatedAt, rec.Version = on, now, rec.Version+1
	if err := tx.UpdateContact(ctx, rec); err != nil {
		return false, err
	}
	action, change := "contact.restrict", "restricted"
	if !on {
		action, change = "contact.restriction_lift", "restriction_lifted"
	}
	if err := tx.AppendConsentChanges(ctx, []consent.Change{{ContactID: rec.ID, Change: change, OccurredAt: at, RecordedAt: now}}); err != nil {
		return false, err
	}
	ev := audit.New(ctx, now, action, "contact", rec.ID, "restricted")
	return true, tx.AppendAudit(ctx, &ev)
}

// ReplayRestriction re-applies a restriction (GDPR Art. 18) the ledger carries, decided at time
// at, to a contact the store holds, as SetRestricted does. False when the contact is restricted
// already; NotFound when the store does not hold it.
func (s *Service) ReplayRestriction(ctx context.Context, id string, at time.Time) (bool, error) {
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.ContactByID(ctx, id)
		if err != nil {
			return err
		}
		applied, err = s.setRestricted(ctx, tx, rec, true, at)
		return err
	})
	return applied && err == nil, err
}

// EmailHashes normalizes email and returns its blind index and its suppression-list hash under
// every enabled key of the blind-index keyset, the primary key's first (keys.Keyring.BlindIndexes):
// a lookup matches any of them.
func (s *Service) EmailHashes(email string) (index, suppression [][]byte, err error) {
	norm, err := normalize.Email(email)
	if err != nil {
		return nil, nil, err
	}
	if index, err = s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, norm); err != nil {
		return nil, nil, err
	}
	suppression, err = s.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, norm)
	return index, suppression, err
}

// EmailIndex normalizes email and returns its blind index under every enabled key of the
// blind-index keyset, the primary key's first: a lookup matches any of them.
func (s *Service) EmailIndex(email string) ([][]byte, error) {
	norm, err := normalize.Email(email)
	if err != nil {
		return nil, err
	}
	return s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, norm)
}

// OpenIn decrypts rec inside tx and records an audit event "contact.read" naming the fields
// read (campaigns use it to address each recipient).
func (s *Service) OpenIn(ctx context.Context, tx Tx, rec *Record) (Contact, error) {
	return s.openAudited(ctx, tx, rec)
}

func (s *Service) openAudited(ctx context.Context, tx Tx, rec *Record) (Contact, error) {
	fields := make([]string, 0, len(rec.Sealed))
	for _, col := range Columns {
		if len(rec.Sealed[col]) > 0 {
			fields = append(fields, col)
		}
	}
	ev := audit.New(ctx, s.Now(), "contact.read", "contact", rec.ID, fields...)
	if err := tx.AppendAudit(ctx, &ev); err != nil {
		return Contact{}, err // fail closed: no event, no plaintext
	}
	dk, err := s.dataKey(ctx, tx, rec)
	if err != nil {
		return Contact{}, err
	}
	return s.open(rec, dk)
}

func (s *Service) dataKey(ctx context.Context, tx Tx, rec *Record) (*keys.DataKey, error) {
	version, wrapped, err := tx.DataKey(ctx, rec.ID)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, fmt.Errorf("contact %s: data key missing: %w", rec.ID, err)
		}
		return nil, err
	}
	if version != rec.KeyVersion {
		return nil, fmt.Errorf("contact %s: data key version %d, record sealed under %d", rec.ID, version, rec.KeyVersion)
	}
	return s.Keys.OpenDataKey(rec.ID, version, wrapped)
}

// OpenFieldsIn decrypts only the listed fields of rec inside tx (the others stay empty) and
// records no event of its own: the caller has appended, in tx, the audit event that names these
// fields (share.disclose, share.read), so the log says what was read and no more.
func (s *Service) OpenFieldsIn(ctx context.Context, tx Tx, rec *Record, fields []string) (Contact, error) {
	dk, err := s.dataKey(ctx, tx, rec)
	if err != nil {
		return Contact{}, err
	}
	return s.openOnly(rec, dk, fields)
}

func (s *Service) open(rec *Record, dk *keys.DataKey) (Contact, error) {
	return s.openOnly(rec, dk, nil)
}

// openOnly decrypts the fields listed in only, or every field when only is nil.
func (s *Service) openOnly(rec *Record, dk *keys.DataKey, only []string) (Contact, error) {
	c := Contact{
		ID: rec.ID, Kind: rec.Kind, Source: rec.Source, Restricted: rec.Restricted,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Version: rec.Version,
	}
	for _, col := range Columns {
		if only != nil && !slices.Contains(only, col) {
			continue
		}
		pt, err := dk.Open(Table, col, rec.ID, rec.Sealed[col])
		if err != nil {
			return Contact{}, fmt.Errorf("contact %s field %s: %w", rec.ID, col, err)
		}
		if err := c.setField(col, pt); err != nil {
			return Contact{}, fmt.Errorf("contact %s field %s: %w", rec.ID, col, err)
		}
	}
	return c, nil
}

func (s *Service) seal(c *Contact, dk *keys.DataKey) (*Record, error) {
	rec := &Record{
		ID: c.ID, Kind: c.Kind, KeyVersion: dk.Version(), Source: c.Source, Restricted: c.Restricted,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version,
		Sealed: make(map[string][]byte, len(Columns)),
	}
	for col, pt := range c.plainFields() {
		ct, err := dk.Seal(Table, col, c.ID, pt)
		if err != nil {
			return nil, err
		}
		if ct != nil {
			rec.Sealed[col] = ct
		}
	}
	var err error
	if c.Email != "" {
		if rec.EmailIndexes, err = s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, c.Email); err != nil {
			return nil, err
		}
		if rec.SuppressionHashes, err = s.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, c.Email); err != nil {
			return nil, err
		}
		rec.EmailIndex, rec.SuppressionHash = rec.EmailIndexes[0], rec.SuppressionHashes[0]
	}
	if c.Phone != "" {
		if rec.PhoneIndex, err = s.Keys.BlindIndex(keys.IndexPhone, normalize.Version, c.Phone); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// validate checks and normalizes in; errors name the field.
func (s *Service) validate(in Input) (Contact, error) {
	c := Contact{
		Kind: in.Kind, FirstName: clean(in.FirstName), LastName: clean(in.LastName),
		Company: clean(in.Company), Title: clean(in.Title), Birthday: strings.TrimSpace(in.Birthday),
		Notes: strings.TrimSpace(in.Notes), Source: strings.TrimSpace(in.Source),
	}
	if c.Kind == "" {
		c.Kind = KindContact
	}
	if c.Kind != KindLead && c.Kind != KindContact {
		return Contact{}, apperr.Invalidf("kind", "invalid_kind", "kind: must be lead or contact")
	}
	if strings.TrimSpace(in.Email) != "" {
		e, err := normalize.Email(in.Email)
		if err != nil {
			return Contact{}, err
		}
		c.Email = e
	}
	if strings.TrimSpace(in.Phone) != "" {
		p, err := normalize.Phone(in.Phone, s.DefaultRegion)
		if err != nil {
			return Contact{}, err
		}
		c.Phone = p
	}
	if c.Email == "" && c.Phone == "" {
		return Contact{}, apperr.Invalidf("email", "required", "email: an e-mail address or a phone number is required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"first_name", c.FirstName, maxShort}, {"last_name", c.LastName, maxShort}, {"company", c.Company, maxShort},
		{"title", c.Title, maxShort}, {"notes", c.Notes, maxNotes}, {"source", c.Source, maxShort},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return Contact{}, err
		}
	}
	if c.Birthday != "" {
		d, err := time.Parse(time.DateOnly, c.Birthday)
		if err != nil {
			return Contact{}, apperr.Invalidf("birthday", "invalid_date", "birthday: use YYYY-MM-DD")
		}
		if d.After(s.Now()) || d.Year() < 1900 {
			return Contact{}, apperr.Invalidf("birthday", "invalid_date", "birthday: must be between 1900-01-01 and today")
		}
	}
	if in.Address != nil {
		a := Address{Street: clean(in.Address.Street), City: clean(in.Address.City), PostalCode: clean(in.Address.PostalCode), Region: clean(in.Address.Region), Country: strings.ToUpper(clean(in.Address.Country))}
		for _, f := range []struct{ name, v string }{{"address.street", a.Street}, {"address.city", a.City}, {"address.postal_code", a.PostalCode}, {"address.region", a.Region}, {"address.country", a.Country}} {
			if err := checkText(f.name, f.v, maxShort); err != nil {
				return Contact{}, err
			}
		}
		if !a.empty() {
			c.Address = &a
		}
	}
	if len(in.Tags) > maxTags {
		return Contact{}, apperr.Invalidf("tags", "too_many", "tags: at most %d tags", maxTags)
	}
	for _, t := range in.Tags {
		t = clean(t)
		if t == "" || slices.Contains(c.Tags, t) {
			continue
		}
		if err := checkText("tags", t, maxShort); err != nil {
			return Contact{}, err
		}
		c.Tags = append(c.Tags, t)
	}
	var err error
	if c.Custom, err = cleanMap("custom", in.Custom); err != nil {
		return Contact{}, err
	}
	if c.ExternalIDs, err = cleanMap("external_ids", in.ExternalIDs); err != nil {
		return Contact{}, err
	}
	return c, nil
}

func (c *Contact) input() Input {
	return Input{
		Kind: c.Kind, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone,
		Company: c.Company, Title: c.Title, Address: c.Address, Birthday: c.Birthday, Notes: c.Notes,
		Source: c.Source, Custom: c.Custom, Tags: c.Tags, ExternalIDs: c.ExternalIDs,
	}
}

func (p *Patch) apply(in *Input) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&in.Email, p.Email)
	set(&in.FirstName, p.FirstName)
	set(&in.LastName, p.LastName)
	set(&in.Phone, p.Phone)
	set(&in.Company, p.Company)
	set(&in.Title, p.Title)
	set(&in.Birthday, p.Birthday)
	set(&in.Notes, p.Notes)
	if p.Address != nil {
		in.Address = p.Address
	}
	if p.Custom != nil {
		in.Custom = p.Custom
	}
	if p.Tags != nil {
		in.Tags = *p.Tags
	}
	if p.ExternalIDs != nil {
		in.ExternalIDs = p.ExternalIDs
	}
}

func changedFields(a, b *Contact) []string {
	pa, pb := a.plainFields(), b.plainFields()
	var out []string
	for _, col := range Columns {
		if string(pa[col]) != string(pb[col]) {
			out = append(out, col)
		}
	}
	return out
}

func presentFields(c *Contact) []string {
	var out []string
	p := c.plainFields()
	for _, col := range Columns {
		if len(p[col]) > 0 {
			out = append(out, col)
		}
	}
	return out
}

// clean trims white space including NBSP.
func clean(s string) string { return strings.TrimFunc(s, isSpace) }

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0' || r == '\u202f' || r == '\ufeff'
}

func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return apperr.Invalidf(field, "invalid_utf8", "%s: not valid UTF-8", field)
	}
	if utf8.RuneCountInString(v) > max {
		return apperr.Invalidf(field, "too_long", "%s: at most %d characters", field, max)
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
			return apperr.Invalidf(field, "control_character", "%s: contains a control character", field)
		}
	}
	return nil
}

func cleanMap(field string, m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if len(m) > 100 {
		return nil, apperr.Invalidf(field, "too_many", "%s: at most 100 entries", field)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		k = clean(k)
		if k == "" {
			return nil, apperr.Invalidf(field, "empty_key", "%s: keys must not be empty", field)
		}
		if err := checkText(field+"."+k, k, maxShort); err != nil {
			return nil, err
		}
		if err := checkText(field+"."+k, v, maxNotes); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ParseMergePatch reads a JSON Merge Patch of a contact (RFC 7396) strictly (package jsonin): an
// absent member leaves a field as it is, null clears it. Invalid errors name the field; field is
// the name the whole patch goes by in the caller's input ("body", "changes") for a body that is
// not a JSON object.
func ParseMergePatch(body []byte, field string) (Patch, error) {
	var raw map[string]json.RawMessage
	var p Patch
	if err := jsonin.Decode(body, &raw); err != nil {
		return p, within(err, field)
	}
	if raw == nil {
		return p, apperr.Invalidf(field, "not_an_object", "%s: a JSON object is required", field)
	}
	if err := jsonin.Decode(body, &p); err != nil {
		return p, within(err, field)
	}
	for k, v := range raw {
		if string(v) == "null" {
			if err := p.Clear(k); err != nil {
				return p, within(err, field)
			}
		}
	}
	return p, nil
}

// within names an Invalid error's field by its path under field ("changes.titel") when the
// patch is a member of a larger body; for field "body" it is returned as it is.
func within(err error, field string) error {
	e := apperr.As(err)
	if field == "body" || e == nil || e.Kind != apperr.Invalid {
		return err
	}
	path := field
	if e.Field != "" && e.Field != "body" {
		path = field + "." + e.Field
	}
	out := *e
	out.Field = path
	if rest, ok := strings.CutPrefix(e.Message, e.Field+":"); ok && e.Field != "" {
		out.Message = path + ":" + rest
	}
	out.Message = strings.ReplaceAll(out.Message, "did you mean ", "did you mean "+field+".")
	return &out
}
