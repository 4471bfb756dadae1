package dsr

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/share"
)

// TestReceiptSaysWhoWasTold: a recipient is "told" on the receipt only once it acknowledged its
// webhook's erasure event or staff marked its to-do done; a webhook still carrying the event says
// so, a recipient without a webhook (or whose webhook gave up) is one we will tell ourselves.
func TestReceiptSaysWhoWasTold(t *testing.T) {
	at := func(d int) *time.Time { v := time.Date(2028, 2, d, 10, 0, 0, 0, time.UTC); return &v }
	base := func() *Receipt {
		return &Receipt{ContactID: "c-1", Recipients: []Recipient{
			{ProcessorID: "ack", Name: "Ack AB", Webhook: true},
			{ProcessorID: "silent", Name: "Silent AB", Webhook: true},
			{ProcessorID: "broken", Name: "Broken AB", Webhook: true},
			{ProcessorID: "paper", Name: "Paper AB"},
		}}
	}
	ds := []share.Delivery{
		{ProcessorID: "ack", Kind: "erased", Status: share.DeliveryDelivered, DeliveredAt: at(1), AcknowledgedAt: at(2)},
		{ProcessorID: "silent", Kind: "erased", Status: share.DeliveryDelivered, DeliveredAt: at(1)},
		{ProcessorID: "broken", Kind: "erased", Status: share.DeliveryFailed},
	}
	for _, tc := range []struct {
		name          string
		ds            []share.Delivery
		ts            []share.NotificationTask
		status        map[string]string
		told, toTell  []string
		lines, absent []string
	}{
		{name: "at erasure: nothing sent yet",
			status: map[string]string{"ack": RecipientNotifying, "silent": RecipientNotifying, "broken": RecipientNotifying, "paper": RecipientToTell},
			told:   []string{}, toTell: []string{"Paper AB"},
			lines: []string{"  - Ack AB: our automatic notice of the erasure is on its way; it has not confirmed yet that it erased your data.",
				"  - Paper AB: we will tell it of the erasure ourselves."},
			absent: []string{"confirmed on", "We told"}},
		{name: "acknowledged, unacknowledged, failed, to-do open", ds: ds,
			ts:     []share.NotificationTask{{ID: "t-1", ProcessorID: "paper", Kind: "erased"}, {ID: "t-2", ProcessorID: "broken", Kind: "erased"}},
			status: map[string]string{"ack": RecipientTold, "silent": RecipientNotifying, "broken": RecipientToTell, "paper": RecipientToTell},
			told:   []string{"Ack AB"}, toTell: []string{"Broken AB", "Paper AB"},
			lines: []string{"  - Ack AB confirmed on 2 February 2028 that it erased your data.",
				"  - Silent AB: our automatic notice of the erasure is on its way; it has not confirmed yet that it erased your data.",
				"  - Broken AB: we will tell it of the erasure ourselves.", "  - Paper AB: we will tell it of the erasure ourselves."},
			absent: []string{"Silent AB confirmed", "We told"}},
		{name: "to-dos done", ds: ds,
			ts: []share.NotificationTask{{ID: "t-1", ProcessorID: "paper", Kind: "erased", DoneAt: at(3)}, {ID: "t-2", ProcessorID: "broken", Kind: "erased", DoneAt: at(4)},
				{ID: "t-3", ProcessorID: "silent", Kind: "rectified", DoneAt: at(4)}},
			status: map[string]string{"ack": RecipientTold, "silent": RecipientNotifying, "broken": RecipientTold, "paper": RecipientTold},
			told:   []string{"Ack AB", "Broken AB", "Paper AB"}, toTell: []string{},
			lines:  []string{"  - We told Broken AB of the erasure on 4 February 2028.", "  - We told Paper AB of the erasure on 3 February 2028."},
			absent: []string{"We told Silent AB", "ourselves"}},
	} {
		r := base()
		r.settle(tc.ds, tc.ts)
		for _, x := range r.Recipients {
			if x.Status != tc.status[x.ProcessorID] {
				t.Errorf("%s: %s is %s; want %s", tc.name, x.Name, x.Status, tc.status[x.ProcessorID])
			}
			if (x.Status == RecipientTold) != (x.ToldAt != nil) {
				t.Errorf("%s: %s told at %v with status %s", tc.name, x.Name, x.ToldAt, x.Status)
			}
		}
		if !slices.Equal(r.Processors, tc.told) || !slices.Equal(r.Manual, tc.toTell) {
			t.Errorf("%s: notified %q, to notify by hand %q; want %q, %q", tc.name, r.Processors, r.Manual, tc.told, tc.toTell)
		}
		text := r.text()
		for _, l := range tc.lines {
			if !strings.Contains(text, l+"\n") {
				t.Errorf("%s: the receipt lacks %q:\n%s", tc.name, l, text)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(text, a) {
				t.Errorf("%s: the receipt says %q:\n%s", tc.name, a, text)
			}
		}
	}

	none := &Receipt{Recipients: []Recipient{}}
	none.settle(nil, nil)
	if text := none.text(); !strings.Contains(text, "No other company received your data from us") {
		t.Errorf("without recipients: %s", text)
	}
	// A receipt stored before recipients were recorded keeps its names, and claims nothing told.
	old := &Receipt{Processors: []string{"Sync AB"}, Manual: []string{"Paper AB"}}
	old.settle(ds, nil)
	if text := old.text(); !slices.Equal(old.Processors, []string{"Sync AB"}) || !strings.Contains(text, "Sync AB: our automatic notice") || !strings.Contains(text, "Paper AB: we will tell it") {
		t.Errorf("an old receipt: %+v\n%s", old, text)
	}
}

// TestReceiptWordsForHoldings: holdings are listed by their words, each once; an old receipt's
// holding without words still names its table.
func TestReceiptWordsForHoldings(t *testing.T) {
	r := &Receipt{
		Erased: []Holding{{Table: "consent_events", Rows: 3, Erase: "deleted", What: "your consent history"}, {Table: "consent_current", Rows: 1, Erase: "deleted", What: "your consent history"},
			{Table: "outbox", Rows: 2, Erase: "deleted"}},
		Kept: []Holding{{Table: "audit_events", Rows: 4, Erase: "kept: who read", What: "our log"}, {Table: "disclosures", Rows: 0, Erase: "kept: x", What: "which company"}},
	}
	text := r.text()
	if strings.Count(text, "your consent history") != 1 || !strings.Contains(text, "  - outbox: 2 record(s) deleted\n") || !strings.Contains(text, "  - our log\n") || strings.Contains(text, "which company") {
		t.Errorf("receipt text:\n%s", text)
	}
	if got := listWords([]string{"name", "e-mail address", "notes about you"}); got != "name, e-mail address and notes about you" {
		t.Errorf("listWords = %q", got)
	}
}
