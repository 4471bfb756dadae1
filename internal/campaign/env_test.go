package campaign_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// world is the campaign service on a real SQLite store in dir, wired as tillit serve wires it,
// with a clock the test moves. The outbox writes .eml files under dir/mail when the test sends
// (mails); until then queued messages stay queued. All the store wiring of this package's tests
// is here, so that it can become apptest.New(t) in one place.
type world struct {
	db       store.Store
	dir      string
	now      time.Time
	svc      *campaign.Service
	contacts *contact.Service
	consent  *consent.Service
	outbox   *mail.Outbox
	optin    *optin.Service
	unsub    *optin.Unsubscribe
	seen     map[string]bool // mail files already returned by mails
}

// start is the clock every world starts at.
var start = time.Date(2027, 9, 6, 8, 0, 0, 0, time.UTC)

// open wires the services on the store in dir (created when new; opened again for a restart).
func open(t *testing.T, dir string) *world {
	t.Helper()
	ctx := context.Background()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{db: db, dir: dir, now: start, seen: map[string]bool{}}
	now := func() time.Time { return w.now }
	id := func() string { return uuid.Must(uuid.NewV7()).String() } // sorts in creation order, also across a restart
	w.contacts = &contact.Service{Store: store.Contacts(db), Keys: kr, Now: now, NewID: id}
	w.consent = &consent.Service{Store: store.Consent(db), Keys: kr, Now: now, NewID: id}
	if err := w.consent.EnsureDefaultPurpose(ctx); err != nil {
		t.Fatal(err)
	}
	w.outbox = &mail.Outbox{Store: store.Mail(db), Keys: kr, Gate: w.consent, Now: now,
		Transport: mail.FileTransport{Dir: filepath.Join(dir, "mail"), From: "news@tillit.example", Domain: "tillit.example"}}
	w.unsub = &optin.Unsubscribe{Store: store.Unsubscribes(db), Consent: w.consent, Keys: kr, Now: now, BaseURL: "https://tillit.example"}
	w.optin = &optin.Service{Store: store.Optin(db), Contacts: w.contacts, Consent: w.consent, Outbox: w.outbox, Keys: kr, Now: now, NewID: id, BaseURL: "https://tillit.example"}
	w.svc = &campaign.Service{Store: store.Campaigns(db), Contacts: w.contacts, Consent: w.consent, Outbox: w.outbox, Unsub: w.unsub, Optin: w.optin,
		Now: now, NewID: id, Postal: "Example AB, Storgatan 1, Umeå", Batch: 3}
	return w
}

func staff() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})
}

// as is the context of an API token with the role.
func as(role string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-" + role, Role: role})
}

// person creates a contact (with an address unless email is "") and records its newsletter
// consent states in order.
func (w *world) person(t *testing.T, email string, states ...consent.State) string {
	t.Helper()
	in := contact.Input{Email: email, FirstName: "Test"}
	if email == "" {
		in.Phone = "+46701234567"
	}
	return w.add(t, in, states...)
}

// add creates the contact and records its newsletter consent states in order.
func (w *world) add(t *testing.T, in contact.Input, states ...consent.State) string {
	t.Helper()
	c, err := w.contacts.Create(staff(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if _, err := w.consent.Record(staff(), consent.Event{ContactID: c.ID, Purpose: "newsletter", State: st, Method: consent.MethodWebForm,
			Evidence: consent.Evidence{IP: "192.0.2.7", UserAgent: "test", FormID: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

// walk sends the campaign and steps its walk to the end.
func (w *world) walk(t *testing.T, id string) campaign.Campaign {
	t.Helper()
	if _, err := w.svc.Send(staff(), id); err != nil {
		t.Fatal(err)
	}
	for steps := 0; ; steps++ {
		done, err := w.svc.Step(staff(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if steps > 100 {
			t.Fatal("the walk does not end")
		}
	}
	c, err := w.svc.Get(staff(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storeFilter selects up to 1000 audit events about one object.
func storeFilter(kind, id string) store.AuditFilter {
	return store.AuditFilter{ObjectKind: kind, ObjectID: id, Limit: 1000}
}

// outboxRows reads the campaign's outbox rows as the store holds them: contact id → statuses.
func outboxRows(t *testing.T, dir, campaignID string) map[string][]string {
	t.Helper()
	rows, err := testdb.SQL(t, dir).Query("SELECT contact_id, status FROM outbox WHERE campaign_id = $1", campaignID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], status)
	}
	return out
}

// message is one mail as the file transport wrote it, its parts decoded, lines ending in \n.
type message struct {
	header     netmail.Header
	text, html string
}

// mails sends what is due and returns the messages written since the last call, by file name.
func (w *world) mails(t *testing.T) []message {
	t.Helper()
	if _, _, err := w.outbox.SendDue(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "mail", "*.eml"))
	slices.Sort(files)
	var out []message
	for _, f := range files {
		if !w.seen[f] {
			w.seen[f] = true
			out = append(out, readMessage(t, f))
		}
	}
	return out
}

func readMessage(t *testing.T, file string) message {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := netmail.ReadMessage(fh)
	if err != nil {
		t.Fatal(err)
	}
	out := message{header: m.Header}
	var walk func(h func(string) string, body io.Reader)
	walk = func(h func(string) string, body io.Reader) {
		typ, params, err := mime.ParseMediaType(h("Content-Type"))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if strings.HasPrefix(typ, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				walk(p.Header.Get, p)
			}
		}
		if strings.EqualFold(h("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		text := strings.ReplaceAll(string(b), "\r\n", "\n") // the wire's line ends
		switch typ {
		case "text/plain":
			out.text = text
		case "text/html":
			out.html = text
		}
	}
	walk(m.Header.Get, m.Body)
	return out
}
