package consent_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// TestReplaces: only an erasure replaces an entry of another reason, and only one made at or
// before it; every other entry stands as first made.
func TestReplaces(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	for _, tc := range []struct {
		held, next consent.Suppression
		want       bool
	}{
		{sup("bounced", t0), sup("erased", t1), true},
		{sup("complained", t0), sup("erased", t1), true},
		{sup("unsubscribed", t0), sup("erased", t1), true},
		{sup("objected", t0), sup("erased", t1), true},
		{sup("bounced", t1), sup("erased", t1), true},      // the same instant
		{sup("bounced", t1), sup("erased", t0), false},     // the address came back and bounced after the erasure
		{sup("erased", t0), sup("erased", t1), false},      // the first erasure keeps its time
		{sup("erased", t0), sup("bounced", t1), false},     // a bounce never replaces an erasure
		{sup("bounced", t0), sup("complained", t1), false}, // nor another reason
	} {
		if got := consent.Replaces(tc.held, tc.next); got != tc.want {
			t.Errorf("Replaces(%s at %s, %s at %s) = %v; want %v", tc.held.Reason, tc.held.CreatedAt.Format(time.Kitchen), tc.next.Reason, tc.next.CreatedAt.Format(time.Kitchen), got, tc.want)
		}
	}
}

func sup(reason string, at time.Time) consent.Suppression {
	return consent.Suppression{Hash: []byte("h"), Reason: reason, CreatedAt: at}
}

// suppressions is a suppression list in memory, for Suppress.
type suppressions map[string]consent.Suppression

func (l suppressions) Suppression(_ context.Context, hs ...[]byte) (consent.Suppression, error) {
	for _, h := range hs {
		if s, ok := l[string(h)]; ok {
			return s, nil
		}
	}
	return consent.Suppression{}, apperr.New(apperr.NotFound, "not suppressed")
}

func (l suppressions) AddSuppression(_ context.Context, s consent.Suppression) error {
	if _, ok := l[string(s.Hash)]; !ok {
		l[string(s.Hash)] = s
	}
	return nil
}

func (l suppressions) ConfirmedOptIns(context.Context, [][]byte) (map[string]time.Time, error) {
	return nil, nil
}

func (l suppressions) PutSuppression(_ context.Context, s consent.Suppression) error {
	l[string(s.Hash)] = s
	return nil
}

// TestSuppress: an address not on the list is added; an erasure replaces an earlier bounce with
// its own reason and time; a later bounce changes nothing; each answer says whether the list
// changed.
func TestSuppress(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	l := suppressions{}
	for i, step := range []struct {
		s       consent.Suppression
		changed bool
		want    consent.Suppression
	}{
		{sup("bounced", t0), true, sup("bounced", t0)},
		{sup("complained", t0.Add(time.Hour)), false, sup("bounced", t0)},
		{sup("erased", t0.Add(2*time.Hour)), true, sup("erased", t0.Add(2*time.Hour))},
		{sup("erased", t0.Add(3*time.Hour)), false, sup("erased", t0.Add(2*time.Hour))},
		{sup("bounced", t0.Add(4*time.Hour)), false, sup("erased", t0.Add(2*time.Hour))},
	} {
		changed, err := consent.Suppress(ctx, l, step.s)
		if got := l["h"]; err != nil || changed != step.changed || got.Reason != step.want.Reason || !got.CreatedAt.Equal(step.want.CreatedAt) {
			t.Errorf("step %d: Suppress(%s) = %v, %v, list holds %s at %v; want %v, %s at %v", i, step.s.Reason, changed, err, got.Reason, got.CreatedAt, step.changed, step.want.Reason, step.want.CreatedAt)
		}
	}
}
