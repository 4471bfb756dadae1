package campaign_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/mail"
)

// countingTransport counts the hand-offs of every message id; before each it runs before (when
// set) under no lock.
type countingTransport struct {
	mu     sync.Mutex
	sent   map[string]int
	before func()
}

func (c *countingTransport) Open(context.Context) (mail.Session, error) { return c, nil }
func (c *countingTransport) Close() error                               { return nil }
func (c *countingTransport) Send(_ context.Context, m mail.Message) error {
	if c.before != nil {
		c.before()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string]int{}
	}
	c.sent[m.ID]++
	return nil
}

// queued walks a newsletter campaign to n people who agreed and returns its id.
func (w *world) queued(t *testing.T, n int) string {
	t.Helper()
	for i := range n {
		w.person(t, fmt.Sprintf("lease-%d@example.org", i), consent.Given)
	}
	c, err := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello."})
	if err != nil {
		t.Fatal(err)
	}
	w.svc.Batch = 50
	if got := w.walk(t, c.ID); got.Walk.Messages != n {
		t.Fatalf("the walk queued %d messages; want %d", got.Walk.Messages, n)
	}
	return c.ID
}

// TestTwoOutboxesSendEachMessageOnce: two passes at once on one store (two nodes that both
// believe they lead, for the second it takes the first to notice it lost the lock) hand every
// message over once: the pass that reads first claims what it read (Outbox.Lease). Without the
// claim, both read the same due messages and each was sent twice.
func TestTwoOutboxesSendEachMessageOnce(t *testing.T) {
	w := open(t, t.TempDir())
	const n = 120
	w.queued(t, n)
	tr := &countingTransport{before: func() { time.Sleep(time.Millisecond) }}
	a, b := *w.outbox, *w.outbox
	a.Transport, b.Transport = tr, tr
	var wg sync.WaitGroup
	for _, o := range []*mail.Outbox{&a, &b} {
		wg.Go(func() {
			if _, _, err := o.SendDue(context.Background(), 1000); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(tr.sent) != n {
		t.Errorf("%d messages handed over; want %d", len(tr.sent), n)
	}
	for id, k := range tr.sent {
		if k != 1 {
			t.Errorf("message %s handed over %d times", id, k)
		}
	}
}

// TestPassStopsHalfwayThroughItsLease: a pass hands messages over during the first half of its
// lease only; what it did not hand over is released at once (due again, not leased), and the
// next pass sends it.
func TestPassStopsHalfwayThroughItsLease(t *testing.T) {
	w := open(t, t.TempDir())
	const n = 10
	camp := w.queued(t, n)
	tr := &countingTransport{}
	tr.before = func() { w.now = w.now.Add(mail.DefaultLease / 4) } // each hand-off takes a quarter lease
	o := *w.outbox
	o.Transport = tr
	sent, _, err := o.SendDue(context.Background(), 1000)
	if err != nil || sent != 2 {
		t.Fatalf("SendDue = %d, %v; want the 2 handed over before the lease was half over", sent, err)
	}
	if rows := outboxRows(t, w.dir, camp); count(rows, mail.StatusQueued) != n-2 {
		t.Fatalf("outbox after the pass: %v; want %d queued", rows, n-2)
	}
	tr.before = nil
	if sent, _, err := o.SendDue(context.Background(), 1000); err != nil || sent != n-2 {
		t.Fatalf("the next pass at once sent %d, %v; want the %d released", sent, err, n-2)
	}
	for id, k := range tr.sent {
		if k != 1 {
			t.Errorf("message %s handed over %d times", id, k)
		}
	}

}

// count counts the rows of a status.
func count(rows map[string][]string, status string) int {
	k := 0
	for _, st := range rows {
		for _, s := range st {
			if s == status {
				k++
			}
		}
	}
	return k
}

// TestSlowTransportRecordsOften: with a slow transport the outbox records outcomes at least
// every outcome window (50 ms), not once per group of 100, so a process killed while it sends
// hands over again only what it handed over in the last window. Each hand-off here takes 30 ms:
// when a message is handed over, all but the last two before it are recorded sent.
func TestSlowTransportRecordsOften(t *testing.T) {
	w := open(t, t.TempDir())
	const n = 8
	camp := w.queued(t, n)
	handed := 0
	var lagged []int
	tr := &countingTransport{before: func() {
		if recorded := count(outboxRows(t, w.dir, camp), mail.StatusSent); recorded < handed-2 {
			lagged = append(lagged, handed-recorded)
		}
		handed++
		time.Sleep(30 * time.Millisecond)
	}}
	o := *w.outbox
	o.Transport = tr
	if sent, _, err := o.SendDue(context.Background(), 1000); err != nil || sent != n {
		t.Fatalf("SendDue = %d, %v; want %d", sent, err, n)
	}
	if len(lagged) > 0 {
		t.Errorf("unrecorded hand-offs when the next began: %v; want at most 2 (one 50 ms window of 30 ms sends)", lagged)
	}
}
