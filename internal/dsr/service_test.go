package dsr_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

// world is the request service of a whole app (apptest) on a real SQLite store, with a clock
// the test moves and mail written as .eml files under dir/mail, where the test reads every one
// (erasure removes the mail files of the app's own mail directory, not these).
type world struct {
	now      time.Time
	svc      *dsr.Service
	contacts *contact.Service
	consent  *consent.Service
	outbox   *mail.Outbox
	db       store.Store
	dir      string
	seen     int      // mail files already returned by mails
	app      *app.App // the whole app, for its keys and data directory
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{now: time.Date(2028, 1, 31, 9, 30, 0, 0, time.UTC), dir: dir}
	a := apptest.New(t, func(c *app.Config) {
		c.Now = func() time.Time { return w.now }
		c.Settings.BaseURL, c.Settings.ControllerName, c.Settings.DPOEmail = "https://crm.example", "Example AB", "dpo@example.com"
		c.Transport = mail.FileTransport{Dir: filepath.Join(dir, "mail"), From: "privacy@tillit.example", Domain: "tillit.example"}
	})
	w.svc, w.contacts, w.consent, w.outbox, w.db, w.app = a.Requests, a.Contacts, a.Consent, a.Outbox, a.Store, a
	return w
}

type sent struct{ to, subject, body string }

// mails sends what is due and returns the messages written since the last call.
func (w *world) mails(t *testing.T) []sent {
	t.Helper()
	if _, _, err := w.outbox.SendDue(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "mail", "*.eml"))
	slices.Sort(files)
	var out []sent
	for _, f := range files[w.seen:] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		out = append(out, sent{to: header(s, "To"), subject: header(s, "Subject"), body: strings.ReplaceAll(s, "=\r\n", "")})
	}
	w.seen = len(files)
	return out
}

func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.Trim(v, "<>")
		}
	}
	return ""
}

var linkRE = regexp.MustCompile(`/p/requests/verify/([A-Za-z0-9_-]+)`)

func link(t *testing.T, m sent) string {
	t.Helper()
	g := linkRE.FindStringSubmatch(m.body)
	if g == nil {
		t.Fatalf("no verification link in %q", m.body)
	}
	return g[1]
}

// only returns the one request in the queue.
func (w *world) only(t *testing.T) dsr.View {
	t.Helper()
	vs, _, err := w.svc.List(context.Background(), dsr.Filter{})
	if err != nil || len(vs) != 1 {
		t.Fatalf("List = %d requests, %v; want 1", len(vs), err)
	}
	return vs[0]
}

