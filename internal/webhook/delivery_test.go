package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

const secret = "0123456789abcdef-secret"

// deliveries is share.Webhooks sending through s, on a real store, with one consent-given contact
// disclosed to a processor for each URL in receivers (by processor id), its "given" event queued.
// The clock is the real one: receivers check signatures against it.
func deliveries(t *testing.T, s *Sender, receivers map[string]string) (*share.Webhooks, func() time.Time) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	start := time.Now().UTC()
	now := func() time.Time { return start }
	id := func() string { return uuid.Must(uuid.NewV7()).String() }
	contacts := &contact.Service{Store: store.Contacts(db), Keys: kr, Now: now, NewID: id}
	cs := &consent.Service{Store: store.Consent(db), Keys: kr, Now: now, NewID: id}
	if err := cs.EnsureDefaultPurpose(ctx); err != nil {
		t.Fatal(err)
	}
	svc := &share.Service{Store: store.Share(db), Contacts: contacts, Keys: kr, Now: now, NewID: id}
	c, err := contacts.Create(ctx, contact.Input{Email: "order@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}); err != nil {
		t.Fatal(err)
	}
	for pid, url := range receivers {
		if _, err := svc.Create(ctx, share.Input{ID: &pid, Name: ptr("Mailer AB"), Role: ptr(share.RoleProcessor), Purposes: &[]string{"newsletter"},
			DataCategories: &[]string{"email"}, Country: ptr("se"), DPAStatus: ptr(share.DPASigned), DPASignedAt: ptr(start.AddDate(0, -1, 0)),
			WebhookURL: ptr(url), WebhookSecret: ptr(secret)}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: pid, Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
			t.Fatal(err)
		}
	}
	hooks := &share.Webhooks{Store: store.Webhooks(db), Keys: kr, Sender: s, Now: now, NewID: id, BaseURL: "https://crm.example"}
	if n, err := hooks.Fanout(ctx, 100); err != nil || n != len(receivers) {
		t.Fatalf("Fanout = %d, %v; want %d", n, err, len(receivers))
	}
	return hooks, now
}

func ptr[T any](v T) *T { return &v }

// TestSignedEventDeliveredOverHTTPS: a receiver behind TLS gets the event once, signed with the
// processor's secret under the event id it is given, and the delivery is logged with its status.
func TestSignedEventDeliveredOverHTTPS(t *testing.T) {
	var mu sync.Mutex
	var events []share.Event
	bad := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev share.Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		defer mu.Unlock()
		if !share.Verify([]byte(secret), r.Header.Get(share.SignatureHeader), body, time.Now(), 5*time.Minute) || r.Header.Get("Tillit-Event-Id") != ev.ID {
			bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		events = append(events, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	hooks, now := deliveries(t, &Sender{client: srv.Client()}, map[string]string{"mailer": srv.URL + "/hook"})
	ctx := context.Background()
	if n, err := hooks.SendDue(ctx, 100); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v; want 1 delivered", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 || len(events) != 1 || events[0].Kind != "given" || events[0].Purpose != "newsletter" {
		t.Fatalf("received %+v, %d bad signatures; want the given event, signed", events, bad)
	}
	ds, _ := hooks.Deliveries(ctx, "mailer", 10)
	if len(ds) != 1 || ds[0].ID != events[0].ID || ds[0].Status != share.DeliveryDelivered || ds[0].LastStatus != http.StatusNoContent || ds[0].DeliveredAt == nil || !ds[0].DeliveredAt.Equal(now()) {
		t.Errorf("deliveries %+v; want the event delivered, 204", ds)
	}
}

// TestDeliveryLogDoesNotTellWhichLocalPortsAnswer: found by a reliability trial (D8). The log's
// last_status showed 0 for a closed loopback port and the status for one that answered, so an
// admin token could map the ports open on the server. A closed port, a port that does not
// speak TLS, a local server answering 404 or 500, and one redirecting elsewhere now read alike:
// last_status 0, last_error "unreachable", the same retry time.
func TestDeliveryLogDoesNotTellWhichLocalPortsAnswer(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	plain := httptest.NewServer(http.NotFoundHandler()) // answers 404 to http, fails TLS
	defer plain.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	redirect := httptest.NewServer(http.RedirectHandler(failing.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer redirect.Close()
	receivers := map[string]string{
		"closed":    closedURL + "/hook",
		"not-tls":   strings.Replace(plain.URL, "http://", "https://", 1) + "/hook",
		"not-found": plain.URL + "/hook",
		"failing":   failing.URL + "/hook",
		"redirect":  redirect.URL + "/hook",
	}
	hooks, now := deliveries(t, New(), receivers) // the guarded transport, as served
	ctx := context.Background()
	if n, err := hooks.SendDue(ctx, 100); err != nil || n != 0 {
		t.Fatalf("SendDue = %d, %v; want none delivered", n, err)
	}
	for id := range receivers {
		ds, err := hooks.Deliveries(ctx, id, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("%s: %+v %v", id, ds, err)
		}
		d := ds[0]
		if d.Kind != "given" || d.Status != share.DeliveryQueued || d.Attempts != 1 || d.LastStatus != 0 || d.LastError != share.Unreachable || !d.NextAttemptAt.Equal(now().Add(share.WebhookBackoff[0])) {
			t.Errorf("%s: %+v; want queued, 1 attempt, last_status 0, unreachable, retry at %v", id, d, now().Add(share.WebhookBackoff[0]))
		}
	}
}
