package sqlite

// PersonalWords says, for each table of PersonalData, what it holds in words the person reads in
// their erasure receipt (GDPR Art. 12(1): clear and plain language): for a table erasure deletes,
// what was erased; for one it keeps, what is kept and why. A test fails on a table without words.
// The contacts table's words are refined per person to the fields their record held
// (contact.Record.FieldWords).
var PersonalWords = map[string]string{
	"contacts":              "your contact details",
	"keystore.contact_keys": "the key that sealed your data, without which no copy of it can be read",
	"consent_events":        "your consent history",
	"consent_current":       "your consent choices",
	"objections":            "your objections to our use of your data",
	"contact_former_emails": "your earlier e-mail addresses",
	"outbox":                "our copies of the messages we sent you or were about to send you",
	"optin_tokens":          "the confirmation links we sent you",
	"unsubscribe_tokens":    "the unsubscribe links in our mail to you",
	"exports":               "copies of your data that were waiting for download",
	"consent_changes": "a list of the changes to your consent, by kind and date only, so that the companies that received " +
		"your data learn of the erasure (GDPR Art. 19)",
	"requests": "the record of your requests to us and our answers: their type, dates and state (GDPR Art. 5(2)); " +
		"your address, what you wrote and our notes can no longer be read",
	"request_events": "what we did with each of your requests, and when (GDPR Art. 5(2))",
	"request_tokens": "scrambled copies (hashes) of the used confirmation links of those requests",
	"audit_events": "our log of who looked at or changed which parts of your record and when, without the contents " +
		"(GDPR Art. 5(2))",
	"disclosures": "which company received which kinds of your data, for what and when, without the data itself, so " +
		"that each can be told of the erasure (GDPR Art. 19)",
	"webhook_deliveries": "the automatic notices we sent those companies about changes to your data, so that the erasure " +
		"reaches each of them (GDPR Art. 19)",
	"suppressions": "a scrambled copy (keyed hash) of each of your e-mail addresses on our do-not-mail list, so that you " +
		"are never mailed again (GDPR Art. 17(3)(b), 21(3))",
	"erasure_ledger": "the number that identified your record and scrambled copies (keyed hashes) of your e-mail " +
		"addresses, so that a backup we restore never brings your data back",
	"purpose_unsubscribes": "a scrambled copy (keyed hash) of your e-mail address with each mailing list you left, so " +
		"that no list we import signs you up again (GDPR Art. 7(3))",
	"campaign_skipped": "which of our mailings were not sent to you, and why",
	"notification_tasks": "our to-dos to tell the companies we cannot reach automatically of changes to your data, and " +
		"when we did (GDPR Art. 19)",
}
