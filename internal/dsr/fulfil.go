package dsr

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/normalize"

	"github.com/tillit/tillit/internal/token"
)

// Holding is one holding of the personal-data register (personal.Holding) on an erasure receipt:
// how many of the person's rows it had and what erasure did with it.
type Holding struct {
	// Table is the holding's id (personal.Holding.ID), named "table" because the first receipts
	// named the SQLite tables, whose names the ids kept.
	Table string `json:"table"`
	Rows  int    `json:"rows"`
	Erase string `json:"erasure"` // personal.Holding.Erasure: "deleted", or "kept: " and the exemption
	// What is what the holding held, or what is kept and why, in words the person reads in the
	// receipt ("your consent history"): never a table or column name (personal.Holding.What).
	What string `json:"what"`
}

// Export is an access bundle waiting for download, sealed under the contact's data key; erasure
// deletes it with the contact.
type Export struct {
	ID, ContactID, RequestID string
	TokenHash                []byte // SHA-256 of the link's secret
	CreatedAt, ExpiresAt     time.Time
	Bytes                    int // size of the zip
	Sealed                   []byte
}

// exportTable is bound into the associated data of a sealed bundle.
const exportTable = "exports"

// Completion says what completing a request does, by type. Fields another type does not use
// must be empty.
type Completion struct {
	Note string // internal note for the timeline
	// Changes are a rectification's corrections (GDPR Art. 16), applied field by field.
	Changes *contact.Patch
	// Purposes are the purposes whose consent a withdraw_consent request withdraws; empty means
	// every purpose the person has given consent to (GDPR Art. 7(3)).
	Purposes []string
	// Scope is what an objection (GDPR Art. 21) is to: a purpose id, or "direct_marketing"
	// (the default; absolute under Art. 21(3)).
	Scope string
}