func TestPortalRequestIsBoundOnlyToTheVerifiedAddress(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	åsa, err := w.contacts.Create(ctx, contact.Input{Email: "asa@example.org", FirstName: "Åsa"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.contacts.Create(ctx, contact.Input{Email: "bo@example.org", Phone: "+46701234567"})
	if err != nil {
		t.Fatal(err)
	}
	// The details name a second identifier (another person's address and phone): never looked up.
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeRectification, Email: " ASA@Example.org ", Details: "also bo@example.org and +46701234567"}); err != nil {
		t.Fatal(err)
	}
	r := w.only(t)
	if r.State != dsr.StateVerifying || r.ContactID != "" || r.Channel != dsr.ChannelPortal {
		t.Fatalf("after intake: %+v; want verifying, unbound, portal", r.Request)
	}
	if want := time.Date(2028, 2, 29, 9, 30, 0, 0, time.UTC); !r.DueAt.Equal(want) {
		t.Errorf("due_at = %v; want %v (31 Jan in a leap year → 29 Feb)", r.DueAt, want)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "asa@example.org" {
		t.Fatalf("mails = %+v; want one verification mail to asa@example.org", ms)
	}
	if !strings.Contains(ms[0].body, "correct your personal data") || !strings.Contains(ms[0].body, "Art. 16") {
		t.Errorf("verification mail does not name the right: %q", ms[0].body)
	}
	secret := link(t, ms[0])
	w.now = w.now.Add(time.Hour)
	res, err := w.svc.VerifyLink(ctx, secret)
	if err != nil || !res.Verified || res.Completed || res.Type != dsr.TypeRectification || !res.Deadline.Equal(r.DueAt) {
		t.Fatalf("VerifyLink = %+v, %v; want verified rectification due %v, left to staff", res, err, r.DueAt)
	}
	r = w.only(t)
	if r.State != dsr.StateInProgress || r.ContactID != åsa.ID {
		t.Fatalf("after verification: state %s contact %q; want in_progress bound to %s (not %s)", r.State, r.ContactID, åsa.ID, other.ID)
	}
	// A replayed link changes nothing.
	if res, err := w.svc.VerifyLink(ctx, secret); err != nil || res.Verified {
		t.Errorf("replayed link: %+v, %v; want not verified", res, err)
	}
	tl, err := w.svc.Timeline(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range tl {
		actions = append(actions, e.Action)
	}
	if want := []string{"received", "verification_sent", "verified"}; !slices.Equal(actions, want) {
		t.Errorf("timeline = %v; want %v", actions, want)
	}
}

func TestPortalRequestFromUnknownAddressLooksTheSame(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeErasure, Email: "nobody@example.net"}); err != nil {
		t.Fatal(err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "nobody@example.net" {
		t.Fatalf("mails = %+v; want one verification mail", ms)
	}
	res, err := w.svc.VerifyLink(ctx, link(t, ms[0]))
	if err != nil || !res.Verified {
		t.Fatalf("VerifyLink = %+v, %v", res, err)
	}
	if r := w.only(t); r.State != dsr.StateInProgress || r.ContactID != "" {
		t.Errorf("request = %+v; want in progress with no contact (no data held)", r.Request)
	}
}

func TestExpiredAndUnknownLinksChangeNothing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "late@example.org"}); err != nil {
		t.Fatal(err)
	}
	secret := link(t, w.mails(t)[0])
	for _, s := range []string{"", "nonsense", secret[:len(secret)-1]} {
		if res, err := w.svc.VerifyLink(ctx, s); err != nil || res.Verified {
			t.Errorf("VerifyLink(%q) = %+v, %v; want nothing", s, res, err)
		}
	}
	w.now = w.now.Add(72 * time.Hour)
	if res, err := w.svc.VerifyLink(ctx, secret); err != nil || res.Verified {
		t.Errorf("after 72 h: %+v, %v; want nothing", res, err)
	}
	if r := w.only(t); r.State != dsr.StateVerifying {
		t.Errorf("state = %s; want verifying", r.State)
	}
}

func TestPortalIntakeIsRateLimitedPerAddress(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	types := []dsr.Type{dsr.TypeAccess, dsr.TypeErasure, dsr.TypeObjection, dsr.TypeRestriction, dsr.TypeAccess}
	for _, typ := range types {
		if err := w.svc.Submit(ctx, dsr.Intake{Type: typ, Email: "FLOOD@example.org"}); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(time.Minute)
	}
	if ms := w.mails(t); len(ms) != 3 {
		t.Errorf("%d mails for five requests in five minutes; want 3 (the hourly bound)", len(ms))
	}
	vs, _, _ := w.svc.List(ctx, dsr.Filter{})
	if len(vs) != 5 || vs[3].State != dsr.StateReceived || vs[4].State != dsr.StateReceived {
		t.Fatalf("requests = %+v; want 5, the last two received (staff see every one)", vs)
	}
	// Staff send the link of a request that got none; the bound does not apply to them.
	if v, err := w.svc.SendLink(ctx, vs[3].ID); err != nil || v.State != dsr.StateVerifying {
		t.Fatalf("SendLink = %+v, %v", v, err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "flood@example.org" {
		t.Fatalf("mails after SendLink = %+v", ms)
	}
	if res, err := w.svc.VerifyLink(ctx, link(t, ms[0])); err != nil || !res.Verified || res.Type != dsr.TypeRestriction {
		t.Errorf("the resent link: %+v, %v", res, err)
	}
	w.now = w.now.Add(time.Hour)
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "flood@example.org"}); err != nil {
		t.Fatal(err)
	}
	if ms := w.mails(t); len(ms) != 1 {
		t.Errorf("%d mails an hour later; want 1", len(ms))
	}
	phoned, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelPhone})
	if _, err := w.svc.SendLink(ctx, phoned.ID); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("SendLink without an address: %v; want Conflict", err)
	}
}

func TestIntakeRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		in    dsr.Intake
		field string
	}{
		{dsr.Intake{Type: "delete-everything", Email: "a@example.org"}, "type"},
		{dsr.Intake{Type: dsr.TypeAccess, Email: "not an address"}, "email"},
		{dsr.Intake{Type: dsr.TypeAccess, Email: ""}, "email"},
		{dsr.Intake{Type: dsr.TypeAccess, Email: "a@example.org", Details: strings.Repeat("x", dsr.MaxDetails+1)}, "details"},
	} {
		err := w.svc.Submit(ctx, tc.in)
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
			t.Errorf("Submit(%+v) = %v; want Invalid on %s", tc.in.Type, err, tc.field)
		}
	}
	if vs, _, _ := w.svc.List(ctx, dsr.Filter{}); len(vs) != 0 {
		t.Errorf("%d requests stored from refused input", len(vs))
	}
}

func TestExtensionAndRejectionAreMailedWithReasons(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	received := time.Date(2028, 1, 31, 8, 0, 0, 0, time.UTC)
	v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: "carl@example.org", ReceivedAt: &received})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "carl@example.org"})
	if _, err := w.svc.Extend(ctx, v.ID, 2, "too early"); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("extend before verification: %v; want Conflict", err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, c.ID, ""); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("verify without a note: %v; want Invalid", err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, "no-such-contact", "signed letter"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("verify with an unknown contact: %v; want Invalid", err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, c.ID, "signed letter matches the address on file"); err != nil {
		t.Fatal(err)
	}
	v, err = w.svc.Extend(ctx, v.ID, 2, "The archive is on paper and must be searched by hand.")
	if err != nil {
		t.Fatal(err)
	}
	// One month and two further months from 31 January: 30 April (end-of-month rule).
	if want := time.Date(2028, 4, 30, 8, 0, 0, 0, time.UTC); v.State != dsr.StateExtended || v.ExtendedUntil == nil || !v.ExtendedUntil.Equal(want) {
		t.Fatalf("after extension: %+v; want extended until %v", v.Request, want)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "carl@example.org" || !strings.Contains(ms[0].body, "searched by hand") || !strings.Contains(ms[0].body, "30 April 2028") || !strings.Contains(ms[0].body, "Art. 12(3)") {
		t.Fatalf("extension notice = %+v", ms)
	}
	if _, err := w.svc.Extend(ctx, v.ID, 1, "again"); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("second extension: %v; want Conflict", err)
	}
	if _, err := w.svc.Reject(ctx, v.ID, " "); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("reject without reason: %v; want Invalid", err)
	}
	v, err = w.svc.Reject(ctx, v.ID, "Manifestly unfounded: the fifth identical request this month.")
	if err != nil || v.State != dsr.StateRejected || v.CompletedAt == nil {
		t.Fatalf("Reject = %+v, %v", v.Request, err)
	}
	ms = w.mails(t)
	if len(ms) != 1 || !strings.Contains(ms[0].body, "fifth identical request") || !strings.Contains(ms[0].body, "Art. 77") || !strings.Contains(ms[0].body, "dpo@example.com") {
		t.Fatalf("rejection notice = %+v", ms)
	}
	full, err := w.svc.Get(ctx, v.ID)
	if err != nil || full.Email != "carl@example.org" || !strings.Contains(full.Reason, "fifth") {
		t.Errorf("Get = %+v, %v", full, err)
	}
}

