package personal

import "slices"

// Holding is one kind of personal data Tillit keeps about a person, as the register describes it.
type Holding struct {
	// ID names the holding for good: each backend maps it to its tables, and the erasure receipt
	// names it (dsr.Holding.Table, JSON "table"), so receipts already given keep their meaning.
	// Lower case with underscores; the ids are the SQLite table names the first receipts used.
	ID string
	// What says what the holding is in words the person reads in their erasure receipt (GDPR Art.
	// 12(1): clear and plain language): for a holding erasure deletes, what was erased; for one it
	// keeps, what is kept and why. Never a table or column name. The contact's own record has
	// its words refined per person to the fields it held (contact.Record.FieldWords).
	What string
	// Files are the access bundle's files that carry the holding (GDPR Art. 15, 20), as named by
	// dsr.Bundle.WriteZip; nil when the holding is not exported, and then NotExported says why.
	Files       []string
	NotExported string
	// Kept is "" when erasure deletes the holding (GDPR Art. 17(1)); otherwise what erasure keeps
	// of it and the exemption that allows it, as staff read it on the receipt.
	Kept string
	// Article is the GDPR article under which a kept holding is kept ("Art. 19", "Art. 5(2)");
	// "" for a holding erasure deletes.
	Article string
	// ByAddress is true for a holding found by keyed hashes of the person's e-mail addresses
	// rather than by their contact id (the suppression list, imported unsubscribes): it is
	// counted through the addresses the contact's record holds, so its count falls to zero once
	// the record is erased although its rows stay.
	ByAddress bool
}

// Deleted is a Holding's Erasure when erasure deletes it.
const Deleted = "deleted"

// Erasure is what erasure does with the holding, as the receipt records it (dsr.Holding.Erase,
// JSON "erasure"): Deleted, or "kept: " and Kept.
func (h Holding) Erasure() string {
	if h.Kept == "" {
		return Deleted
	}
	return "kept: " + h.Kept
}

// Deletes reports whether erasure deletes the holding.
func (h Holding) Deletes() bool { return h.Kept == "" }

// The ids of the holdings, in register order.
const (
	Contacts            = "contacts"
	ContactKeys         = "contact_keys"
	ConsentEvents       = "consent_events"
	ConsentCurrent      = "consent_current"
	Objections          = "objections"
	ContactFormerEmails = "contact_former_emails"
	Outbox              = "outbox"
	OptinTokens         = "optin_tokens"
	UnsubscribeTokens   = "unsubscribe_tokens"
	Exports             = "exports"
	ConsentChanges      = "consent_changes"
	Requests            = "requests"
	RequestEvents       = "request_events"
	RequestTokens       = "request_tokens"
	AuditEvents         = "audit_events"
	Disclosures         = "disclosures"
	RefusedDisclosures  = "refused_disclosures"
	WebhookDeliveries   = "webhook_deliveries"
	Suppressions        = "suppressions"
	PurposeUnsubscribes = "purpose_unsubscribes"
	CampaignSkipped     = "campaign_skipped"
	ErasureLedger       = "erasure_ledger"
	NotificationTasks   = "notification_tasks"
)

