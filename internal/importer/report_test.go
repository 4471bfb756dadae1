package importer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/importer"
)

// importString imports body with opt and fails the test on an error.
func importString(t *testing.T, im *importer.Importer, body string, opt importer.Options) importer.Report {
	t.Helper()
	rep, err := im.Import(context.Background(), strings.NewReader(body), opt)
	if err != nil {
		t.Fatalf("import: %v (%+v)", err, rep)
	}
	return rep
}

// counts is the part of a report TestReportCountersCountOneKind compares.
type counts struct {
	consents, requests, existing, suppressed, supAdded, supKnown, listAdded, listKnown, withdrawals, outdated, objections int
}

func countsOf(r importer.Report) counts {
	return counts{r.ConsentsRecorded, r.Requests, r.Existing, r.Suppressed, r.SuppressionsAdded, r.SuppressionsKnown,
		r.ListUnsubscribes, r.ListUnsubscribesKnown, r.Withdrawals, r.OutdatedWithdrawals, r.Objections}
}

// TestReportCountersCountOneKind (found by a fresh-user trial): an unsubscribed row for an
// existing contact reported consents_recorded 1, withdrawals 1, suppressions_added 1; a list
// unsubscribe was reported as a suppression; a pending row as a consent recorded; an objection
// not at all, and it took the import's time instead of the row's.
func TestReportCountersCountOneKind(t *testing.T) {
	ctx := context.Background()
	im := newImporter(t)
	if _, err := im.Consent.CreatePurpose(ctx, consent.Purpose{ID: "offers", Name: "Offers", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true}); err != nil {
		t.Fatal(err)
	}
	mc := importer.Options{Format: importer.FormatMailchimp}
	sub := importString(t, im, "Email Address,OPTIN_TIME,LAST_CHANGED\na@example.com,2020-01-01 00:00:00,2020-01-01 00:00:00\n", mc)
	if got := countsOf(sub); got != (counts{consents: 1}) {
		t.Errorf("subscribed: %+v", got)
	}
	unsub := importString(t, im, "Email Address,UNSUB_TIME\na@example.com,2021-01-01 00:00:00\nn@example.com,2021-01-01 00:00:00\nn@example.com,2021-01-01 00:00:00\n", mc)
	if got := countsOf(unsub); got != (counts{withdrawals: 1, listAdded: 2, listKnown: 1}) {
		t.Errorf("unsubscribed: %+v; want 1 withdrawal, 2 list unsubscribes, 1 known, no consent or suppression", got)
	}
	clean := importString(t, im, "Email Address,CLEAN_TIME\nb@example.com,2021-01-01 00:00:00\nb@example.com,2021-01-01 00:00:00\n", mc)
	if got := countsOf(clean); got != (counts{supAdded: 1, supKnown: 1}) {
		t.Errorf("cleaned: %+v", got)
	}
	pending := importString(t, im, "Email Address,OPTIN_TIME\np@example.com,2020-01-01 00:00:00\n", importer.Options{Format: importer.FormatMailchimp, Status: importer.StatusPending})
	if got := countsOf(pending); got != (counts{requests: 1}) || pending.Created != 1 {
		t.Errorf("pending: %+v; want 1 request, no consent", got)
	}
	// One address, unsubscribed then subscribed in one file: the second row is suppressed.
	both := importString(t, im, "Email,Status\nx@example.com,unsubscribed\nx@example.com,subscribed\n", importer.Options{Format: importer.FormatGeneric})
	if got := countsOf(both); got != (counts{listAdded: 1, suppressed: 1}) {
		t.Errorf("unsubscribed and subscribed rows of one address: %+v; want 1 list unsubscribe, 1 suppressed", got)
	}

	// A purpose on legitimate interest: an unsubscribe is an objection, at the row's time.
	importString(t, im, "Email\no@example.com\n", importer.Options{Format: importer.FormatGeneric, Purpose: "offers"})
	left := "Email Address,UNSUB_TIME\no@example.com,2022-03-04 05:06:07\n"
	offers := importer.Options{Format: importer.FormatMailchimp, Purpose: "offers"}
	if got := countsOf(importString(t, im, left, offers)); got != (counts{objections: 1, listAdded: 1}) {
		t.Errorf("unsubscribe from offers: %+v; want 1 objection, 1 list unsubscribe", got)
	}
	if got := countsOf(importString(t, im, left, offers)); got != (counts{listKnown: 1}) {
		t.Errorf("unsubscribe from offers again: %+v; want nothing new", got)
	}
	c, err := im.Contacts.FindByEmail(ctx, "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	l, err := im.Consent.History(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC); len(l.Objections) != 1 || l.Objections[0].Scope != "offers" || !l.Objections[0].OccurredAt.Equal(want) {
		t.Fatalf("objections: %+v; want one to offers at the row's UNSUB_TIME %v", l.Objections, want)
	}
}

