package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/store"
)

// Tx is what the suite's cases drive inside a transaction: the whole store.Tx.
type Tx = store.Tx

// Backend is what the suite needs of a store implementation; every field is required.
type Backend struct {
	// Open opens a fresh, empty store and registers its closing with t.Cleanup.
	Open func(t *testing.T) store.Store
	// Tamper closes s (a store Open or Tamper returned), applies edits to its stored audit log
	// behind the store's back, as someone holding the database would, and returns the same
	// database opened again (closed by t.Cleanup).
	Tamper func(t *testing.T, s store.Store, edits []AuditEdit) store.Store
	// Remnants returns the names of the places of s's storage (files, for SQLite) whose bytes
	// contain m, read after s.Purge.
	Remnants func(t *testing.T, s store.Store, m []byte) []string
}

// AuditEdit is one change to a stored audit log made behind the store's back.
type AuditEdit struct {
	Seq int64 // the event changed
	// Delete removes the event at Seq; otherwise every stored field of the event at Seq
	// (its sequence number aside) becomes Event's, hashes included, unchecked.
	Delete bool
	Event  audit.Event
}

// guard bounds each case's store calls so that a deadlocked store fails instead of hanging the
// binary. It is far above any honest duration and asserts no speed: on a loaded machine with
// other packages' tests on the same PostgreSQL server, the erasure case's vacuums (which wait for
// every older transaction of the server) and checkpoints took over 20 s.
const guard = 2 * time.Minute

// testCase is one case of the suite.
type testCase struct {
	name string
	fn   func(t *testing.T, s *suite)
}

// cases lists the suite, by domain (one file each).
func cases() []testCase {
	return []testCase{
		// contacts.go
		{"ContactRoundTrip", testContactRoundTrip},
		{"ContactSparseRoundTrip", testContactSparseRoundTrip},
		{"ContactUpdate", testContactUpdate},
		{"DuplicateEmailOnInsert", testDuplicateEmailOnInsert},
		{"DuplicateEmailOnUpdate", testDuplicateEmailOnUpdate},
		{"ListContacts", testListContacts},
		{"ContactsByPhoneIndex", testContactsByPhoneIndex},
		{"DeleteContactCascades", testDeleteContactCascades},
		{"DataKey", testDataKey},
		{"FormerEmails", testFormerEmails},
		{"Purge", testPurge},
		// transactions.go: across domains
		{"NotFound", testNotFound},
		{"Rollback", testRollback},
		{"UpdatePanic", testUpdatePanic},
		// audit.go
		{"AuditChain", testAuditChain},
		{"AuditEmpty", testAuditEmpty},
		{"AuditEventsAbout", testAuditEventsAbout},
		{"AuditTamper", testAuditTamper},
		{"KeyEvidence", testKeyEvidence},
		{"AuditTruncationStaysVisible", testAuditTruncationStaysVisible},
		// consent.go
		{"Purposes", testPurposes},
		{"ConsentEvents", testConsentEvents},
		{"CurrentConsent", testCurrentConsent},
		{"Suppression", testSuppression},
		{"PurposeUnsubscribes", testPurposeUnsubscribes},
		{"GateFacts", testGateFacts},
		{"ObjectionsAndChanges", testObjectionsAndChanges},
		{"ApprovalAndRepermission", testApprovalAndRepermission},
		{"AskCandidates", testAskCandidates},
		{"GateFactsRequests", testGateFactsRequests},
		// policy.go, tokens.go, imports.go
		{"PolicyVersions", testPolicyVersions},
		{"Tokens", testTokens},
		{"ConsoleSessions", testConsoleSessions},
		{"RateWindows", testRateWindows},
		{"BulkEqualsSingle", testBulkEqualsSingle},
		{"BulkDuplicateRollsBack", testBulkDuplicateRollsBack},
		{"ImportErrors", testImportErrors},
		// ledger.go
		{"Ledger", testLedger},
		{"LedgerListUnsubscribes", testLedgerListUnsubscribes},
		// requests.go
		{"RequestRoundTrip", testRequestRoundTrip},
		{"ListRequests", testListRequests},
		{"RequestTimelineAndLinks", testRequestTimelineAndLinks},
		{"ForgetRequest", testForgetRequest},
		{"Exports", testExports},
		{"LedgerRequests", testLedgerRequests},
		// mail.go, optin.go
		{"Outbox", testOutbox},
		{"LastMailAt", testLastMailAt},
		{"OptinTokens", testOptinTokens},
		{"UnsubscribeTokens", testUnsubscribeTokens},
		{"SuppressionLifted", testSuppressionLifted},
		{"ConfirmedOptIns", testConfirmedOptIns},
		{"LedgerAddressHashes", testLedgerAddressHashes},
		// anykey.go, requests_anykey.go
		{"LookupsUnderEveryKey", testLookupsUnderEveryKey},
		{"MovePurposeUnsubscribes", testMovePurposeUnsubscribes},
		{"RequestsUnderEveryKey", testRequestsUnderEveryKey},
		// campaigns.go
		{"Campaigns", testCampaigns},
		{"LastContactID", testLastContactID},
		{"CampaignRecipients", testCampaignRecipients},
		// share.go, webhooks.go
		{"Processors", testProcessors},
		{"Disclosures", testDisclosures},
		{"Deliveries", testDeliveries},
		{"DeliveryOrder", testDeliveryOrder},
		{"WebhookCursor", testWebhookCursor},
		{"NotificationTasks", testNotificationTasks},
		// governance.go
		{"RetentionPolicies", testRetentionPolicies},
		{"LegalHoldAndRestriction", testLegalHoldAndRestriction},
		{"RetentionCandidates", testRetentionCandidates},
		{"RetentionPoliciesAndHolds", testRetentionPoliciesAndHolds},
		{"Breaches", testBreaches},
		{"BreachFacts", testBreachFacts},
		{"DPARequests", testDPARequests},
		// gauges.go: the reads behind /metrics
		{"Gauges", testGauges},
		// keys.go: key rotation
		{"WrappedKeys", testWrappedKeys},
		{"KeyNodes", testKeyNodes},
		// erasure.go: across domains
		{"ErasureLeavesNothing", testErasureLeavesNothing},
	}
}