// Complete fulfils the request and closes it, telling the requester (GDPR Art. 12(3)):
//
//   - access, portability: the access bundle (Bundle) is sealed under the contact's key and the
//     requester is mailed a single-use download link that expires after ExportTTL;
//   - erasure: the contact is erased (contact.Service.Erase: key, rows, queued mail, earlier
//     download links) and the requester is mailed the erasure receipt, which staff can read too;
//   - rectification: c.Changes are applied (contact.Service.Rectify, field names audited only);
//   - restriction: the contact is restricted (Art. 18);
//   - objection: an objection to c.Scope is recorded (Art. 21);
//   - withdraw_consent: consent is withdrawn for c.Purposes, or for every purpose given.
//
// A request bound to no contact (no one has the verified address) is answered that no personal
// data is held. NotFound for an unknown request; Forbidden (reason role_forbidden) when the actor
// may not close a request of its type (CloseNeeds) or correct a restricted contact
// (contact.CheckRectify), read in the first transaction before anything changes (mayComplete).
// Invalid for a completion field the type does not take, a rectification without
// changes, or a withdrawal naming a purpose that is unknown or not consent-based; Conflict
// unless the request is in_progress or extended. The action and the closing are separate
// transactions: an erasure's receipt is stored with the request before the contact is erased,
// so completing again after a failed closing, or concurrently, finds the erasure done and
// answers with that receipt; of concurrent completions one closes the request and the others
// are Conflict.
func (s *Service) Complete(ctx context.Context, id string, c Completion) (View, error) {
	rec, held, receipt, err := s.prepare(ctx, id, &c)
	if err != nil {
		return View{}, err
	}
	hasAddress, oldEmail := rec.hasAddress, rec.oldEmail
	var outcome string
	if held {
		if outcome, err = s.act(ctx, rec, c); err != nil {
			return View{}, err
		}
	}
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		if err := rec.Complete(s.Now()); err != nil {
			return err
		}
		if err := s.update(ctx, tx, rec, dk, "completed", c.Note); err != nil {
			return err
		}
		text := fmt.Sprintf("We received your request to %s on %s and completed it on %s.\n\n", rec.Type.Label(), day(rec.ReceivedAt), day(*rec.CompletedAt))
		switch {
		case !held && (rec.Type == TypeAccess || rec.Type == TypePortability):
			text += "We hold no personal data linked to the address you confirmed, so there is nothing to send.\n"
			text += s.keptAfterwards(ctx, tx, rec, dk)
		case !held:
			text += "We hold no personal data linked to the address you confirmed, so there was nothing to change.\n"
			text += s.keptAfterwards(ctx, tx, rec, dk)
		case (rec.Type == TypeAccess || rec.Type == TypePortability) && !hasAddress:
			// Handed over another way, as the note says; nothing to mail.
			return s.event(ctx, tx, rec, dk, "notice_unsent", "no e-mail address on file: the data was handed over as the completion note says")
		case rec.Type == TypeAccess || rec.Type == TypePortability:
			link, until, err := s.exportIn(ctx, tx, rec.ContactID, rec.ID)
			if err != nil {
				return err
			}
			text += fmt.Sprintf("Your data is ready. Download it here (the link works once and expires on %s):\n\n%s\n\n"+
				"The zip holds your contact data as JSON, CSV and a vCard, your consent history, your suppression state, "+
				"your requests, the disclosures made about you and the record of who read or changed your data. "+
				"README.txt inside explains each file.\n", day(until), link)
			return s.tellTo(ctx, tx, rec, dk, "request.completed", "Your privacy request is complete", text+s.contactLine(), true)
		case rec.Type == TypeErasure:
			// The person's other requests went with them (ErasingIn); this one goes once its
			// receipt is handed over.
			if err := receipt.settleIn(ctx, tx); err != nil {
				return err
			}
			m := mail.Message{Kind: "request.completed", Subject: "Your privacy request is complete", Text: text + receipt.text() + s.contactLine(), Last: true}
			return s.notify(ctx, tx, rec, dk, m, false)
		default:
			text += outcome
		}
		if oldEmail != "" {
			m := mail.Message{To: oldEmail, Kind: "request.address_changed", Subject: "The e-mail address on your record was changed",
				Text: fmt.Sprintf("At a request to correct personal data received on %s, the e-mail address we hold for you was changed from this address to another one (GDPR Art. 16). "+
					"If you did not ask for this, reply or write to us at once.\n%s", day(rec.ReceivedAt), s.contactLine())}
			if err := s.notice(ctx, tx, rec, m); err != nil {
				return err
			}
			if err := s.event(ctx, tx, rec, dk, "notice_sent", "to the address the correction replaced"); err != nil {
				return err
			}
		}
		return s.tell(ctx, tx, rec, dk, "request.completed", "Your privacy request is complete", text+s.contactLine())
	})
}

