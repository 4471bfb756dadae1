// Package dsr handles data subject requests (GDPR Art. 12–21): intake, verification, deadlines
// and fulfilment.
//
// Invariants:
//   - A verified erasure or restriction request that is still open (bound to its contact,
//     in_progress or extended) holds the contact back: the consent gate reads it from the
//     request's own state and refuses every use (consent.ReasonErasureRequested,
//     ReasonRestrictionRequested), so every way of closing the request ends the hold.
//   - An erasure receipt says a recipient was told only once it acknowledged its webhook's
//     erasure event or staff marked its notification task done (share.NotificationTask), and
//     names what was erased in plain words, never table names.
//   - Who may close a request of a type (CloseNeeds), correct a restricted contact, bind a request
//     to another address, export, or erase a contact directly is decided here from the actor in
//     the context (token.Permits), in the transaction that reads the state the rule depends on
//     (permission.go); callers check only the coarse permission of their route.
package dsr

import "time"

// MaxExtensionMonths is how far a deadline may be extended "where necessary, taking into account
// the complexity and number of the requests" (GDPR Art. 12(3)).
const MaxExtensionMonths = 2

// AddMonths returns t plus n calendar months in UTC, at the same wall-clock time; when that day
// does not exist in the target month it is the month's last day (31 Jan + 1 → 28 or 29 Feb).
// This is how Regulation (EEC, Euratom) No 1182/71 Art. 3(2)(c) ends a period expressed in
// months. n must not be negative.
func AddMonths(t time.Time, n int) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return first.AddDate(0, 0, d-1)
}

// DueAt is when a request received at receivedAt must be answered: one calendar month after
// receipt (GDPR Art. 12(3)), by AddMonths.
func DueAt(receivedAt time.Time) time.Time { return AddMonths(receivedAt, 1) }

// ExtendedUntil is the deadline after extending by months (1 or 2) further months: one period of
// 1+months calendar months from receipt, by AddMonths. ok is false for any other number.
func ExtendedUntil(receivedAt time.Time, months int) (until time.Time, ok bool) {
	if months < 1 || months > MaxExtensionMonths {
		return time.Time{}, false
	}
	return AddMonths(receivedAt, 1+months), true
}

// DaysLeft counts calendar days (UTC) from now to the deadline: 30 on the day of a request due
// 30 days later, 0 on the day it is due until the deadline passes; negative once it has passed
// (−1 for the rest of the due day and the day after, −2 the day after that).
func DaysLeft(due, now time.Time) int {
	day := func(t time.Time) int64 {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	days := int(day(due) - day(now))
	if now.After(due) && days >= 0 {
		days = -1
	}
	return days
}