// TestExpiredConsentsAreCounted (found by a fresh-user trial): with a purpose's
// consent_valid_days, imported consents expired already were not reported.
func TestExpiredConsentsAreCounted(t *testing.T) {
	ctx := context.Background()
	im := newImporter(t)
	if _, err := im.Consent.CreatePurpose(ctx, consent.Purpose{ID: "yearly", Name: "Yearly", LawfulBasis: consent.BasisConsent, ConsentValidDays: 365}); err != nil {
		t.Fatal(err)
	}
	recent := time.Now().UTC().AddDate(0, 0, -30).Format(time.DateTime)
	body := "Email Address,OPTIN_TIME,LAST_CHANGED\nold@example.com,2018-02-05 19:28:23,\nnew@example.com," + recent + ",\n"
	rep := importString(t, im, body, importer.Options{Format: importer.FormatMailchimp, Purpose: "yearly"})
	if rep.ConsentsRecorded != 2 || rep.Expired != 1 {
		t.Fatalf("report %+v; want 2 consents, 1 expired", rep)
	}
	if !strings.Contains(rep.String(), "1 imported consents are expired already") {
		t.Errorf("report text does not say so:\n%s", rep)
	}
	c, err := im.Contacts.FindByEmail(ctx, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := im.Consent.Check(ctx, c.ID, "yearly"); err != nil || d.Allowed || d.Reason != consent.ReasonExpired {
		t.Errorf("gate for the expired one: %+v, %v; want expired", d, err)
	}
	// Without a validity nothing expires.
	rep = importString(t, im, "Email Address,OPTIN_TIME,LAST_CHANGED\nolder@example.com,2018-02-05 19:28:23,\n", importer.Options{Format: importer.FormatMailchimp})
	if rep.ConsentsRecorded != 1 || rep.Expired != 0 {
		t.Errorf("newsletter: %+v; want 1 consent, none expired", rep)
	}
}

// TestBadCountryIsNoRegion (found by a fresh-user trial): CC=XX fell back to
// TILLIT_DEFAULT_REGION without a word, and without one the warning asked for the country in CC.
func TestBadCountryIsNoRegion(t *testing.T) {
	im := newImporter(t)
	im.Contacts.DefaultRegion = "DE"
	body := "Email Address,Phone Number,CC,OPTIN_TIME,LAST_CHANGED\n" +
		"a@example.com,030 1234567,XX,2020-01-01 00:00:00,\n" + // national number, bad CC: left out
		"b@example.com,+49 30 1234567,XX,2020-01-01 00:00:00,\n" + // full number: kept, CC warned about
		"c@example.com,030 1234567,,2020-01-01 00:00:00,\n" // no CC: the default region
	rep := importString(t, im, body, importer.Options{Format: importer.FormatMailchimp})
	want := []importer.RowReport{
		{Line: 2, Field: "CC", Code: "invalid_country", Reason: "CC: left out, not a country code (ISO 3166-1 alpha-2, such as DE)"},
		{Line: 2, Field: "Phone Number", Code: "region_required", Reason: "Phone Number: left out, a number without a country code needs a region, and the row's CC is not a country code: correct it or write the number with + and its country code"},
		{Line: 3, Field: "CC", Code: "invalid_country", Reason: "CC: left out, not a country code (ISO 3166-1 alpha-2, such as DE)"},
	}
	if rep.Created != 3 || rep.LeftOut != 3 || len(rep.Warnings) != 3 {
		t.Fatalf("report %+v; want 3 created, the 3 warnings %+v", rep, want)
	}
	for i, w := range want {
		if rep.Warnings[i] != w {
			t.Errorf("warning %d = %+v, want %+v", i, rep.Warnings[i], w)
		}
	}
	ctx := context.Background()
	for email, phone := range map[string]string{"a@example.com": "", "b@example.com": "+49301234567", "c@example.com": "+49301234567"} {
		c, err := im.Contacts.FindByEmail(ctx, email)
		if err != nil || c.Phone != phone {
			t.Errorf("%s: phone %q, %v; want %q", email, c.Phone, err, phone)
		}
	}
}