// prepare checks that the request can be completed with c before anything is changed, and
// reports whether it is bound to a contact whose data is held. For an erasure it stores the
// receipt with the request before anything is erased, and keeps an address to send it to (the
// requester's, or else the contact's): a later or concurrent completion finds the receipt and
// the erasure done. A withdrawal's purposes are checked and made unique here.
func (s *Service) prepare(ctx context.Context, id string, c *Completion) (*Record, bool, *Receipt, error) {
	var rec *Record
	var receipt *Receipt
	held := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		var dk *keys.DataKey
		var err error
		if rec, dk, err = s.load(ctx, tx, id); err != nil {
			return err
		}
		if err := mayComplete(ctx, tx, rec); err != nil {
			return err
		}
		if rec.State != StateInProgress && rec.State != StateExtended {
			return conflict(rec.State, StateCompleted)
		}
		if c.Changes != nil && rec.Type != TypeRectification {
			return apperr.Invalidf("changes", "not_rectification", "changes: only a rectification request takes changes")
		}
		if len(c.Purposes) > 0 && rec.Type != TypeWithdrawConsent {
			return apperr.Invalidf("purposes", "not_withdrawal", "purposes: only a withdraw_consent request takes purposes")
		}
		if c.Scope != "" && rec.Type != TypeObjection {
			return apperr.Invalidf("scope", "not_objection", "scope: only an objection request takes a scope")
		}
		var unique []string
		for _, p := range c.Purposes {
			if slices.Contains(unique, p) {
				continue
			}
			pp, err := tx.PurposeByID(ctx, p)
			if apperr.Is(err, apperr.NotFound) || err == nil && !pp.Subscribable() {
				return apperr.Invalidf("purposes", "unknown_purpose", "purposes: %q is not a consent-based purpose", p)
			}
			if err != nil {
				return err
			}
			unique = append(unique, p)
		}
		c.Purposes = unique
		if rec.Type == TypeErasure && len(rec.Receipt) > 0 {
			// Erased by an earlier or a concurrent completion of this request.
			receipt, held = &Receipt{}, true
			return json.Unmarshal(rec.Receipt, receipt)
		}
		if rec.ContactID == "" {
			return nil
		}
		crec, err := tx.ContactByID(ctx, rec.ContactID)
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased by other means meanwhile
		}
		if err != nil {
			return err
		}
		held = true
		rec.hasAddress = crec.EmailIndex != nil
		if rec.Type == TypeRectification && (c.Changes == nil || c.Changes.IsZero()) {
			return apperr.Invalidf("changes", "required", "changes: the corrections to apply, field by field")
		}
		if rec.Type == TypeRectification && c.Changes.Email != nil && crec.EmailIndex != nil {
			// The address being replaced is told of the change: if the request was not the
			// person's own, the person learns of it at the address they still read.
			full, err := s.Contacts.OpenIn(ctx, tx, crec)
			if err != nil {
				return err
			}
			if norm, err := normalize.Email(*c.Changes.Email); err != nil || norm != full.Email {
				rec.oldEmail = full.Email
			}
		}
		if (rec.Type == TypeAccess || rec.Type == TypePortability) && crec.EmailIndex == nil && strings.TrimSpace(c.Note) == "" {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "no_address", Message: "the contact has no e-mail address on file, and the download link goes only to the person's own address: hand the data over another way and complete with a note saying how"}
		}
		if rec.Type != TypeErasure {
			return nil
		}
		if hold, err := tx.LegalHold(ctx, rec.ContactID); err != nil {
			return err
		} else if hold {
			return errLegalHold
		}
		if len(rec.Sealed[colEmail]) == 0 && crec.EmailIndex != nil {
			full, err := s.Contacts.OpenIn(ctx, tx, crec)
			if err != nil {
				return err
			}
			if rec.Sealed[colEmail], err = dk.Seal(Table, colEmail, rec.ID, []byte(full.Email)); err != nil {
				return err
			}
		}
		if receipt, err = s.newReceiptIn(ctx, tx, rec, crec); err != nil {
			return err
		}
		if rec.Receipt, err = json.Marshal(receipt); err != nil {
			return err
		}
		rec.UpdatedAt, rec.Version = s.Now().UTC(), rec.Version+1
		return tx.UpdateRequest(ctx, rec)
	})
	return rec, held, receipt, err
}

