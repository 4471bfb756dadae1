// Package governance produces what the controller answers for: the record of processing
// activities (GDPR Art. 30), built from the purposes, the processor register and the retention
// policies; the breach register with its 72-hour deadline and the notice to the people (Art.
// 33, 34); retention policies and the sweep that erases contacts with no lawful basis left
// (Art. 5(1)(e)); and data processing agreements rendered from the published dpa_template (Art.
// 28(3)).
//
// Invariants: no personal data goes into the record, the breach register, errors or audit
// fields (ids, counts and field names only); the retention rule is Policy.Erases, a pure
// function over the facts the store reads (Candidate), so no store decides who is erased; a
// template's {{placeholders}} are those its renderer fills (CheckTemplate, at draft and
// publish); an agreement is drawn up only with the controller's name and address configured,
// and names from settings and customers are escaped as Markdown text; a dry-run sweep erases no
// one.
package governance
