package share_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
)

const secret = "0123456789abcdef-secret"

// receiver is a processor's webhook endpoint: it verifies every signature and answers with the
// statuses it is given in turn (then 200).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	events   []share.Event
	bad      int // requests whose signature did not verify
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !share.Verify([]byte(secret), r.Header.Get(share.SignatureHeader), body, time.Now(), 5*time.Minute) {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev share.Event
	json.Unmarshal(body, &ev)
	rc.events = append(rc.events, ev)
	status := http.StatusOK
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	w.WriteHeader(status)
}

func TestWebhooksSignedRetriedAndAcknowledged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rc := &receiver{}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	hooks := &share.Webhooks{Store: store.Webhooks(w.db), Keys: w.svc.Keys, Client: srv.Client(), Now: func() time.Time { return w.now },
		NewID: w.svc.NewID, BaseURL: "https://crm.example"}
	// The signature is checked against the real clock by the receiver: keep the test clock near it.
	w.now = time.Now().UTC()
	signed(t, w, "mailer")
	if _, err := w.svc.Update(ctx, "mailer", share.Input{WebhookURL: ptr(srv.URL + "/hook")}); err != nil {
		t.Fatal(err)
	}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "hook@example.org", FirstName: "Hugo"})
	other, _ := w.contacts.Create(ctx, contact.Input{Email: "never.shared@example.org"})
	for _, id := range []string{c.ID, other.ID} {
		w.consent.Record(ctx, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	}
	if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
		t.Fatal(err)
	}
	// Changes before now were made before the data went out: fan them out and forget them.
	if _, err := hooks.Fanout(ctx, 100); err != nil {
		t.Fatal(err)
	}
	hooks.SendDue(ctx, 100)
	rc.mu.Lock()
	rc.events, rc.statuses = nil, []int{http.StatusInternalServerError}
	rc.mu.Unlock()

	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	w.consent.Record(ctx, consent.Event{ContactID: other.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	if n, err := hooks.Fanout(ctx, 100); err != nil || n != 1 {
		t.Fatalf("Fanout = %d, %v; want 1 (only the contact the processor received)", n, err)
	}
	if n, err := hooks.SendDue(ctx, 100); err != nil || n != 0 {
		t.Fatalf("first attempt: %d delivered, %v; want 0 (the receiver answers 500)", n, err)
	}
	ds, _ := hooks.Deliveries(ctx, "mailer", 10)
	// The receiver is on this machine: its 500 is logged as unreachable, like a closed port.
	if len(ds) == 0 || ds[0].Status != share.DeliveryQueued || ds[0].Attempts != 1 || ds[0].LastStatus != 0 || ds[0].LastError != share.Unreachable || !ds[0].NextAttemptAt.Equal(w.now.Add(share.WebhookBackoff[0])) {
		t.Fatalf("after a 500: %+v; want queued for a retry after %v, unreachable", ds, share.WebhookBackoff[0])
	}
	if n, _ := hooks.SendDue(ctx, 100); n != 0 {
		t.Errorf("a retry before its time")
	}
	w.now = w.now.Add(share.WebhookBackoff[0])
	if n, err := hooks.SendDue(ctx, 100); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v; want delivered", n, err)
	}
	rc.mu.Lock()
	evs, bad := append([]share.Event(nil), rc.events...), rc.bad
	rc.mu.Unlock()
	if bad != 0 || len(evs) != 2 || evs[1].Kind != "withdrawn" || evs[1].ContactID != c.ID || evs[1].Purpose != "newsletter" || evs[0].ID != evs[1].ID {
		t.Fatalf("received %+v (bad signatures %d); want the same withdrawn event twice, signed", evs, bad)
	}

	// Erasure: the event carries an acknowledgement URL; the processor acknowledges, signed.
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := hooks.Fanout(ctx, 100); n != 1 {
		t.Fatalf("erasure fan-out: %d", n)
	}
	hooks.SendDue(ctx, 100)
	rc.mu.Lock()
	erased := rc.events[len(rc.events)-1]
	rc.mu.Unlock()
	if erased.Kind != "erased" || erased.AckURL != "https://crm.example/webhooks/acknowledgements" {
		t.Fatalf("erasure event %+v", erased)
	}
	body := []byte(`{"event_id":"` + erased.ID + `"}`)
	if err := hooks.Acknowledge(ctx, share.Sign([]byte("wrong secret, long enough"), w.now, body), body); !apperr.Is(err, apperr.Unauthenticated) {
		t.Errorf("acknowledgement with a wrong signature: %v; want Unauthenticated", err)
	}
	if err := hooks.Acknowledge(ctx, share.Sign([]byte(secret), w.now.Add(-time.Hour), body), body); !apperr.Is(err, apperr.Unauthenticated) {
		t.Errorf("a stale acknowledgement: %v; want Unauthenticated", err)
	}
	if err := hooks.Acknowledge(ctx, share.Sign([]byte(secret), w.now, body), body); err != nil {
		t.Fatalf("acknowledgement: %v", err)
	}
	ws := []share.Delivery{}
	w.db.Update(ctx, func(tx store.Tx) error {
		var err error
		ws, err = tx.ErasureDeliveries(ctx, c.ID)
		return err
	})
	if len(ws) != 1 || ws[0].AcknowledgedAt == nil || ws[0].Status != share.DeliveryDelivered {
		t.Errorf("erasure deliveries %+v; want delivered and acknowledged", ws)
	}
	for _, e := range evs {
		if b, _ := json.Marshal(e); strings.Contains(string(b), "hook@example.org") || strings.Contains(string(b), "Hugo") {
			t.Errorf("event carries personal data: %s", b)
		}
	}
}