// act carries out the request on its contact and returns a sentence for the requester saying
// what was done (an erasure is told by its receipt).
func (s *Service) act(ctx context.Context, rec *Record, c Completion) (string, error) {
	cid := rec.ContactID
	method := consent.MethodStaff
	if audit.ActorFrom(ctx).Kind == audit.ActorPublic {
		method = consent.MethodWebForm
	}
	switch rec.Type {
	case TypeErasure:
		// NotFound: erased already, by an earlier or a concurrent completion. The legal hold
		// checked when the completion was prepared is checked again in the erasure's own
		// transaction: a hold set in between keeps the person (GDPR Art. 17(3)(e)).
		if err := s.Contacts.EraseGuarded(ctx, cid, notHeld); err != nil && !apperr.Is(err, apperr.NotFound) {
			return "", err
		}
		return "", nil
	case TypeRectification:
		_, changed, err := s.Contacts.Rectify(ctx, cid, *c.Changes)
		if err != nil {
			return "", err
		}
		if len(changed) == 0 {
			return "The data we hold already matched your corrections; nothing needed to change.\n", nil
		}
		return "We corrected these fields: " + strings.Join(changed, ", ") + ".\n", nil
	case TypeRestriction:
		if _, err := s.Contacts.SetRestricted(ctx, cid, true); err != nil {
			return "", err
		}
		return "We keep your data but no longer use it: no mail, no sharing, no changes except at your request. We will tell you before the restriction is lifted (GDPR Art. 18(3)).\n", nil
	case TypeObjection:
		scope := c.Scope
		if scope == "" {
			scope = consent.ScopeDirectMarketing
		}
		if _, err := s.Consent.Object(ctx, cid, scope, method); err != nil {
			return "", err
		}
		if scope == consent.ScopeDirectMarketing {
			return "We no longer use your data for direct marketing of any kind (GDPR Art. 21(3)).\n", nil
		}
		return fmt.Sprintf("We no longer use your data for the purpose %q (GDPR Art. 21).\n", scope), nil
	case TypeWithdrawConsent:
		purposes := c.Purposes
		// One transaction: every purpose is withdrawn, or none.
		err := s.Store.Update(ctx, func(tx Tx) error {
			if len(purposes) == 0 {
				cur, err := tx.CurrentConsents(ctx, cid)
				if err != nil {
					return err
				}
				for _, cc := range cur {
					if cc.State != consent.Given && cc.State != consent.Requested {
						continue
					}
					// The acceptance of terms is a contract, not a consent to withdraw.
					if p, err := tx.PurposeByID(ctx, cc.Purpose); err != nil {
						return err
					} else if p.Subscribable() {
						purposes = append(purposes, cc.Purpose)
					}
				}
			}
			for _, p := range purposes {
				if _, err := s.Consent.RecordIn(ctx, tx, consent.Event{ContactID: cid, Purpose: p, State: consent.Withdrawn, Method: method,
					Evidence: consent.Evidence{Note: "data subject request " + rec.ID}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if len(purposes) == 0 {
			return "No consent of yours was in force, so there was nothing to withdraw.\n", nil
		}
		return "Your consent is withdrawn for: " + strings.Join(purposes, ", ") + ". This does not affect what was done with your consent before (GDPR Art. 7(3)).\n", nil
	}
	return "", nil // access and portability: the bundle is built in the closing transaction
}

// BundleIn builds the contact's access bundle inside tx, with every read audited
// ("contact.read", "consent.read") and the export itself recorded as "contact.export".
// requestID names the request it answers ("" for a staff export).
func (s *Service) BundleIn(ctx context.Context, tx Tx, contactID, requestID string) ([]byte, error) {
	crec, err := tx.ContactByID(ctx, contactID)
	if err != nil {
		return nil, err
	}
	// The audit events are read first, so the bundle does not list its own reads.
	events, err := tx.AuditEventsAbout(ctx, "contact", contactID)
	if err != nil {
		return nil, err
	}
	c, err := s.Contacts.OpenIn(ctx, tx, crec)
	if err != nil {
		return nil, err
	}
	led, err := s.Consent.HistoryIn(ctx, tx, contactID)
	if err != nil {
		return nil, err
	}
	b := Bundle{Contact: c, Consents: led.Current, History: led.Events, Objections: led.Objections, Audit: events,
		GeneratedAt: s.Now().UTC(), Controller: s.Controller, RequestID: requestID}
	if crec.SuppressionHash != nil {
		hs, err := s.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, c.Email)
		if err != nil {
			return nil, err
		}
		sup, err := tx.Suppression(ctx, append(hs, crec.SuppressionHash)...)
		switch {
		case err == nil:
			b.Suppressed = &Suppression{Reason: sup.Reason, Since: sup.CreatedAt}
		case !apperr.Is(err, apperr.NotFound):
			return nil, err
		}
	}
	reqs, err := tx.RequestsByContact(ctx, contactID)
	if err != nil {
		return nil, err
	}
	if crec.EmailIndex != nil {
		// Requests made from the person's address that were never bound to a contact (not
		// verified, or rejected first) hold that address and our answer: they are the person's,
		// under whichever key of the blind-index keyset they were indexed.
		idx, err := s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, c.Email)
		if err != nil {
			return nil, err
		}
		unbound, err := tx.UnverifiedRequestsFrom(ctx, append(idx, crec.EmailIndex)...)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, unbound...)
		slices.SortFunc(reqs, func(x, y *Record) int { return strings.Compare(x.ID, y.ID) })
	}
	for _, r := range reqs {
		// Who read or acted on the person's requests belongs with the rest of the record: the
		// events up to this export, like those about the contact.
		evs, err := tx.AuditEventsAbout(ctx, "request", r.ID)
		if err != nil {
			return nil, err
		}
		b.Audit = append(b.Audit, evs...)
		br, err := s.bundleRequest(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		b.Requests = append(b.Requests, br)
	}
	slices.SortFunc(b.Audit, func(x, y audit.Event) int { return cmp.Compare(x.Seq, y.Seq) })
	ds, err := tx.DisclosuresOf(ctx, contactID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, d := range ds {
		if _, ok := names[d.ProcessorID]; !ok {
			p, err := tx.ProcessorByID(ctx, d.ProcessorID)
			if err != nil {
				return nil, err
			}
			names[d.ProcessorID] = p.Name
		}
		b.Disclosures = append(b.Disclosures, Disclosure{ID: d.ID, ProcessorID: d.ProcessorID, ProcessorName: names[d.ProcessorID],
			Purpose: d.Purpose, Fields: d.Fields, DisclosedAt: d.At, Allowed: d.Allowed, Reason: d.Reason})
	}
	var buf bytes.Buffer
	if err := b.WriteZip(&buf); err != nil {
		return nil, err
	}
	ev := audit.New(ctx, b.GeneratedAt, "contact.export", "contact", contactID, "bundle")
	return buf.Bytes(), tx.AppendAudit(ctx, &ev)
}

// Export returns the contact's access bundle for staff (GET /api/v1/contacts/{id}/export).
// Forbidden (reason role_forbidden) for an actor that may not read the audit log (mayExport),
// before anything is read; NotFound for an unknown contact; Forbidden (reason restricted) for a
// restricted one, whose data goes only to the person, through an access request (GDPR Art. 18(2)).
func (s *Service) Export(ctx context.Context, contactID string) ([]byte, error) {
	var out []byte
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := mayExport(ctx); err != nil {
			return err
		}
		rec, err := tx.ContactByID(ctx, contactID)
		if err != nil {
			return err
		}
		if rec.Restricted {
			return &apperr.Error{Kind: apperr.Forbidden, Reason: "restricted", Message: "the contact is restricted (GDPR Art. 18): its data goes only to the person, through an access request"}
		}
		out, err = s.BundleIn(ctx, tx, contactID, "")
		return err
	})
	return out, err
}

// exportIn builds the bundle, seals it under the contact's key and stores it behind a new
// single-use link, which it returns with the link's expiry.
func (s *Service) exportIn(ctx context.Context, tx Tx, contactID, requestID string) (string, time.Time, error) {
	zip, err := s.BundleIn(ctx, tx, contactID, requestID)
	if err != nil {
		return "", time.Time{}, err
	}
	version, wrapped, err := tx.DataKey(ctx, contactID)
	if err != nil {
		return "", time.Time{}, err
	}
	dk, err := s.Keys.OpenDataKey(contactID, version, wrapped)
	if err != nil {
		return "", time.Time{}, err
	}
	raw := make([]byte, token.SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := s.Now().UTC()
	e := Export{ID: s.NewID(), ContactID: contactID, RequestID: requestID, TokenHash: hashToken("export:" + secret), CreatedAt: now, ExpiresAt: now.Add(s.exportTTL()), Bytes: len(zip)}
	if e.Sealed, err = dk.Seal(exportTable, "bundle", e.ID, zip); err != nil {
		return "", time.Time{}, err
	}
	if err := tx.InsertExport(ctx, e); err != nil {
		return "", time.Time{}, err
	}
	return strings.TrimSuffix(s.BaseURL, "/") + "/p/requests/download/" + url.PathEscape(secret), e.ExpiresAt, nil
}

// DownloadReady reports whether a download link can still be used, changing nothing (the GET
// page behind the link, which link scanners also open).
func (s *Service) DownloadReady(ctx context.Context, secret string) (bool, error) {
	ok := false
	if !token.WellFormedLink(secret) {
		return false, nil
	}
	err := s.Store.Update(ctx, func(tx Tx) error {
		e, err := tx.ExportByToken(ctx, hashToken("export:"+secret))
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		ok = err == nil && s.Now().Before(e.ExpiresAt)
		return err
	})
	return ok, err
}

// Download opens the bundle behind a download link and deletes it: the link works once
// ("contact.export_download"). ok is false for an unknown, used, expired or revoked link.
func (s *Service) Download(ctx context.Context, secret string) (zip []byte, ok bool, err error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "download"})
	if !token.WellFormedLink(secret) {
		return nil, false, nil
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		e, err := tx.ExportByToken(ctx, hashToken("export:"+secret))
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteExport(ctx, e.ID); err != nil {
			return err
		}
		if !s.Now().Before(e.ExpiresAt) {
			return nil // expired: deleted all the same
		}
		version, wrapped, err := tx.DataKey(ctx, e.ContactID)
		if err != nil {
			return err
		}
		dk, err := s.Keys.OpenDataKey(e.ContactID, version, wrapped)
		if err != nil {
			return err
		}
		ev := audit.New(ctx, s.Now(), "contact.export_download", "contact", e.ContactID, "bundle")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		if zip, err = dk.Open(exportTable, "bundle", e.ID, e.Sealed); err != nil {
			return fmt.Errorf("dsr: export %s: %w", e.ID, err)
		}
		ok = true
		return nil
	})
	return zip, ok, err
}