// Holdings returns the register: every holding, in the order the erasure receipt lists them.
// The slice is new on each call. A new kind of personal data is added here first; the tests of
// each backend then fail until it is mapped to a table, and those of dsr until its bundle files
// exist.
func Holdings() []Holding {
	return []Holding{
		{ID: Contacts, What: "your contact details", Files: []string{"contact.json", "contact.csv", "contact.vcf"}},
		{ID: ContactKeys, What: "the key that sealed your data, without which no copy of it can be read",
			NotExported: "the key that seals the person's fields, not data about them"},
		{ID: ConsentEvents, What: "your consent history", Files: []string{"consents.json"}},
		{ID: ConsentCurrent, What: "your consent choices", Files: []string{"consents.json"}},
		{ID: Objections, What: "your objections to our use of your data", Files: []string{"consents.json"}},
		{ID: ContactFormerEmails, What: "your earlier e-mail addresses",
			NotExported: "keyed hashes of earlier addresses, which cannot be read back"},
		{ID: Outbox, What: "our copies of the messages we sent you or were about to send you",
			NotExported: "copies of messages already in the person's mailbox"},
		{ID: OptinTokens, What: "the confirmation links we sent you", NotExported: "hashes of confirmation links"},
		{ID: UnsubscribeTokens, What: "the unsubscribe links in our older mail to you", NotExported: "hashes of unsubscribe links (links made before they were sealed: newer links need no row)"},
		{ID: Exports, What: "copies of your data that were waiting for download", NotExported: "earlier copies of this bundle"},
		{ID: ConsentChanges,
			What: "a list of the changes to your consent, by kind and date only, so that the companies that received " +
				"your data learn of the erasure (GDPR Art. 19)",
			NotExported: "the change feed for processors; the same changes are in consents.json",
			Kept:        "contact id and kind of change only, no personal field, so processors learn of the erasure (GDPR Art. 19)",
			Article:     "Art. 19"},
		{ID: Requests,
			What: "the record of your requests to us and our answers: their type, dates and state (GDPR Art. 5(2)); " +
				"your address, what you wrote and our notes can no longer be read",
			Files: []string{"requests.json"},
			Kept: "type, dates and state of each request as the record of the answer (GDPR Art. 5(2), 12); its key, " +
				"and with it the address, details and notes, is destroyed",
			Article: "Art. 5(2), 12"},
		{ID: RequestEvents, What: "what we did with each of your requests, and when (GDPR Art. 5(2))",
			Files:   []string{"requests.json"},
			Kept:    "what was done to each request and when (GDPR Art. 5(2)); the notes can no longer be read",
			Article: "Art. 5(2)"},
		{ID: RequestTokens, What: "scrambled copies (hashes) of the used confirmation links of those requests",
			NotExported: "hashes of verification links",
			Kept:        "hashes of used or expired verification links of a kept request",
			Article:     "Art. 5(2)"}, // part of the kept request's record
		{ID: AuditEvents,
			What: "our log of who looked at or changed which parts of your record and when, without the contents " +
				"(GDPR Art. 5(2))",
			Files:   []string{"audit.json"},
			Kept:    "who read or changed which fields and when, never the values (GDPR Art. 5(2))",
			Article: "Art. 5(2)"},
		{ID: Disclosures,
			What: "which company received which kinds of your data, for what and when, without the data itself, so " +
				"that each can be told of the erasure (GDPR Art. 19)",
			Files: []string{"disclosures.json"},
			Kept: "which recipient received which fields for which purpose and when, never the values, so recipients " +
				"can be told of the erasure (GDPR Art. 19)",
			Article: "Art. 19"},
		// A refused disclosure sent nothing, so no recipient has to be told (Art. 19 does not
		// apply), and the audit log keeps the refusal (who asked, which fields, why) as the
		// record of the answer (Art. 5(2)): the row itself goes with the person.
		{ID: RefusedDisclosures,
			What:  "our record of the requests for your data that we refused (which company asked, for which kinds of data and why), without the data itself",
			Files: []string{"disclosures.json"}},
		{ID: WebhookDeliveries,
			What: "the automatic notices we sent those companies about changes to your data, so that the erasure " +
				"reaches each of them (GDPR Art. 19)",
			NotExported: "notices to the recipients in disclosures.json about changes to the person's data",
			Kept: "contact id and kind of change only, so the erasure reaches every recipient and its acknowledgement " +
				"is recorded (GDPR Art. 19)",
			Article: "Art. 19"},
		{ID: Suppressions,
			What: "a scrambled copy (keyed hash) of each of your e-mail addresses on our do-not-mail list, so that you " +
				"are never mailed again (GDPR Art. 17(3)(b), 21(3))",
			Files: []string{"suppression.json"},
			Kept: "a keyed hash of each address the contact had, so it is never mailed or imported again (GDPR Art. " +
				"17(3)(b), 21(3))",
			Article: "Art. 17(3)(b), 21(3)", ByAddress: true},
		{ID: PurposeUnsubscribes,
			What: "a scrambled copy (keyed hash) of your e-mail address with each mailing list you left, so " +
				"that no list we import signs you up again (GDPR Art. 7(3))",
			NotExported: "keyed hashes of the person's addresses with the purposes whose lists they left (an imported " +
				"unsubscribe), which cannot be read back; the gate reads each as that purpose's withdrawal",
			Kept: "a keyed hash of the address and the purpose whose list it left, so that no import subscribes it to " +
				"that purpose again (GDPR Art. 7(3), 21(3))",
			Article: "Art. 7(3), 21(3)", ByAddress: true},
		{ID: CampaignSkipped, What: "which of our mailings were not sent to you, and why",
			NotExported: "which campaigns the consent gate kept from mailing the person, and the reason, which consents.json shows"},
		{ID: ErasureLedger,
			What: "the number that identified your record and scrambled copies (keyed hashes) of your e-mail " +
				"addresses, so that a backup we restore never brings your data back",
			NotExported: "written at erasure",
			Kept:        "the contact id and the keyed hashes of its addresses, replayed by every restore so a backup never brings the person back",
			Article:     "Art. 17(1)"}, // the erasure's own record: without it a restore would undo it
		{ID: NotificationTasks,
			What: "our to-dos to tell the companies we cannot reach automatically of changes to your data, and " +
				"when we did (GDPR Art. 19)",
			NotExported: "staff to-dos to tell the recipients in disclosures.json of a change by hand",
			Kept:        "contact id, recipient and kind of change, and when and how staff told the recipient (GDPR Art. 5(2), 19)",
			Article:     "Art. 5(2), 19"},
	}
}

// Find returns the holding with the given id; false when the register has none.
func Find(id string) (Holding, bool) {
	hs := Holdings()
	i := slices.IndexFunc(hs, func(h Holding) bool { return h.ID == id })
	if i < 0 {
		return Holding{}, false
	}
	return hs[i], true
}