func TestNoticeWithoutAddressGoesToTheVerifiedContactOrIsFlagged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "dora@example.org"})
	phoned, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRestriction, Channel: dsr.ChannelPhone})
	if _, err := w.svc.Verify(ctx, phoned.ID, c.ID, "called back on the number on file"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Complete(ctx, phoned.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	if ms := w.mails(t); len(ms) != 1 || ms[0].to != "dora@example.org" || !strings.Contains(ms[0].body, "restrict the processing") {
		t.Errorf("completion notice = %+v; want one to the verified contact", ms)
	}
	lone, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter})
	if _, err := w.svc.Reject(ctx, lone.ID, "identity could not be established"); err != nil {
		t.Fatal(err)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails with no address known", len(ms))
	}
	tl, _ := w.svc.Timeline(ctx, lone.ID)
	if last := tl[len(tl)-1]; last.Action != "notice_unsent" || !strings.Contains(last.Note, "letter") {
		t.Errorf("last timeline entry = %+v; want notice_unsent naming the letter channel", last)
	}
}

func TestQueueFiltersAndPages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	start := w.now
	var ids []string
	for i := range 5 {
		received := start.AddDate(0, 0, -10*i) // 0, 10, 20, 30, 40 days ago
		v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.Types[i], Channel: dsr.ChannelAPI, ReceivedAt: &received})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	overdue, _, err := w.svc.List(ctx, dsr.Filter{DueBy: w.now})
	if err != nil {
		t.Fatal(err)
	}
	if len(overdue) != 1 || overdue[0].ID != ids[4] || !overdue[0].Overdue || overdue[0].DaysLeft >= 0 {
		t.Errorf("overdue = %+v; want only the request of 40 days ago", overdue)
	}
	soon, _, _ := w.svc.List(ctx, dsr.Filter{DueBy: w.now.AddDate(0, 0, 7)})
	if len(soon) != 2 {
		t.Errorf("due within 7 days: %d; want 2 (40 and 30 days ago)", len(soon))
	}
	if _, err := w.svc.Verify(ctx, ids[0], mustContact(t, w), "in person"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Complete(ctx, ids[0], dsr.Completion{Note: "done"}); err != nil {
		t.Fatal(err)
	}
	open, _, _ := w.svc.List(ctx, dsr.Filter{Open: true})
	done, _, _ := w.svc.List(ctx, dsr.Filter{State: dsr.StateCompleted})
	if len(open) != 4 || len(done) != 1 || done[0].ID != ids[0] {
		t.Errorf("open %d, completed %v; want 4 and [%s]", len(open), done, ids[0])
	}
	byType, _, _ := w.svc.List(ctx, dsr.Filter{Type: dsr.Types[2]})
	if len(byType) != 1 || byType[0].ID != ids[2] {
		t.Errorf("type filter = %v", byType)
	}
	if _, err := w.svc.Assign(ctx, ids[3], "agent-7"); err != nil {
		t.Fatal(err)
	}
	mine, _, _ := w.svc.List(ctx, dsr.Filter{Assignee: "agent-7"})
	if len(mine) != 1 || mine[0].ID != ids[3] || mine[0].Assignee != "agent-7" {
		t.Errorf("assignee filter = %v", mine)
	}
	var seen []string
	cursor := ""
	for {
		page, next, err := w.svc.List(ctx, dsr.Filter{Limit: 2, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page {
			seen = append(seen, v.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("paged ids = %v; want %v", seen, ids)
	}
	if _, _, err := w.svc.List(ctx, dsr.Filter{State: "lost"}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("unknown state filter: %v; want Invalid", err)
	}
}

func mustContact(t *testing.T, w *world) string {
	t.Helper()
	c, err := w.contacts.Create(context.Background(), contact.Input{Email: uuid.NewString() + "@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestRequesterDataIsSealedAndReadsAreAudited(t *testing.T) {
	w := newWorld(t)
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-1", Role: "dpo"})
	v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRectification, Channel: dsr.ChannelEmail, Email: "sealed.requester@example.org", Details: "my surname is Lindqvist-Öberg now"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Email != "" || v.Details != "" {
		t.Errorf("Create answered decrypted fields without an audited read: %+v", v)
	}
	if _, err := w.svc.AddNote(ctx, v.ID, "called Lindqvist-Öberg back"); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, secret := range []string{"sealed.requester", "Lindqvist"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q in plaintext", filepath.Base(f), secret)
			}
		}
	}
	if _, err := w.svc.Get(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	evs, err := w.db.AuditEvents(ctx, store.AuditFilter{ObjectKind: "request", ObjectID: v.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var reads []audit.Event
	for _, e := range evs {
		if e.Action == "request.read" {
			reads = append(reads, e)
		}
	}
	if len(reads) != 1 || !slices.Equal(reads[0].Fields, []string{"email", "details"}) || reads[0].Actor.ID != "tok-1" {
		t.Errorf("request.read events = %+v; want one naming email and details by tok-1", reads)
	}
}

// TestBundleLinkGoesOnlyToThePersonsOwnAddress: a request staff entered with another address
// (typed in error, or by someone abusing the queue) is answered at the contact's own address on
// file; a contact without one cannot be answered by link; an empty correction is refused.
func TestBundleLinkGoesOnlyToThePersonsOwnAddress(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "real.person@example.org", FirstName: "Real"})
	r, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelEmail, Email: "attacker@evil.example"})
	if err != nil {
		t.Fatal(err)
	}
	// Found by a fresh-user trial: one agent could bind a request from their own address to
	// anyone's contact. Only VerifyOtherAddress (contacts.restrict in the API) binds it now.
	if _, err := w.svc.Verify(ctx, r.ID, c.ID, "trust me"); !apperr.Is(err, apperr.Conflict) || apperr.As(err).Reason != "address_mismatch" {
		t.Fatalf("Verify for a contact with another address: %v; want Conflict address_mismatch", err)
	}
	if _, err := w.svc.VerifyOtherAddress(ctx, r.ID, c.ID, "trust me"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "real.person@example.org" || !strings.Contains(ms[0].body, "/p/requests/download/") {
		t.Fatalf("mails = %+v; want the link at the contact's own address only", ms)
	}
	phoneOnly, _ := w.contacts.Create(ctx, contact.Input{Phone: "+46701112233"})
	r2, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypePortability, Channel: dsr.ChannelPhone, Email: "someone@example.net"})
	if _, err := w.svc.Verify(ctx, r2.ID, phoneOnly.ID, "called back"); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("Verify for a contact without an address: %v; want Conflict", err)
	}
	w.svc.VerifyOtherAddress(ctx, r2.ID, phoneOnly.ID, "called back")
	if _, err := w.svc.Complete(ctx, r2.ID, dsr.Completion{}); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("portability for a contact without an address: %v; want Conflict", err)
	}
	if v, err := w.svc.Complete(ctx, r2.ID, dsr.Completion{Note: "handed over on a USB stick at the counter, ID checked"}); err != nil || v.State != dsr.StateCompleted {
		t.Errorf("portability handed over another way: %+v, %v; want completed", v, err)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("mails = %+v; want none", ms)
	}
	r3, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRectification, Channel: dsr.ChannelEmail, Email: "real.person@example.org"})
	w.svc.Verify(ctx, r3.ID, c.ID, "reply from the address on file")
	if _, err := w.svc.Complete(ctx, r3.ID, dsr.Completion{Changes: &contact.Patch{}}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("rectification with no field: %v; want Invalid", err)
	}
}