// SweepExports deletes every bundle whose link has expired and returns how many.
func (s *Service) SweepExports(ctx context.Context) (int, error) {
	n := 0
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.DeleteExpiredExports(ctx, s.Now().UTC())
		return err
	})
	return n, err
}

func (s *Service) exportTTL() time.Duration {
	if s.ExportTTL > 0 {
		return s.ExportTTL
	}
	return 7 * 24 * time.Hour
}

// LiftRestriction lifts the restriction of processing of a contact (GDPR Art. 18) after telling
// the person by e-mail, as Art. 18(3) requires: the notice is queued before the restriction is
// lifted. A contact without an address cannot be mailed; the caller tells them by other means.
// Lifting where there is no restriction changes nothing and mails nothing. NotFound for an
// unknown contact.
func (s *Service) LiftRestriction(ctx context.Context, contactID string) (contact.Contact, error) {
	queued := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.ContactByID(ctx, contactID)
		if err != nil {
			return err
		}
		if !rec.Restricted || rec.EmailIndex == nil {
			return nil
		}
		c, err := s.Contacts.OpenIn(ctx, tx, rec)
		if err != nil {
			return err
		}
		queued = true
		return s.Outbox.EnqueueIn(ctx, tx, mail.Message{
			ID: s.NewID(), ContactID: contactID, Stream: mail.Transactional, Kind: "restriction.lifted", To: c.Email,
			Subject: "We are lifting the restriction on your data", CreatedAt: s.Now().UTC(),
			Text: fmt.Sprintf("You asked %s to restrict the processing of your personal data (GDPR Art. 18). "+
				"We are lifting that restriction now, and tell you first as Art. 18(3) requires: we will use your data again "+
				"for the purposes you were told about.\n\nIf you disagree, you can object (GDPR Art. 21) or ask for erasure "+
				"(Art. 17) at %s/p/requests, or complain to a data protection supervisory authority (Art. 77).\n%s",
				s.controller(), strings.TrimSuffix(s.BaseURL, "/"), s.contactLine()),
		})
	})
	if err != nil {
		return contact.Contact{}, err
	}
	if queued {
		s.wake()
	}
	return s.Contacts.SetRestricted(ctx, contactID, false)
}