// Run runs the contract suite against the backend: every case in parallel on its own fresh
// store (subtests of "Cases"), then the guard (EveryTxMethodDriven), which fails when a method
// of store.Tx was called by no case. Each case's transactions go through a recorder that notes
// the method names it forwards.
func Run(t *testing.T, b Backend) {
	// Every hook is required: a backend that cannot be tampered with or searched would pass
	// without the audit-chain and "nothing of the erased person remains" cases (issue 12 trial).
	if b.Open == nil || b.Tamper == nil || b.Remnants == nil {
		t.Fatal("storetest: Backend.Open, Tamper and Remnants are all required (a backend's audit tamper and erasure-remnant cases may not be skipped)")
	}
	all := cases()
	seen := newCoverage()
	var ran atomic.Int64
	t.Run("Cases", func(t *testing.T) {
		for _, tc := range all {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ran.Add(1)
				ctx, cancel := context.WithTimeout(t.Context(), guard)
				t.Cleanup(cancel)
				tc.fn(t, &suite{h: recording{b.Open(t), seen}, ctx: ctx, b: b, seen: seen})
			})
		}
	})
	t.Run("EveryTxMethodDriven", func(t *testing.T) {
		if n := ran.Load(); n != int64(len(all)) {
			t.Skipf("only %d of the %d cases ran (-run): coverage is not known", n, len(all))
		}
		seen.check(t)
	})
}

// suite is one case's store and context.
type suite struct {
	h    store.Store // the store, recording every Tx method called through Update and View
	ctx  context.Context
	b    Backend
	seen *coverage
}

// fresh returns a case on a new, empty store of the same backend (for subtests that need their
// own).
func (s *suite) fresh(t *testing.T) *suite {
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	t.Cleanup(cancel)
	return &suite{h: recording{s.b.Open(t), s.seen}, ctx: ctx, b: s.b, seen: s.seen}
}

// tamper applies edits to the stored audit log through the backend's hook, which reopens the
// store; it skips the test when the backend has no such hook.
func (s *suite) tamper(t *testing.T, edits ...AuditEdit) {
	t.Helper()
	s.h = recording{s.b.Tamper(t, s.h.(recording).Store, edits), s.seen}
}

// remnants runs the backend's Remnants hook for m on the case's store, then gives the case a
// fresh guard: the hook is no store call, and its waits (PostgreSQL's vacuum waits for every
// older transaction of the database, other tests' included) would otherwise spend the guard of
// the store calls after it.
func (s *suite) remnants(t *testing.T, m []byte) []string {
	t.Helper()
	out := s.b.Remnants(t, s.h.(recording).Store, m)
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	t.Cleanup(cancel)
	s.ctx = ctx
	return out
}

// update runs fn in one transaction and fails the test on error.
func (s *suite) update(t *testing.T, fn func(Tx) error) {
	t.Helper()
	if err := s.h.Update(s.ctx, fn); err != nil {
		t.Fatalf("Update: %v%s", err, hint(err))
	}
}

// view runs fn in one read-only transaction and fails the test on error.
func (s *suite) view(t *testing.T, fn func(Tx) error) {
	t.Helper()
	if err := s.h.View(s.ctx, fn); err != nil {
		t.Fatalf("View: %v%s", err, hint(err))
	}
}

// verify returns the audit verification and fails the test on error.
func (s *suite) verify(t *testing.T) audit.Verification {
	t.Helper()
	v, err := s.h.VerifyAudit(s.ctx)
	if err != nil {
		t.Fatalf("VerifyAudit: %v%s", err, hint(err))
	}
	return v
}

func hint(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf(" (the store did not return within %s: deadlock?)", guard)
	}
	return ""
}

// wantKind reports an error unless err carries an *apperr.Error of kind k, and returns that
// *apperr.Error (nil when it does not). It never stops the test, so it is safe inside Update: a
// t.FailNow there would leave the transaction open.
func wantKind(t *testing.T, what string, err error, k apperr.Kind) *apperr.Error {
	t.Helper()
	if err == nil {
		t.Errorf("%s: err = nil, want %s", what, k)
		return nil
	}
	e := apperr.As(err)
	if e == nil || e.Kind != k {
		t.Errorf("%s: err = %v (kind %s), want kind %s%s", what, err, apperr.KindOf(err), k, hint(err))
		return nil
	}
	return e
}