// TestContactErasureClosesAndForgetsTheirRequests: erasing a contact by any path (here directly,
// as DELETE /api/v1/contacts/{id} does) closes the person's open requests, and those from their
// address that were never verified, and destroys every one's key: the record stays, the address,
// details and notes cannot be read, and nothing more can be sealed or mailed for them.
func TestContactErasureClosesAndForgetsTheirRequests(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "gone@example.org"})
	done, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRestriction, Channel: dsr.ChannelEmail, Email: "gone@example.org", Details: "stop using my data"})
	w.svc.Verify(ctx, done.ID, c.ID, "passport GONE-123")
	if _, err := w.svc.Complete(ctx, done.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	open, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeObjection, Channel: dsr.ChannelEmail, Email: "gone@example.org"})
	w.svc.Verify(ctx, open.ID, c.ID, "reply from the address on file")
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "Gone@Example.org", Details: "unverified details"}); err != nil {
		t.Fatal(err)
	}
	stranger, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelEmail, Email: "someone.else@example.org"})
	w.mails(t)
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	vs, _, _ := w.svc.List(ctx, dsr.Filter{})
	if len(vs) != 4 {
		t.Fatalf("%d requests; want the 4 kept as a record", len(vs))
	}
	for _, v := range vs {
		full, err := w.svc.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.ID == stranger.ID {
			if full.Erased || full.Email != "someone.else@example.org" || full.State != dsr.StateReceived {
				t.Errorf("another person's request = %+v; want untouched", full)
			}
			continue
		}
		if !full.Erased || full.Email != "" || full.Details != "" || full.Open() {
			t.Errorf("request %s of the erased person = %+v; want closed and erased", v.ID, full)
		}
		tl, _ := w.svc.Timeline(ctx, v.ID)
		for _, e := range tl {
			if e.Note != "" {
				t.Errorf("request %s: timeline note %q still readable", v.ID, e.Note)
			}
		}
	}
	if v, _ := w.svc.Status(ctx, open.ID); v.State != dsr.StateCompleted {
		t.Errorf("the open objection after erasure: %s; want completed (closed by the erasure)", v.State)
	}
	for _, try := range []func() error{
		func() error { _, err := w.svc.Reject(ctx, open.ID, "too late"); return err },
		func() error { _, err := w.svc.Extend(ctx, open.ID, 1, "too late"); return err },
		func() error { _, err := w.svc.AddNote(ctx, open.ID, "a note"); return err },
	} {
		if err := try(); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("acting on a closed, erased request: %v; want Conflict", err)
		}
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("mails after erasure = %+v; want none", ms)
	}
}