// ErasingIn is contact.Service.Erasing: inside the erasure's transaction it closes the person's
// open requests (bound to them, or from their address and never verified: indexed under any of
// emailIndexes, the address's index under each key of the blind-index keyset) and destroys the
// keys of all of them, so the record of each answer stays (type, dates, timeline, receipt)
// without a readable address, details or notes. An erasure request whose receipt is pending is left to
// its own completion, which destroys its key once the receipt is handed over.
func (s *Service) ErasingIn(ctx context.Context, ctTx contact.Tx, contactID string, emailIndexes [][]byte) error {
	tx, ok := ctTx.(Tx)
	if !ok {
		return fmt.Errorf("dsr: erasing %s: the store transaction does not hold requests", contactID)
	}
	reqs, err := tx.RequestsByContact(ctx, contactID)
	if err != nil {
		return err
	}
	if len(emailIndexes) > 0 {
		unverified, err := tx.UnverifiedRequestsFrom(ctx, emailIndexes...)
		if err != nil {
			return err
		}
		reqs = append(reqs, unverified...)
	}
	for _, r := range reqs {
		if r.Type == TypeErasure && len(r.Receipt) > 0 && r.Open() {
			continue
		}
		if err := s.forgetIn(ctx, tx, r, "closed_by_erasure"); err != nil {
			return err
		}
	}
	return nil
}