// TestWebhookGivesUpAfterTheLastRetry: a receiver that always fails gets every retry, then the
// delivery is failed for good.
func TestWebhookGivesUpAfterTheLastRetry(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rc := &receiver{statuses: []int{500, 500, 500, 500, 500, 500, 500, 500}}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	w.now = time.Now().UTC()
	hooks := &share.Webhooks{Store: store.Webhooks(w.db), Keys: w.svc.Keys, Client: srv.Client(), Now: func() time.Time { return w.now }, NewID: w.svc.NewID}
	signed(t, w, "mailer")
	w.svc.Update(ctx, "mailer", share.Input{WebhookURL: ptr(srv.URL)})
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "x@example.org"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email"}})
	hooks.Fanout(ctx, 100)
	for range len(share.WebhookBackoff) + 1 {
		hooks.SendDue(ctx, 100)
		w.now = w.now.Add(25 * time.Hour)
	}
	ds, _ := hooks.Deliveries(ctx, "mailer", 10)
	if len(ds) != 1 || ds[0].Status != share.DeliveryFailed || ds[0].Attempts != len(share.WebhookBackoff)+1 {
		t.Errorf("deliveries %+v; want one failed after %d attempts", ds, len(share.WebhookBackoff)+1)
	}
}

// hookWorld is a world with webhooks and a consent-given contact disclosed to the processors
// registered with the given receivers.
func hookWorld(t *testing.T, receivers map[string]string) (*world, *share.Webhooks, string) {
	t.Helper()
	w := newWorld(t)
	ctx := context.Background()
	w.now = time.Now().UTC()
	hooks := &share.Webhooks{Store: store.Webhooks(w.db), Keys: w.svc.Keys, Client: &http.Client{}, Now: func() time.Time { return w.now }, NewID: w.svc.NewID}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "order@example.org"})
	w.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	for id, url := range receivers {
		signed(t, w, id)
		if _, err := w.svc.Update(ctx, id, share.Input{WebhookURL: ptr(url)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Disclose(ctx, share.Request{ContactID: c.ID, ProcessorID: id, Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
			t.Fatal(err)
		}
	}
	hooks.Fanout(ctx, 100) // the consent given before the disclosures
	return w, hooks, c.ID
}

// TestDeliveryLogDoesNotTellWhichLocalPortsAnswer: found by a reliability trial (D8). The log's
// last_status showed 0 for a closed loopback port and the status for one that answered, so an
// admin token could map the ports open on the server. A closed port, a port that does not
// speak TLS, and a local server answering 404 or 500 now read alike: last_status 0,
// last_error "unreachable", the same retry time.
func TestDeliveryLogDoesNotTellWhichLocalPortsAnswer(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	plain := httptest.NewServer(http.NotFoundHandler()) // answers 404 to http, fails TLS
	defer plain.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	receivers := map[string]string{
		"closed":    closedURL + "/hook",
		"not-tls":   strings.Replace(plain.URL, "http://", "https://", 1) + "/hook",
		"not-found": plain.URL + "/hook",
		"failing":   failing.URL + "/hook",
	}
	w, hooks, _ := hookWorld(t, receivers) // one "given" event queued for each
	hooks.Client = nil                     // the guarded transport, as served
	ctx := context.Background()
	hooks.SendDue(ctx, 100)
	for id := range receivers {
		ds, err := hooks.Deliveries(ctx, id, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("%s: %+v %v", id, ds, err)
		}
		d := ds[0]
		if d.Kind != "given" || d.Status != share.DeliveryQueued || d.Attempts != 1 || d.LastStatus != 0 || d.LastError != share.Unreachable || !d.NextAttemptAt.Equal(w.now.Add(share.WebhookBackoff[0])) {
			t.Errorf("%s: %+v; want queued, 1 attempt, last_status 0, unreachable, retry at %v", id, d, w.now.Add(share.WebhookBackoff[0]))
		}
	}
}

// TestSlowReceiverDelaysOnlyItself: one receiver that hangs does not hold back another's events.
func TestSlowReceiverDelaysOnlyItself(t *testing.T) {
	release, got := make(chan struct{}), make(chan string, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Tillit-Event-Id") }))
	defer fast.Close()
	_, hooks, _ := hookWorld(t, map[string]string{"slow": slow.URL, "fast": fast.URL})
	done := make(chan struct{})
	go func() { defer close(done); hooks.SendDue(context.Background(), 100) }()
	select {
	case <-got: // the fast receiver was served while the slow one hangs
	case <-time.After(60 * time.Second):
		t.Fatal("the fast receiver got nothing while the slow one hung")
	}
	release <- struct{}{}
	<-done
}

// TestEventsArriveInOrderAndNothingAfterErasure: an event still in retry holds back newer ones
// for the same contact; an erasure drops what is still queued, so nothing arrives after it;
// a consent change for a purpose the processor is not engaged for is not sent; a redirect is not
// followed.
func TestEventsArriveInOrderAndNothingAfterErasure(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	fail := true
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev share.Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			w.WriteHeader(500)
			return
		}
		kinds = append(kinds, ev.Kind)
	}))
	defer rcv.Close()
	w, hooks, cid := hookWorld(t, map[string]string{"mailer": rcv.URL})
	ctx := context.Background()
	hooks.SendDue(ctx, 100) // "given" fails and waits for a retry
	w.consent.Record(ctx, consent.Event{ContactID: cid, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	w.consent.CreatePurpose(ctx, consent.Purpose{ID: "health-survey", Name: "Health survey", LawfulBasis: consent.BasisConsent})
	// Engaged for the purpose, but this contact's data never went to it for that purpose.
	if _, err := w.svc.Update(ctx, "mailer", share.Input{Purposes: &[]string{"newsletter", "health-survey"}}); err != nil {
		t.Fatal(err)
	}
	w.consent.Record(ctx, consent.Event{ContactID: cid, Purpose: "health-survey", State: consent.Refused, Method: consent.MethodWebForm})
	if n, _ := hooks.Fanout(ctx, 100); n != 1 {
		t.Errorf("fan-out %d; want 1 (the withdrawal; the contact's data did not go to the processor for the other purpose)", n)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if n, _ := hooks.SendDue(ctx, 100); n != 0 {
		t.Errorf("the withdrawal went out while the older event waits for its retry")
	}
	if err := w.contacts.Erase(ctx, cid); err != nil {
		t.Fatal(err)
	}
	hooks.Fanout(ctx, 100)
	for range 3 {
		w.now = w.now.Add(time.Hour)
		hooks.SendDue(ctx, 100)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) != 1 || kinds[0] != "erased" {
		t.Errorf("received %v; want only the erasure (the older events dropped)", kinds)
	}

	// A receiver answering with a redirect has not received the event.
	redirect := httptest.NewServer(http.RedirectHandler(rcv.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer redirect.Close()
	w2, hooks2, cid2 := hookWorld(t, map[string]string{"mailer": redirect.URL})
	w2.consent.Record(ctx, consent.Event{ContactID: cid2, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	hooks2.Fanout(ctx, 100)
	hooks2.SendDue(ctx, 100)
	ds, _ := hooks2.Deliveries(ctx, "mailer", 10)
	for _, d := range ds {
		if d.Status == share.DeliveryDelivered || d.LastStatus != 0 {
			t.Errorf("delivery through a redirect %+v; want not delivered (a loopback 307 shows as unreachable)", d)
		}
	}
}

// TestStaffCorrectionReachesProcessors: a correction by staff (not only by a request) is sent to
// the processors that hold the contact (GDPR Art. 19).
func TestStaffCorrectionReachesProcessors(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev share.Event
		json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		kinds = append(kinds, ev.Kind)
		mu.Unlock()
	}))
	defer rcv.Close()
	w, hooks, cid := hookWorld(t, map[string]string{"mailer": rcv.URL})
	ctx := context.Background()
	hooks.SendDue(ctx, 100)
	if _, err := w.contacts.Update(ctx, cid, contact.Patch{FirstName: ptr("Alicia")}); err != nil {
		t.Fatal(err)
	}
	hooks.Fanout(ctx, 100)
	hooks.SendDue(ctx, 100)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(kinds, "rectified") {
		t.Errorf("received %v; want a rectified event after the staff correction", kinds)
	}
}

func TestWebhookURLNeedsASecret(t *testing.T) {
	w := newWorld(t)
	_, err := w.svc.Create(context.Background(), share.Input{ID: ptr("nosecret"), Name: ptr("x"), Country: ptr("SE"), WebhookURL: ptr("https://hooks.example.com/x")})
	if e := apperr.As(err); e == nil || e.Field != "webhook_secret" {
		t.Errorf("webhook URL without a secret: %v; want Invalid webhook_secret", err)
	}
	_, err = w.svc.Create(context.Background(), share.Input{ID: ptr("creds"), Name: ptr("x"), Country: ptr("SE"), WebhookURL: ptr("https://user:pw@hooks.example.com/x"), WebhookSecret: ptr(secret)})
	if e := apperr.As(err); e == nil || e.Field != "webhook_url" {
		t.Errorf("credentials in the URL: %v; want Invalid webhook_url", err)
	}
	for _, u := range []string{"https://169.254.169.254/latest", "https://10.0.0.1/hook", "https://[fd00::1]/hook", "https://192.168.1.5/hook"} {
		_, err = w.svc.Create(context.Background(), share.Input{ID: ptr("ssrf"), Name: ptr("x"), Country: ptr("SE"), WebhookURL: ptr(u), WebhookSecret: ptr(secret)})
		if e := apperr.As(err); e == nil || e.Field != "webhook_url" {
			t.Errorf("webhook URL %s: %v; want Invalid webhook_url (private address)", u, err)
		}
	}
	_, err = w.svc.Create(context.Background(), share.Input{ID: ptr("future"), Name: ptr("x"), Country: ptr("SE"), DPAStatus: ptr(share.DPASigned), DPASignedAt: ptr(w.now.Add(24 * time.Hour))})
	if e := apperr.As(err); e == nil || e.Field != "dpa_signed_at" {
		t.Errorf("a DPA signed tomorrow: %v; want Invalid dpa_signed_at", err)
	}
}

// TestDeliveryLogPagesAndFilters: the log pages newest first and filters by kind.
func TestDeliveryLogPagesAndFilters(t *testing.T) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer rcv.Close()
	w, hooks, cid := hookWorld(t, map[string]string{"mailer": rcv.URL})
	ctx := context.Background()
	for _, st := range []consent.State{consent.Withdrawn, consent.Given, consent.Withdrawn} {
		w.consent.Record(ctx, consent.Event{ContactID: cid, Purpose: "newsletter", State: st, Method: consent.MethodWebForm})
	}
	hooks.Fanout(ctx, 100)
	var all []string
	cursor := ""
	for {
		page, next, err := hooks.Log(ctx, "mailer", "", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			all = append(all, d.Kind)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{"withdrawn", "given", "withdrawn", "given"}; !slices.Equal(all, want) {
		t.Errorf("log newest first %v; want %v", all, want)
	}
	given, _, _ := hooks.Log(ctx, "mailer", "given", "", 10)
	if len(given) != 2 {
		t.Errorf("kind filter: %d given events; want 2", len(given))
	}
	if _, _, err := hooks.Log(ctx, "mailer", "", "", 501); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("limit 501: %v; want Invalid", err)
	}
}