// TestUnverifiedPortalRequestsAreClosedAfterTwoWeeks: a portal request whose link is never used
// is closed (rejected, no mail) and its data destroyed after 14 days; staff-entered requests
// waiting for an identity check are left to staff.
func TestUnverifiedPortalRequestsAreClosedAfterTwoWeeks(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeErasure, Email: "ghost@example.org", Details: "please"}); err != nil {
		t.Fatal(err)
	}
	letter, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: "letter@example.org"})
	w.mails(t)
	w.now = w.now.Add(14*24*time.Hour - time.Minute)
	if n, err := w.svc.SweepUnverified(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before 14 days: %d, %v", n, err)
	}
	w.now = w.now.Add(2 * time.Minute)
	if n, err := w.svc.SweepUnverified(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after 14 days: %d, %v; want 1", n, err)
	}
	vs, _, _ := w.svc.List(ctx, dsr.Filter{Type: dsr.TypeErasure})
	if full, _ := w.svc.Get(ctx, vs[0].ID); full.State != dsr.StateRejected || !full.Erased || full.Email != "" {
		t.Errorf("the unverified portal request = %+v; want rejected and erased", full)
	}
	if v, _ := w.svc.Get(ctx, letter.ID); v.State != dsr.StateReceived || v.Email != "letter@example.org" {
		t.Errorf("the staff-entered request = %+v; want left alone", v)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("the sweep mailed %+v", ms)
	}
}
