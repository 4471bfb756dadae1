package optin_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store/sqlite"
)

// world is a double opt-in service on a real SQLite store, with a clock the test moves.
type world struct {
	now     time.Time
	svc     *optin.Service
	outbox  *mail.Outbox
	consent *consent.Service
	dir     string
	db      *sqlite.DB
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &world{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), dir: dir, db: db}
	now := func() time.Time { return w.now }
	id := func() string { return uuid.Must(uuid.NewV7()).String() }
	contacts := &contact.Service{Store: sqlite.Bound[contact.Tx]{DB: db}, Keys: kr, Now: now, NewID: id}
	w.consent = &consent.Service{Store: sqlite.Bound[consent.Tx]{DB: db}, Keys: kr, Now: now, NewID: id}
	if err := w.consent.EnsureDefaultPurpose(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.outbox = &mail.Outbox{Store: sqlite.Bound[mail.Tx]{DB: db}, Keys: kr, Transport: mail.FileTransport{Dir: filepath.Join(dir, "mail"), From: "news@tillit.example", Domain: "tillit.example"}, Gate: w.consent, Now: now}
	w.svc = &optin.Service{Store: sqlite.Bound[optin.Tx]{DB: db}, Contacts: contacts, Consent: w.consent, Outbox: w.outbox, Now: now, NewID: id, BaseURL: "https://crm.example"}
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
