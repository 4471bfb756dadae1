package ledger_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
)

// TestReplayByAddress (issue 11, item 1): the lines of people the restored store lacks (created
// after the backup, such as by an import) are re-applied by the hash of the address they carry,
// each as its own kind: a withdrawal, refusal or objection to a purpose leaves that purpose's
// list; an objection to direct marketing, a restriction and an open erasure or restriction
// request suppress the address (reasons objected, restricted, erased). Lines without a hash, a
// closed request and an open objection request stay not_present; a second replay applies
// nothing; the next import of those addresses creates none of them, and the untouched one only.
func TestReplayByAddress(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
	w := openWorld(t, t.TempDir())
	defer w.a.Close()
	h := func(name string) string {
		_, b, err := w.contacts.EmailHashes(name + "@example.org")
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b[0])
	}
	at := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	due := time.Now().UTC().AddDate(0, 1, 0).Format(time.RFC3339Nano)
	ev := func(typ, id, name string) string {
		return fmt.Sprintf(`{"type":%q,"contact_id":"gone-%s","event_id":"ev-%s","purpose":"newsletter","method":"api","occurred_at":%q,"recorded_at":%q,"hash":%q}`, typ, id, id, at, at, h(name))
	}
	req := func(id, typ, state, name string) string {
		closed := ""
		if state == "completed" {
			closed = `,"closed_at":"` + at + `"`
		}
		return fmt.Sprintf(`{"type":"request","request_id":"rq-%s","request_type":%q,"contact_id":"gone-%s","state":%q,"channel":"portal","received_at":%q,"verified_at":%q,"due_at":%q,"hash":%q%s}`,
			id, typ, id, state, at, at, due, h(name), closed)
	}
	file := strings.Join([]string{
		ev("withdrawal", "w", "withdrew"),
		ev("refusal", "r", "refused"),
		fmt.Sprintf(`{"type":"objection","contact_id":"gone-o","scope":"newsletter","method":"api","occurred_at":%q,"recorded_at":%q,"hash":%q}`, at, at, h("objected.newsletter")),
		fmt.Sprintf(`{"type":"objection","contact_id":"gone-d","scope":"direct_marketing","method":"gpc","occurred_at":%q,"recorded_at":%q,"hash":%q}`, at, at, h("objected.marketing")),
		fmt.Sprintf(`{"type":"restriction","contact_id":"gone-x","restricted_at":%q,"hash":%q}`, at, h("restricted")),
		req("e", "erasure", "in_progress", "erasure.requested"),
		req("q", "restriction", "extended", "restriction.requested"),
		req("j", "objection", "in_progress", "objection.requested"),
		req("c", "erasure", "completed", "erasure.closed"),
		fmt.Sprintf(`{"type":"withdrawal","contact_id":"gone-old","event_id":"ev-old","purpose":"newsletter","method":"api","occurred_at":%q,"recorded_at":%q}`, at, at),
	}, "\n")
	entries, err := ledger.Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	res := must[ledger.Result](t)(w.replayer.Replay(ctx, entries))
	want := map[string]ledger.Counts{
		"withdrawal": {Applied: 1, NotPresent: 1}, "refusal": {Applied: 1}, "objection": {Applied: 2},
		"restriction": {Applied: 1}, "request": {Applied: 2, NotPresent: 2},
	}
	for typ, c := range want {
		if *res.Types[typ] != c {
			t.Errorf("replay %s: %+v; want %+v", typ, *res.Types[typ], c)
		}
	}
	err = w.db.View(ctx, func(tx store.Tx) error {
		for name, reason := range map[string]string{"objected.marketing": "objected", "restricted": "restricted", "erasure.requested": "erased",
			"restriction.requested": "restricted", "objection.requested": "", "erasure.closed": "", "withdrew": "", "kept": ""} {
			b, _ := hex.DecodeString(h(name))
			got, err := tx.SuppressionReason(ctx, b)
			if apperr.Is(err, apperr.NotFound) {
				err = nil
			}
			if err != nil || got != reason {
				t.Errorf("suppression of %s: %q %v; want %q", name, got, err, reason)
			}
		}
		for _, name := range []string{"withdrew", "refused", "objected.newsletter"} {
			b, _ := hex.DecodeString(h(name))
			if _, err := tx.PurposeUnsubscribedAt(ctx, [][]byte{b}, "newsletter"); err != nil {
				t.Errorf("newsletter list unsubscribe of %s: %v; want recorded", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	again := must[ledger.Result](t)(w.replayer.Replay(ctx, entries))
	for typ, c := range again.Types {
		if c.Applied != 0 {
			t.Errorf("second replay applied %d %s lines; want none", c.Applied, typ)
		}
	}

	var csv strings.Builder
	csv.WriteString("Email Address,OPTIN_TIME,CONFIRM_TIME\n")
	for _, name := range []string{"withdrew", "refused", "objected.newsletter", "objected.marketing", "restricted", "erasure.requested", "restriction.requested", "kept"} {
		csv.WriteString(name + "@example.org,2026-01-01 00:00:00,2026-01-01 00:01:00\n")
	}
	path := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(path, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := apptest.Import(t, w.a, map[string]string{"format": "mailchimp"}, path)
	if rep.Created != 1 || rep.ConsentsRecorded != 1 || rep.Suppressed != 7 {
		t.Errorf("import of the addresses after the replay: %+v; want kept alone created with consent, 7 suppressed", rep)
	}
}
