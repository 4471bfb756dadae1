package dsr

import (
	"testing"
	"time"
)

func TestDueAtCalendarMonth(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-03-15T10:30:00Z", "2026-04-15T10:30:00Z"},
		{"2026-01-31T23:59:59Z", "2026-02-28T23:59:59Z"}, // no 31 Feb: last day
		{"2028-01-31T08:00:00Z", "2028-02-29T08:00:00Z"}, // leap year
		{"2028-01-29T08:00:00Z", "2028-02-29T08:00:00Z"},
		{"2027-01-29T08:00:00Z", "2027-02-28T08:00:00Z"}, // not a leap year
		{"2028-02-29T12:00:00Z", "2028-03-29T12:00:00Z"}, // from a leap day
		{"2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"},
		{"2026-12-31T18:00:00Z", "2027-01-31T18:00:00Z"}, // across the year end
		{"2026-08-31T00:00:00Z", "2026-09-30T00:00:00Z"},
		{"2100-01-31T00:00:00Z", "2100-02-28T00:00:00Z"}, // 2100 is not a leap year
		{"2000-01-31T00:00:00Z", "2000-02-29T00:00:00Z"}, // 2000 is
		// A receipt time in another zone is the same instant in UTC.
		{"2026-02-01T00:30:00+01:00", "2026-02-28T23:30:00Z"},
	} {
		in, _ := time.Parse(time.RFC3339, tc.in)
		if got := DueAt(in).Format(time.RFC3339); got != tc.want {
			t.Errorf("DueAt(%s) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestExtendedUntil(t *testing.T) {
	in, _ := time.Parse(time.RFC3339, "2026-11-30T09:00:00Z")
	for months, want := range map[int]string{1: "2027-01-30T09:00:00Z", 2: "2027-02-28T09:00:00Z"} {
		got, ok := ExtendedUntil(in, months)
		if !ok || got.Format(time.RFC3339) != want {
			t.Errorf("ExtendedUntil(+%d) = %s %v; want %s", months, got.Format(time.RFC3339), ok, want)
		}
	}
	for _, months := range []int{0, 3, -1} {
		if _, ok := ExtendedUntil(in, months); ok {
			t.Errorf("ExtendedUntil(+%d) accepted; Art. 12(3) allows one or two further months", months)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	due, _ := time.Parse(time.RFC3339, "2026-12-10T12:00:00Z")
	for _, tc := range []struct {
		now  string
		want int
	}{
		{"2026-12-01T12:00:00Z", 9},
		{"2026-12-10T11:00:00Z", 0},
		{"2026-12-10T12:00:00Z", 0},
		{"2026-12-10T13:00:00Z", -1},
		{"2026-12-11T12:00:00Z", -1},
		{"2026-12-11T23:59:59Z", -1},
		{"2026-12-12T00:00:00Z", -2},
		// Found by a fresh-user trial: a request due in 30 days showed 29 (whole 24-hour
		// periods, rounded down).
		{"2026-11-10T12:00:01Z", 30},
		{"2026-12-09T23:59:59Z", 1},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := DaysLeft(due, now); got != tc.want {
			t.Errorf("DaysLeft at %s = %d; want %d", tc.now, got, tc.want)
		}
	}
}