// forgetIn closes r when it is open (completed when it was bound to a contact, rejected when its
// identity was never confirmed; no notice, since there is no one left to write to or the address
// was never confirmed), records action, and destroys its key.
func (s *Service) forgetIn(ctx context.Context, tx Tx, r *Record, action string) error {
	if r.Open() {
		now := s.Now().UTC()
		r.CompletedAt = &now
		r.State = StateCompleted
		if r.ContactID == "" {
			r.State = StateRejected
		}
		r.UpdatedAt, r.Version = now, r.Version+1
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
		if err := s.event(ctx, tx, r, nil, action, ""); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "request."+action, "request", r.ID, "state", "completed_at")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
	}
	if err := tx.ForgetRequest(ctx, r.ID); err != nil {
		return err
	}
	s.Keys.Forget(r.ID)
	if s.AfterForget != nil {
		return s.AfterForget(r.ID)
	}
	return nil
}

// unverifiedFor is how long a portal request may wait for its identity to be confirmed (the
// link lasts 72 hours) before it is closed and its data destroyed (GDPR Art. 5(1)(e), 12(2)).
const unverifiedFor = 14 * 24 * time.Hour

// SweepUnverified closes portal requests whose identity was not confirmed within 14 days
// (rejected, no notice: the address was never confirmed) and destroys their keys. It returns
// how many it closed.
func (s *Service) SweepUnverified(ctx context.Context) (int, error) {
	n := 0
	err := s.Store.Update(ctx, func(tx Tx) error {
		stale, err := tx.StaleUnverified(ctx, s.Now().UTC().Add(-unverifiedFor), 1000)
		if err != nil {
			return err
		}
		for _, r := range stale {
			if err := s.forgetIn(ctx, tx, r, "closed_unverified"); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	return n, err
}

// bundleRequest decrypts what the person wrote with a request, for their own access bundle, and
// records the read ("request.read" with the field names). A request whose key is destroyed gives
// its record only.
func (s *Service) bundleRequest(ctx context.Context, tx Tx, r *Record) (BundleRequest, error) {
	br := BundleRequest{Request: r.Request}
	var fields []string
	for _, col := range []string{colEmail, colDetails, colReason} {
		if len(r.Sealed[col]) > 0 {
			fields = append(fields, col)
		}
	}
	if len(fields) == 0 {
		return br, nil
	}
	dk, err := s.requestKey(ctx, tx, r)
	if apperr.Is(err, apperr.NotFound) {
		return br, nil
	}
	if err != nil {
		return br, err
	}
	ev := audit.New(ctx, s.Now(), "request.read", "request", r.ID, fields...)
	if err := tx.AppendAudit(ctx, &ev); err != nil {
		return br, err
	}
	for _, col := range fields {
		b, err := dk.Open(Table, col, r.ID, r.Sealed[col])
		if err != nil {
			return br, fmt.Errorf("dsr: request %s: %w", r.ID, err)
		}
		switch col {
		case colEmail:
			br.Email = string(b)
		case colDetails:
			br.Details = string(b)
		case colReason:
			br.Reason = string(b)
		}
	}
	return br, nil
}

// AddressChangedIn queues, inside a staff update's transaction (contact.Service.AddressChanged),
// a notice to the address staff replaced: the e-mail address on the person's record changed, and
// whom to write to if they did not ask for it. It goes under the contact's key, with the
// contact's other mail.
func (s *Service) AddressChangedIn(ctx context.Context, ctTx contact.Tx, contactID, oldEmail string) error {
	tx, ok := ctTx.(Tx)
	if !ok {
		return fmt.Errorf("dsr: address change of %s: the store transaction does not hold mail", contactID)
	}
	now := s.Now().UTC()
	m := mail.Message{ID: s.NewID(), To: oldEmail, ContactID: contactID, Stream: mail.Transactional, Kind: "contact.address_changed", CreatedAt: now,
		Subject: "The e-mail address on your record was changed",
		Text: fmt.Sprintf("On %s the e-mail address we hold for you was changed from this address to another one. "+
			"If you did not ask for this, reply or write to us at once: you can also ask us to correct, restrict or erase your data (GDPR Art. 16-18).\n%s",
			day(now), s.contactLine())}
	if err := s.Outbox.EnqueueIn(ctx, tx, m); err != nil {
		return err
	}
	s.wake()
	return nil
}

// keptAfterwards says what is still kept about an address no contact has: its entry on the
// suppression list, when it has one (a keyed hash, reason and date; GDPR Art. 15 asks for what
// is held), and the record of the person's requests. "" when the address is not suppressed or
// cannot be read.
func (s *Service) keptAfterwards(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey) string {
	if dk == nil || len(rec.Sealed[colEmail]) == 0 {
		return ""
	}
	b, err := dk.Open(Table, colEmail, rec.ID, rec.Sealed[colEmail])
	if err != nil {
		return ""
	}
	hs, err := s.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, string(b))
	if err != nil {
		return ""
	}
	sup, err := tx.Suppression(ctx, hs...)
	if err != nil {
		return ""
	}
	why := map[string]string{
		consent.SuppressionErased: "your data was erased", consent.SuppressionUnsubscribed: "you unsubscribed",
		consent.SuppressionBounced: "mail to it bounced", consent.SuppressionComplained: "you reported our mail as spam",
		consent.SuppressionObjected:   "you objected to direct marketing",
		consent.SuppressionRestricted: "the processing of your data was restricted",
	}[sup.Reason]
	if why == "" {
		why = sup.Reason
	}
	return fmt.Sprintf("What we do keep: your address is on our do-not-mail list since %s because %s. The list holds only a keyed hash of the address, "+
		"so that it is never mailed again; we also keep the record of your requests to us.\n", day(sup.CreatedAt), why)
}

// notHeld is an erasure's guard: Conflict legal_hold when the contact is under a legal hold.
func notHeld(ctx context.Context, ctTx contact.Tx, rec *contact.Record) error {
	tx, ok := ctTx.(Tx)
	if !ok {
		return fmt.Errorf("dsr: erasing %s: the store transaction does not hold requests", rec.ID)
	}
	if hold, err := tx.LegalHold(ctx, rec.ID); err != nil {
		return err
	} else if hold {
		return errLegalHold
	}
	return nil
}
