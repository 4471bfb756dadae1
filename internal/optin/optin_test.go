package optin_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

// world is the double opt-in service of a whole app (apptest) on a real SQLite store, with a
// clock the test moves and mail written as .eml files under dir/mail. It answers at once: pacing
// (AnswerAfter) is TestSubscribeAnswersAtOneMomentWhateverTheState's subject.
type world struct {
	now     time.Time
	svc     *optin.Service
	outbox  *mail.Outbox
	consent *consent.Service
	dir     string
	db      store.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), dir: dir}
	a := apptest.New(t, func(c *app.Config) {
		c.Now = func() time.Time { return w.now }
		c.Settings.BaseURL = "https://crm.example"
		c.Transport = mail.FileTransport{Dir: filepath.Join(dir, "mail"), From: "news@tillit.example", Domain: "tillit.example"}
	})
	svc := *a.Optin
	svc.AnswerAfter = 0
	w.svc, w.outbox, w.consent, w.db = &svc, a.Outbox, a.Consent, a.Store
	return w
}

var tokenRE = regexp.MustCompile(`/p/confirm/([A-Za-z0-9_-]+)`)

// mails sends what is due and returns the confirmation tokens written so far.
func (w *world) tokens(t *testing.T) []string {
	t.Helper()
	if _, _, err := w.outbox.SendDue(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "mail", "*.eml"))
	var out []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range tokenRE.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func TestExpiredTokenChangesNothing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.Subscribe(ctx, optin.Request{Email: "late@example.org"}); err != nil {
		t.Fatal(err)
	}
	toks := w.tokens(t)
	if len(toks) != 1 {
		t.Fatalf("%d tokens mailed; want 1", len(toks))
	}
	w.now = w.now.Add(72*time.Hour + time.Second)
	if _, ok, err := w.svc.Peek(ctx, toks[0]); err != nil || ok {
		t.Errorf("Peek after 72 h = %v, %v; want false", ok, err)
	}
	res, err := w.svc.Confirm(ctx, toks[0], "192.0.2.1", "test", false)
	if err != nil || res.Confirmed {
		t.Errorf("Confirm after 72 h = %+v, %v; want nothing confirmed", res, err)
	}
	// Just inside the lifetime the same kind of token works.
	if err := w.svc.Subscribe(ctx, optin.Request{Email: "late@example.org"}); err != nil {
		t.Fatal(err)
	}
	toks = w.tokens(t)
	if len(toks) != 2 {
		t.Fatalf("%d tokens after a new request; want 2", len(toks))
	}
	// Files are named contact_message, and message ids grow with time: the second is the new one.
	if res, err := w.svc.Confirm(ctx, toks[1], "192.0.2.1", "test", false); err != nil || !res.Confirmed {
		t.Errorf("Confirm of the new token = %+v, %v; want confirmed", res, err)
	}
	if res, _ := w.svc.Confirm(ctx, toks[0], "192.0.2.1", "test", false); res.Confirmed {
		t.Error("the expired token confirmed after all")
	}
}

func TestConfirmationResendIsRateLimited(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for range 3 {
		if err := w.svc.Subscribe(ctx, optin.Request{Email: "eager@example.org"}); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(30 * time.Second)
	}
	if n := len(w.tokens(t)); n != 1 {
		t.Errorf("%d confirmation mails for three requests within 90 s; want 1", n)
	}
	w.now = w.now.Add(2 * time.Minute)
	if err := w.svc.Subscribe(ctx, optin.Request{Email: "eager@example.org"}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.tokens(t)); n != 2 {
		t.Errorf("%d confirmation mails after waiting; want 2", n)
	}
}

// TestSubscribeAnswersAtOneMomentWhateverTheState: found by a reliability trial (D5). A confirmed
// subscriber's sign-up answered in 1.45 ms and an unknown address's in 3.12 ms (a lead, a token
// and a mail are written only for the latter), so timing told who subscribes. With AnswerAfter,
// every state now waits for the same moment after the start, though each path does different
// work; the clock here moves 37 µs at every reading, so more work reads more time. (Since issue
// 11 a confirmed, withdrawn or restricted address gets a note or a link too, so every state but
// the rate-limited one writes a message.)
func TestSubscribeAnswersAtOneMomentWhateverTheState(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	contacts := w.svc.Contacts
	step := 37 * time.Microsecond
	w.svc.Now = func() time.Time { w.now = w.now.Add(step); return w.now }
	w.svc.AnswerAfter = 100 * time.Millisecond
	var waits []time.Duration // from the start to the moment Subscribe waited for
	var worked []time.Duration
	var start time.Time
	w.svc.Sleep = func(_ context.Context, until time.Time) {
		waits = append(waits, until.Sub(start))
		worked = append(worked, w.now.Sub(start))
	}
	subscribe := func(email string) {
		t.Helper()
		start = w.now.Add(step) // Subscribe's first reading of the clock
		if err := w.svc.Subscribe(ctx, optin.Request{Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	id := func(email string) string {
		c, err := contacts.FindByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	// Set up: a confirmed subscriber, one who withdrew, a restricted one, a pending one.
	for _, e := range []string{"confirmed@example.org", "withdrawn@example.org", "restricted@example.org", "pending@example.org"} {
		subscribe(e)
	}
	for _, tok := range w.tokens(t) {
		if _, err := w.svc.Confirm(ctx, tok, "192.0.2.1", "test", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.consent.Record(ctx, consent.Event{ContactID: id("withdrawn@example.org"), Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodStaff, Evidence: consent.Evidence{Note: "asked by phone"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := contacts.SetRestricted(ctx, id("restricted@example.org"), true); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Hour) // past the resend limit of the set-up's links
	subscribe("pending@example.org")
	waits, worked = nil, nil

	// The last is restricted@ again at once after its note: rate limited, it queues nothing.
	states := []string{"unknown@example.org", "pending@example.org", "confirmed@example.org", "withdrawn@example.org", "restricted@example.org", "restricted@example.org"}
	for i, e := range states {
		if i < 5 {
			w.now = w.now.Add(time.Minute)
		}
		subscribe(e)
	}
	if len(waits) != len(states) {
		t.Fatalf("Subscribe waited %d times for %d sign-ups", len(waits), len(states))
	}
	for i, e := range states {
		if waits[i] != 100*time.Millisecond {
			t.Errorf("%s: answered %v after the start; want 100ms like every state", e, waits[i])
		}
	}
	if worked[0] <= worked[5] {
		t.Errorf("work for an unknown address %v, for a rate-limited one %v: the test does not tell the paths apart", worked[0], worked[5])
	}
	// Work that overruns the pace answers at the next multiple, never in between.
	w.svc.AnswerAfter = worked[0] / 2
	waits, worked = nil, nil
	subscribe("another.unknown@example.org")
	if len(waits) != 1 || waits[0]%w.svc.AnswerAfter != 0 || waits[0] < worked[0] || waits[0] <= w.svc.AnswerAfter {
		t.Errorf("overrun answered %v after the start, work %v; want a multiple of %v past the work", waits, worked, w.svc.AnswerAfter)
	}
}
