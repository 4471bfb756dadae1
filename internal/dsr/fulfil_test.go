package dsr_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/store"
)

// staff is the context of a staff member completing requests through the API.
func staff() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-dpo", Role: "dpo"})
}

var downloadRE = regexp.MustCompile(`/p/requests/download/([A-Za-z0-9_-]+)`)

// downloadLink returns the secret of the one download link in m.
func downloadLink(t *testing.T, m sent) string {
	t.Helper()
	g := downloadRE.FindAllStringSubmatch(m.body, -1)
	if len(g) != 1 {
		t.Fatalf("%d download links in %q; want 1", len(g), m.body)
	}
	return g[0][1]
}

func newContact(t *testing.T, w *world, in contact.Input) contact.Contact {
	t.Helper()
	c, err := w.contacts.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inProgress records a staff request of type typ from email ("" for none) and verifies it
// against contactID, so that it can be completed.
func inProgress(t *testing.T, w *world, typ dsr.Type, email, contactID string) dsr.View {
	t.Helper()
	ctx := staff()
	v, err := w.svc.Create(ctx, dsr.Input{Type: typ, Channel: dsr.ChannelEmail, Email: email})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = w.svc.Verify(ctx, v.ID, contactID, "signed letter matches the address on file"); err != nil {
		t.Fatal(err)
	}
	if v.State != dsr.StateInProgress || v.ContactID != contactID {
		t.Fatalf("after Verify: %+v; want in_progress bound to %s", v.Request, contactID)
	}
	return v
}

// give records consent for purpose with a staff evidence note.
func give(t *testing.T, w *world, contactID, purpose string) {
	t.Helper()
	_, err := w.consent.Record(staff(), consent.Event{ContactID: contactID, Purpose: purpose, State: consent.Given, Method: consent.MethodStaff,
		Evidence: consent.Evidence{Note: "paper form 17, filed in the binder"}})
	if err != nil {
		t.Fatal(err)
	}
}

// eventsPurpose is a second consent-based purpose next to the default newsletter.
func eventsPurpose(t *testing.T, w *world) {
	t.Helper()
	_, err := w.consent.CreatePurpose(staff(), consent.Purpose{ID: "events", Name: "Event invitations",
		Description: "We invite you to our events by e-mail.", LawfulBasis: consent.BasisConsent})
	if err != nil {
		t.Fatal(err)
	}
}

// consentStates returns the contact's current consent state per purpose.
func consentStates(t *testing.T, w *world, contactID string) map[string]consent.State {
	t.Helper()
	led, err := w.consent.History(staff(), contactID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]consent.State{}
	for _, c := range led.Current {
		out[c.Purpose] = c.State
	}
	return out
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Invalid || ae.Field != field {
		t.Errorf("%s: %v; want Invalid on field %q", what, err, field)
	}
}

// contactAudit returns the audit events about the contact, oldest first.
func contactAudit(t *testing.T, w *world, contactID string) []audit.Event {
	t.Helper()
	evs, err := w.db.AuditEvents(context.Background(), store.AuditFilter{ObjectKind: "contact", ObjectID: contactID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func countAction(evs []audit.Event, action string) int {
	n := 0
	for _, e := range evs {
		if e.Action == action {
			n++
		}
	}
	return n
}

// readZip returns the files of a zip archive by name, and their names in archive order.
func readZip(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("download is not a zip: %v", err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = data
		names = append(names, f.Name)
	}
	return files, names
}

// checkBundle opens the zip and checks that it is the access bundle of c answering requestID.
func checkBundle(t *testing.T, zb []byte, c contact.Contact, requestID string) {
	t.Helper()
	files, names := readZip(t, zb)
	if !slices.Equal(names, bundleFiles) {
		t.Errorf("zip files = %v; want %v", names, bundleFiles)
	}
	var m struct {
		Format    string `json:"format"`
		ContactID string `json:"contact_id"`
		RequestID string `json:"request_id"`
		Files     []struct {
			Name string `json:"name"`
		} `json:"files"`
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	var listed []string
	for _, f := range m.Files {
		listed = append(listed, f.Name)
	}
	if m.Format != dsr.BundleFormat || m.ContactID != c.ID || m.RequestID != requestID || !slices.Equal(listed, bundleFiles[1:]) {
		t.Errorf("manifest = %+v; want %s for contact %s, request %s, listing %v", m, dsr.BundleFormat, c.ID, requestID, bundleFiles[1:])
	}
	var got contact.Contact
	if err := json.Unmarshal(files["contact.json"], &got); err != nil {
		t.Fatalf("contact.json: %v", err)
	}
	if got.ID != c.ID || got.Email != c.Email || got.FirstName != c.FirstName || got.LastName != c.LastName || got.Phone != c.Phone || got.Restricted != c.Restricted {
		t.Errorf("contact.json = %+v; want the values of %+v", got, c)
	}
	var reqs []dsr.Request
	if err := json.Unmarshal(files["requests.json"], &reqs); err != nil {
		t.Fatalf("requests.json: %v", err)
	}
	// The bundle is built as the request closes: it lists the request as completed.
	if !slices.ContainsFunc(reqs, func(r dsr.Request) bool { return r.ID == requestID && r.State == dsr.StateCompleted }) {
		t.Errorf("requests.json = %+v; want it to list request %s as completed", reqs, requestID)
	}
}

func TestCompleteAccessMailsASingleUseDownloadLink(t *testing.T) {
	for _, typ := range []dsr.Type{dsr.TypeAccess, dsr.TypePortability} {
		t.Run(string(typ), func(t *testing.T) {
			w := newWorld(t)
			ctx := staff()
			c := newContact(t, w, contact.Input{Email: "asa@example.org", FirstName: "Åsa", LastName: "Öberg", Phone: "+46701234567"})
			r := inProgress(t, w, typ, "asa@example.org", c.ID)
			v, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Note: "bundle sent"})
			if err != nil {
				t.Fatal(err)
			}
			if v.State != dsr.StateCompleted || v.CompletedAt == nil || !v.CompletedAt.Equal(w.now) || v.ContactID != c.ID {
				t.Fatalf("Complete = %+v; want completed at %v, bound to %s", v.Request, w.now, c.ID)
			}
			ms := w.mails(t)
			if len(ms) != 1 || ms[0].to != "asa@example.org" || ms[0].subject != "Your privacy request is complete" {
				t.Fatalf("mails = %+v; want the completion notice to asa@example.org", ms)
			}
			body := ms[0].body
			// Received and completed 31 January 2028; the link lasts 7 days.
			for _, want := range []string{"https://crm.example/p/requests/download/", typ.Label(), "31 January 2028", "expires on 7 February 2028", "dpo@example.com", r.ID} {
				if !strings.Contains(body, want) {
					t.Errorf("completion mail lacks %q:\n%s", want, body)
				}
			}
			secret := downloadLink(t, ms[0])
			before := len(contactAudit(t, w, c.ID))
			for range 2 {
				if ok, err := w.svc.DownloadReady(context.Background(), secret); err != nil || !ok {
					t.Fatalf("DownloadReady = %v, %v; want true", ok, err)
				}
			}
			if after := len(contactAudit(t, w, c.ID)); after != before {
				t.Errorf("DownloadReady wrote %d audit events; want none (it changes nothing)", after-before)
			}
			zb, ok, err := w.svc.Download(context.Background(), secret)
			if err != nil || !ok {
				t.Fatalf("Download = %d bytes, %v, %v; want the bundle", len(zb), ok, err)
			}
			checkBundle(t, zb, c, r.ID)
			evs := contactAudit(t, w, c.ID)
			if last := evs[len(evs)-1]; last.Action != "contact.export_download" || last.Actor.Kind != audit.ActorPublic || !slices.Equal(last.Fields, []string{"bundle"}) {
				t.Errorf("last audit event = %+v; want contact.export_download by the public", last)
			}
			if n := countAction(evs, "contact.export"); n != 1 {
				t.Errorf("%d contact.export events; want 1", n)
			}
			// Single use.
			if zb, ok, err := w.svc.Download(context.Background(), secret); err != nil || ok || zb != nil {
				t.Errorf("second Download = %d bytes, %v, %v; want not ok", len(zb), ok, err)
			}
			if ok, err := w.svc.DownloadReady(context.Background(), secret); err != nil || ok {
				t.Errorf("DownloadReady after download = %v, %v; want false", ok, err)
			}
			if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
				t.Errorf("SweepExports = %d, %v; want 0 (the downloaded bundle is gone)", n, err)
			}
			tl, err := w.svc.Timeline(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range tl {
				actions = append(actions, e.Action)
			}
			if want := []string{"received", "verified", "completed", "notice_sent"}; !slices.Equal(actions, want) {
				t.Errorf("timeline = %v; want %v", actions, want)
			}
			if tl[2].Note != "bundle sent" || tl[2].State != dsr.StateCompleted {
				t.Errorf("completed entry = %+v; want the note and state completed", tl[2])
			}
		})
	}
}

func TestDownloadLinksOfOtherRequestsAreIndependent(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	a := newContact(t, w, contact.Input{Email: "a@example.org", FirstName: "Anna"})
	b := newContact(t, w, contact.Input{Email: "b@example.org", FirstName: "Bertil"})
	ra := inProgress(t, w, dsr.TypeAccess, "a@example.org", a.ID)
	rb := inProgress(t, w, dsr.TypeAccess, "b@example.org", b.ID)
	for _, id := range []string{ra.ID, rb.ID} {
		if _, err := w.svc.Complete(ctx, id, dsr.Completion{}); err != nil {
			t.Fatal(err)
		}
	}
	ms := w.mails(t)
	if len(ms) != 2 {
		t.Fatalf("%d mails; want 2", len(ms))
	}
	links := map[string]string{}
	for _, m := range ms {
		links[m.to] = downloadLink(t, m)
	}
	// Each link opens its own person's bundle only.
	zb, ok, err := w.svc.Download(context.Background(), links["b@example.org"])
	if err != nil || !ok {
		t.Fatalf("Download = %v, %v", ok, err)
	}
	checkBundle(t, zb, b, rb.ID)
	if ok, _ := w.svc.DownloadReady(context.Background(), links["a@example.org"]); !ok {
		t.Errorf("downloading b's bundle used up a's link")
	}
}

func TestExpiredDownloadLinksAreRefusedAndSwept(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "late@example.org"})
	var secrets []string
	for range 3 {
		r := inProgress(t, w, dsr.TypeAccess, "late@example.org", c.ID)
		if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
			t.Fatal(err)
		}
		ms := w.mails(t)
		if len(ms) != 1 {
			t.Fatalf("%d mails; want 1", len(ms))
		}
		secrets = append(secrets, downloadLink(t, ms[0]))
	}
	if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
		t.Errorf("SweepExports before expiry = %d, %v; want 0", n, err)
	}
	start := w.now
	w.now = start.Add(7*24*time.Hour - time.Nanosecond)
	if ok, err := w.svc.DownloadReady(ctx, secrets[0]); err != nil || !ok {
		t.Errorf("DownloadReady just before 7 days = %v, %v; want true", ok, err)
	}
	if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
		t.Errorf("SweepExports just before 7 days = %d, %v; want 0", n, err)
	}
	w.now = start.Add(7 * 24 * time.Hour)
	if ok, err := w.svc.DownloadReady(ctx, secrets[0]); err != nil || ok {
		t.Errorf("DownloadReady after 7 days = %v, %v; want false", ok, err)
	}
	if zb, ok, err := w.svc.Download(ctx, secrets[0]); err != nil || ok || zb != nil {
		t.Errorf("Download after 7 days = %d bytes, %v, %v; want not ok", len(zb), ok, err)
	}
	// The refused download deleted its bundle; the sweep takes the other two.
	if n, err := w.svc.SweepExports(ctx); err != nil || n != 2 {
		t.Errorf("SweepExports after 7 days = %d, %v; want 2", n, err)
	}
	if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
		t.Errorf("second SweepExports = %d, %v; want 0", n, err)
	}
	for _, s := range secrets[1:] {
		if _, ok, err := w.svc.Download(ctx, s); err != nil || ok {
			t.Errorf("Download of a swept bundle = %v, %v; want not ok", ok, err)
		}
	}
	if n := countAction(contactAudit(t, w, c.ID), "contact.export_download"); n != 0 {
		t.Errorf("%d contact.export_download events; want 0 (nothing was downloaded)", n)
	}
}

func TestErasureRevokesDownloadLinks(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "gone@example.org"})
	r := inProgress(t, w, dsr.TypeAccess, "gone@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	secret := downloadLink(t, w.mails(t)[0])
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := w.svc.DownloadReady(ctx, secret); err != nil || ok {
		t.Errorf("DownloadReady after erasure = %v, %v; want false", ok, err)
	}
	if zb, ok, err := w.svc.Download(ctx, secret); err != nil || ok || zb != nil {
		t.Errorf("Download after erasure = %d bytes, %v, %v; want not ok", len(zb), ok, err)
	}
	w.now = w.now.AddDate(0, 0, 8)
	if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
		t.Errorf("SweepExports = %d, %v; want 0 (erasure deleted the bundle)", n, err)
	}
}

func TestAccessToARestrictedContactStillAnswers(t *testing.T) {
	// GDPR Art. 18(2): restricted data is still given to the person.
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "held@example.org", FirstName: "Hedda"})
	if _, err := w.contacts.SetRestricted(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Export(ctx, c.ID); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("staff Export of a restricted contact: %v; want Forbidden", err)
	}
	r := inProgress(t, w, dsr.TypeAccess, "held@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	zb, ok, err := w.svc.Download(ctx, downloadLink(t, w.mails(t)[0]))
	if err != nil || !ok {
		t.Fatalf("Download = %v, %v", ok, err)
	}
	c.Restricted = true
	checkBundle(t, zb, c, r.ID)
}

func TestPortalAccessCompletesOnVerification(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := newContact(t, w, contact.Input{Email: "asa@example.org", FirstName: "Åsa"})
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "ASA@example.org"}); err != nil {
		t.Fatal(err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || downloadRE.MatchString(ms[0].body) {
		t.Fatalf("mails = %+v; want one verification mail and no download link yet", ms)
	}
	w.now = w.now.Add(time.Hour)
	res, err := w.svc.VerifyLink(ctx, link(t, ms[0]))
	if err != nil || !res.Verified || !res.Completed || res.Type != dsr.TypeAccess {
		t.Fatalf("VerifyLink = %+v, %v; want verified and completed", res, err)
	}
	r := w.only(t)
	if r.State != dsr.StateCompleted || r.ContactID != c.ID || r.CompletedAt == nil || !r.CompletedAt.Equal(w.now) {
		t.Fatalf("request = %+v; want completed now, bound to %s", r.Request, c.ID)
	}
	ms = w.mails(t)
	if len(ms) != 1 || ms[0].to != "asa@example.org" {
		t.Fatalf("mails = %+v; want the download link to asa@example.org", ms)
	}
	secret := downloadLink(t, ms[0])
	zb, ok, err := w.svc.Download(ctx, secret)
	if err != nil || !ok {
		t.Fatalf("Download = %v, %v", ok, err)
	}
	checkBundle(t, zb, c, r.ID)
	// The export was made by the public link, not by staff.
	for _, e := range contactAudit(t, w, c.ID) {
		if e.Action == "contact.export" && e.Actor.Kind != audit.ActorPublic {
			t.Errorf("contact.export by %+v; want the public requests actor", e.Actor)
		}
	}
	tl, err := w.svc.Timeline(staff(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range tl {
		actions = append(actions, e.Action)
	}
	if want := []string{"received", "verification_sent", "verified", "completed", "notice_sent"}; !slices.Equal(actions, want) {
		t.Errorf("timeline = %v; want %v", actions, want)
	}
}

func TestPortalWithdrawConsentWithdrawsEveryGivenConsent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	eventsPurpose(t, w)
	c := newContact(t, w, contact.Input{Email: "wanda@example.org"})
	give(t, w, c.ID, "newsletter")
	if _, err := w.consent.Record(staff(), consent.Event{ContactID: c.ID, Purpose: "events", State: consent.Given, Method: consent.MethodAPI}); err != nil {
		t.Fatal(err)
	}
	if got := consentStates(t, w, c.ID); got["newsletter"] != consent.Given || got["events"] != consent.Given {
		t.Fatalf("before: %v; want both given", got)
	}
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeWithdrawConsent, Email: "wanda@example.org"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.VerifyLink(ctx, link(t, w.mails(t)[0]))
	if err != nil || !res.Verified || !res.Completed || res.Type != dsr.TypeWithdrawConsent {
		t.Fatalf("VerifyLink = %+v, %v; want verified and completed", res, err)
	}
	led, err := w.consent.History(staff(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(led.Current) != 2 {
		t.Fatalf("current consents = %+v; want 2", led.Current)
	}
	r := w.only(t)
	for _, cur := range led.Current {
		if cur.State != consent.Withdrawn || cur.Method != consent.MethodWebForm {
			t.Errorf("%s: %s by %s; want withdrawn by web-form (the person's own link)", cur.Purpose, cur.State, cur.Method)
		}
	}
	for _, e := range led.Events[len(led.Events)-2:] {
		if e.State != consent.Withdrawn || e.Evidence.Note != "data subject request "+r.ID {
			t.Errorf("withdrawal event = %+v; want the request named in the evidence", e)
		}
	}
	if r.State != dsr.StateCompleted {
		t.Errorf("request state = %s; want completed", r.State)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "wanda@example.org" || downloadRE.MatchString(ms[0].body) {
		t.Fatalf("mails = %+v; want one completion notice without a download link", ms)
	}
	for _, want := range []string{"withdrawn for: ", "newsletter", "events", "Art. 7(3)"} {
		if !strings.Contains(ms[0].body, want) {
			t.Errorf("completion mail lacks %q:\n%s", want, ms[0].body)
		}
	}
}

func TestPortalRequestFromAnAddressNoContactHas(t *testing.T) {
	for _, tc := range []struct {
		typ       dsr.Type
		automatic bool
		says      string
	}{
		{dsr.TypeAccess, true, "We hold no personal data linked to the address you confirmed, so there is nothing to send."},
		{dsr.TypePortability, true, "We hold no personal data linked to the address you confirmed, so there is nothing to send."},
		{dsr.TypeWithdrawConsent, true, "We hold no personal data linked to the address you confirmed, so there was nothing to change."},
		{dsr.TypeErasure, false, "We hold no personal data linked to the address you confirmed, so there was nothing to change."},
		{dsr.TypeRectification, false, "We hold no personal data linked to the address you confirmed, so there was nothing to change."},
		{dsr.TypeObjection, false, "We hold no personal data linked to the address you confirmed, so there was nothing to change."},
		{dsr.TypeRestriction, false, "We hold no personal data linked to the address you confirmed, so there was nothing to change."},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			newContact(t, w, contact.Input{Email: "someone.else@example.org"})
			if err := w.svc.Submit(ctx, dsr.Intake{Type: tc.typ, Email: "nobody@example.net"}); err != nil {
				t.Fatal(err)
			}
			res, err := w.svc.VerifyLink(ctx, link(t, w.mails(t)[0]))
			if err != nil || !res.Verified || res.Completed != tc.automatic {
				t.Fatalf("VerifyLink = %+v, %v; want verified, completed %v", res, err, tc.automatic)
			}
			r := w.only(t)
			if !tc.automatic {
				// Staff complete it; a rectification needs no changes when nothing is held.
				v, err := w.svc.Complete(staff(), r.ID, dsr.Completion{})
				if err != nil {
					t.Fatal(err)
				}
				r = v
			}
			if r.State != dsr.StateCompleted || r.ContactID != "" {
				t.Fatalf("request = %+v; want completed and bound to no contact", r.Request)
			}
			ms := w.mails(t)
			if len(ms) != 1 || ms[0].to != "nobody@example.net" {
				t.Fatalf("mails = %+v; want one completion notice to nobody@example.net", ms)
			}
			if !strings.Contains(ms[0].body, tc.says) {
				t.Errorf("completion mail lacks %q:\n%s", tc.says, ms[0].body)
			}
			if downloadRE.MatchString(ms[0].body) {
				t.Errorf("completion mail holds a download link:\n%s", ms[0].body)
			}
			if _, err := w.svc.Receipt(staff(), r.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Receipt = %v; want NotFound (nothing was erased)", err)
			}
			w.now = w.now.AddDate(0, 0, 8)
			if n, err := w.svc.SweepExports(ctx); err != nil || n != 0 {
				t.Errorf("SweepExports = %d, %v; want 0 (no bundle was made)", n, err)
			}
		})
	}
}

// holding finds the table in hs.
func holding(hs []dsr.Holding, table string) (dsr.Holding, bool) {
	i := slices.IndexFunc(hs, func(h dsr.Holding) bool { return h.Table == table })
	if i < 0 {
		return dsr.Holding{}, false
	}
	return hs[i], true
}

func TestCompleteErasureErasesAndMailsTheReceipt(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := newContact(t, w, contact.Input{Email: "erik@example.org", FirstName: "Erik", Phone: "+46701234567"})
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeErasure, Email: "erik@example.org", Details: "please forget me"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.VerifyLink(ctx, link(t, w.mails(t)[0]))
	if err != nil || !res.Verified || res.Completed {
		t.Fatalf("VerifyLink = %+v, %v; want verified and left to staff", res, err)
	}
	r := w.only(t)
	w.now = w.now.Add(24 * time.Hour)
	v, err := w.svc.Complete(staff(), r.ID, dsr.Completion{Note: "checked: no legal hold"})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != dsr.StateCompleted || v.ContactID != c.ID {
		t.Fatalf("Complete = %+v; want completed, still naming contact %s", v.Request, c.ID)
	}
	if _, err := w.contacts.Get(staff(), c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("contacts.Get after erasure: %v; want NotFound", err)
	}
	if r := w.only(t); r.ContactID != c.ID {
		t.Errorf("listed request contact_id = %q; want %s kept", r.ContactID, c.ID)
	}
	rc, err := w.svc.Receipt(staff(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.RequestID != r.ID || rc.ContactID != c.ID || !rc.ErasedAt.Equal(w.now) {
		t.Errorf("receipt = %+v; want request %s, contact %s, erased at %v", rc, r.ID, c.ID, w.now)
	}
	want := []dsr.Holding{{Table: "contacts", Rows: 1, Erase: "deleted", What: "your name, e-mail address and phone number"},
		{Table: "contact_keys", Rows: 1, Erase: "deleted", What: "the key that sealed your data, without which no copy of it can be read"}}
	if !slices.Equal(rc.Erased, want) {
		t.Errorf("receipt erased = %+v; want %+v", rc.Erased, want)
	}
	sup, ok := holding(rc.Kept, "suppressions")
	if !ok || !strings.HasPrefix(sup.Erase, "kept: ") {
		t.Errorf("receipt kept = %+v; want suppressions kept", rc.Kept)
	}
	if h, ok := holding(rc.Kept, "requests"); !ok || h.Rows != 1 {
		t.Errorf("receipt kept requests = %+v, %v; want 1 row (this request)", h, ok)
	}
	for _, h := range rc.Kept {
		if h.Erase == "deleted" {
			t.Errorf("kept holding %+v says deleted", h)
		}
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "erik@example.org" {
		t.Fatalf("mails = %+v; want the receipt to erik@example.org", ms)
	}
	for _, want := range []string{"Your personal data is erased (GDPR Art. 17)", "  - your name, e-mail address and phone number\r\n", "  - the key that sealed your data",
		"What we keep, and why", "  - the record of your requests to us and our answers", "do-not-mail list", "Art. 19", r.ID} {
		if !strings.Contains(ms[0].body, want) {
			t.Errorf("completion mail lacks %q:\n%s", want, ms[0].body)
		}
	}
	// Words people understand: no table name, no row count.
	for _, table := range []string{"contacts", "contact_keys", "consent_events", "suppressions", "erasure_ledger", "audit_events", "record(s)"} {
		if strings.Contains(ms[0].body, table) {
			t.Errorf("receipt mail names %q:\n%s", table, ms[0].body)
		}
	}
	for _, secret := range []string{"Erik", "+46701234567", "701234567"} {
		if strings.Contains(ms[0].body, secret) {
			t.Errorf("receipt mail holds %q", secret)
		}
	}
	// Once the receipt is handed over, the request's own copy of the address is gone too: its
	// key is destroyed, the receipt (no personal data) stays.
	if v, err := w.svc.Get(ctx, r.ID); err != nil || !v.Erased || v.Email != "" || v.Details != "" {
		t.Errorf("the erasure request after its receipt went out = %+v, %v; want erased, no address", v, err)
	}
	if _, err := w.svc.Complete(staff(), r.ID, dsr.Completion{}); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("completing again: %v; want Conflict", err)
	}
}

func TestCompleteErasureListsConsentRows(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "clara@example.org"})
	give(t, w, c.ID, "newsletter")
	r := inProgress(t, w, dsr.TypeErasure, "clara@example.org", c.ID)
	if _, err := w.svc.Complete(staff(), r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	rc, err := w.svc.Receipt(staff(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for table, rows := range map[string]int{"contacts": 1, "contact_keys": 1, "consent_events": 1, "consent_current": 1} {
		if h, ok := holding(rc.Erased, table); !ok || h.Rows != rows {
			t.Errorf("receipt erased %s = %+v, %v; want %d row(s)", table, h, ok, rows)
		}
	}
	if _, err := w.consent.History(staff(), c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("consent history after erasure: %v; want NotFound", err)
	}
}

func TestErasureReceiptCountsTheSuppressionsItKeeps(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "sune.old@example.org"})
	if _, err := w.contacts.Update(ctx, c.ID, contact.Patch{Email: strPtr("sune@example.org")}); err != nil {
		t.Fatal(err)
	}
	r := inProgress(t, w, dsr.TypeErasure, "sune@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	// The erasure keeps a keyed hash of each address, current and former: the gate refuses both.
	for _, addr := range []string{"sune@example.org", "sune.old@example.org"} {
		idx, sup, err := w.contacts.EmailHashes(addr)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := w.consent.CheckEmailIndex(ctx, idx, sup, "newsletter"); err != nil || d.Allowed {
			t.Errorf("gate for erased %s = %+v, %v; want refused", addr, d, err)
		}
	}
	rc, err := w.svc.Receipt(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := holding(rc.Kept, "suppressions"); !ok || h.Rows != 2 {
		t.Errorf("receipt kept suppressions = %+v, %v; want 2 rows (the hashes of both addresses)", h, ok)
	}
	if h, ok := holding(rc.Erased, "contact_former_emails"); !ok || h.Rows != 1 {
		t.Errorf("receipt erased contact_former_emails = %+v, %v; want 1 row", h, ok)
	}
	ms := w.mails(t)
	if len(ms) != 1 || !strings.Contains(ms[0].body, "  - your earlier e-mail addresses\r\n") || !strings.Contains(ms[0].body, "  - a scrambled copy (keyed hash) of each of your e-mail addresses on our do-not-mail list") {
		t.Errorf("mails = %+v; want the receipt naming the 2 suppression entries kept", ms)
	}
}

func TestErasureDeletesAPendingBundle(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "both@example.org"})
	access := inProgress(t, w, dsr.TypeAccess, "both@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, access.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	secret := downloadLink(t, w.mails(t)[0])
	erasure := inProgress(t, w, dsr.TypeErasure, "both@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, erasure.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	rc, err := w.svc.Receipt(ctx, erasure.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := holding(rc.Erased, "exports"); !ok || h.Rows != 1 {
		t.Errorf("receipt erased exports = %+v, %v; want 1 row (the bundle not yet downloaded)", h, ok)
	}
	if h, ok := holding(rc.Kept, "requests"); !ok || h.Rows != 2 {
		t.Errorf("receipt kept requests = %+v, %v; want 2 rows (access and erasure)", h, ok)
	}
	if _, ok, err := w.svc.Download(ctx, secret); err != nil || ok {
		t.Errorf("Download after the erasure request = %v, %v; want not ok", ok, err)
	}
	if ms := w.mails(t); len(ms) != 1 || !strings.Contains(ms[0].body, "  - copies of your data that were waiting for download\r\n") {
		t.Errorf("mails = %+v; want the receipt naming the deleted bundle", ms)
	}
}

// failingStore fails its n-th transaction (counting from 1) before running it, and passes every
// other to the real store.
type failingStore struct {
	dsr.Store
	n, calls int
}

func (s *failingStore) Update(ctx context.Context, fn func(dsr.Tx) error) error {
	s.calls++
	if s.calls == s.n {
		return apperr.New(apperr.Unavailable, "injected failure")
	}
	return s.Store.Update(ctx, fn)
}

func TestErasureCompletedAgainAfterTheClosingFailed(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "retry@example.org"})
	r := inProgress(t, w, dsr.TypeErasure, "retry@example.org", c.ID)
	// Complete runs prepare (1, which stores the receipt), erases through the contact service,
	// then closes (2), which fails.
	flaky := *w.svc
	flaky.Store = &failingStore{Store: w.svc.Store, n: 2}
	if _, err := flaky.Complete(ctx, r.ID, dsr.Completion{}); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Complete with a failing close: %v; want Unavailable", err)
	}
	if _, err := w.contacts.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("contact after the action: %v; want NotFound (erased)", err)
	}
	if v, _ := w.svc.Get(ctx, r.ID); v.State != dsr.StateInProgress {
		t.Fatalf("state = %s; want in_progress until closed", v.State)
	}
	v, err := w.svc.Complete(ctx, r.ID, dsr.Completion{})
	if err != nil || v.State != dsr.StateCompleted || v.ContactID != c.ID {
		t.Fatalf("second Complete = %+v, %v; want completed", v.Request, err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "retry@example.org" {
		t.Fatalf("mails = %+v; want one notice to retry@example.org", ms)
	}
	if strings.Contains(ms[0].body, "We hold no personal data") {
		t.Errorf("the person whose data was just erased is told none was held:\n%s", ms[0].body)
	}
	if _, err := w.svc.Receipt(ctx, r.ID); err != nil {
		t.Errorf("Receipt after the retry: %v; want the erasure receipt", err)
	}
}

func TestConcurrentCompletionsCloseTheRequestOnce(t *testing.T) {
	for _, typ := range []dsr.Type{dsr.TypeAccess, dsr.TypeErasure, dsr.TypeRestriction} {
		t.Run(string(typ), func(t *testing.T) {
			w := newWorld(t)
			ctx := staff()
			c := newContact(t, w, contact.Input{Email: "race@example.org"})
			r := inProgress(t, w, typ, "race@example.org", c.ID)
			const n = 4
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = w.svc.Complete(ctx, r.ID, dsr.Completion{})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				}
			}
			if ok != 1 {
				t.Errorf("%d completions succeeded; want 1 (errors %v)", ok, errs)
			}
			ms := w.mails(t)
			if len(ms) != 1 {
				t.Fatalf("%d completion mails; want 1", len(ms))
			}
			if v, err := w.svc.Get(ctx, r.ID); err != nil || v.State != dsr.StateCompleted {
				t.Errorf("request = %+v, %v; want completed", v.Request, err)
			}
			if typ == dsr.TypeErasure {
			}
			for _, err := range errs {
				if err != nil && !apperr.Is(err, apperr.Conflict) {
					t.Errorf("a losing Complete: %v; want Conflict", err)
				}
			}
			if strings.Contains(ms[0].body, "We hold no personal data") {
				t.Errorf("completion mail says no data is held:\n%s", ms[0].body)
			}
			if _, err := w.svc.Receipt(ctx, r.ID); typ == dsr.TypeErasure && err != nil {
				t.Errorf("Receipt: %v; want the erasure receipt", err)
			}
		})
	}
}

func TestStaffErasureWithoutAddressMailsTheFormerAddress(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "phoned@example.org", FirstName: "Folke"})
	v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeErasure, Channel: dsr.ChannelPhone, Details: "called to be forgotten"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, c.ID, "called back on the number on file"); err != nil {
		t.Fatal(err)
	}
	if v, err = w.svc.Complete(ctx, v.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	if v.State != dsr.StateCompleted || v.ContactID != c.ID {
		t.Errorf("Complete = %+v; want completed, contact_id %s kept", v.Request, c.ID)
	}
	if _, err := w.contacts.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("contacts.Get after erasure: %v; want NotFound", err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "phoned@example.org" {
		t.Fatalf("mails = %+v; want the receipt to the former address phoned@example.org", ms)
	}
	if !strings.Contains(ms[0].body, "What we erased") || !strings.Contains(ms[0].body, "Art. 17") {
		t.Errorf("completion mail lacks the receipt:\n%s", ms[0].body)
	}
	full, err := w.svc.Get(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.Email != "" || !full.Erased || full.ContactID != c.ID {
		t.Errorf("request = email %q erased %v contact %q; want the captured address gone once the receipt went, contact %s kept", full.Email, full.Erased, full.ContactID, c.ID)
	}
	tl, _ := w.svc.Timeline(ctx, v.ID)
	if last := tl[len(tl)-1]; last.Action != "notice_sent" {
		t.Errorf("last timeline entry = %+v; want notice_sent", last)
	}
}

func TestErasureOfAContactWithoutAddressFlagsTheNotice(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Phone: "+46701234567"})
	v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeErasure, Channel: dsr.ChannelLetter})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, c.ID, "signed letter"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Complete(ctx, v.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails with no address known", len(ms))
	}
	tl, _ := w.svc.Timeline(ctx, v.ID)
	// With nothing to send, the request's key goes at once: the note is no longer readable.
	if last := tl[len(tl)-1]; last.Action != "notice_unsent" || last.Note != "" {
		t.Errorf("last timeline entry = %+v; want notice_unsent, its note erased", last)
	}
	if rc, err := w.svc.Receipt(ctx, v.ID); err != nil || len(rc.Erased) != 2 {
		t.Errorf("Receipt = %+v, %v; want contacts and contact_keys erased", rc, err)
	}
}

func strPtr(s string) *string { return &s }

func TestCompleteRectificationAppliesChangesToARestrictedContact(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "rut@example.org", FirstName: "Rut", LastName: "Lind", Company: "Old AB"})
	if _, err := w.contacts.SetRestricted(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.contacts.Update(ctx, c.ID, contact.Patch{LastName: strPtr("Öberg-Lind")}); !apperr.Is(err, apperr.Forbidden) {
		t.Fatalf("Update of a restricted contact: %v; want Forbidden", err)
	}
	r := inProgress(t, w, dsr.TypeRectification, "rut@example.org", c.ID)
	v, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Öberg-Lind"), Company: strPtr("Norrsken AB"), FirstName: strPtr("Rut")}})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != dsr.StateCompleted {
		t.Errorf("state = %s; want completed", v.State)
	}
	got, err := w.contacts.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastName != "Öberg-Lind" || got.Company != "Norrsken AB" || got.FirstName != "Rut" || got.Email != "rut@example.org" || !got.Restricted || got.Version != c.Version+2 {
		t.Errorf("contact = %+v; want the corrections applied, still restricted, version %d", got, c.Version+2)
	}
	evs := contactAudit(t, w, c.ID)
	var rectify []audit.Event
	for _, e := range evs {
		if e.Action == "contact.rectify" {
			rectify = append(rectify, e)
		}
		if e.Action == "contact.update" {
			t.Errorf("refused update was audited: %+v", e)
		}
	}
	if len(rectify) != 1 || !slices.Equal(rectify[0].Fields, []string{"last_name", "company"}) || rectify[0].Actor.ID != "tok-dpo" {
		t.Errorf("contact.rectify events = %+v; want one naming last_name and company by tok-dpo", rectify)
	}
	ms := w.mails(t)
	if len(ms) != 1 || ms[0].to != "rut@example.org" {
		t.Fatalf("mails = %+v; want one completion notice", ms)
	}
	if !strings.Contains(ms[0].body, "We corrected these fields: last_name, company.") {
		t.Errorf("completion mail does not list the changed fields:\n%s", ms[0].body)
	}
	for _, value := range []string{"Norrsken", "Old AB", "Lind"} {
		if strings.Contains(ms[0].body, value) {
			t.Errorf("completion mail holds the value %q", value)
		}
	}
}

func TestCompleteRectificationThatChangesNothing(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "same@example.org", LastName: "Lind"})
	r := inProgress(t, w, dsr.TypeRectification, "same@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Lind")}}); err != nil {
		t.Fatal(err)
	}
	if n := countAction(contactAudit(t, w, c.ID), "contact.rectify"); n != 0 {
		t.Errorf("%d contact.rectify events for no change; want 0", n)
	}
	if ms := w.mails(t); len(ms) != 1 || !strings.Contains(ms[0].body, "already matched your corrections") {
		t.Errorf("mails = %+v; want a notice that nothing needed to change", ms)
	}
}

func TestCompleteRectificationRefusals(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "refused@example.org", LastName: "Lind"})
	other := newContact(t, w, contact.Input{Email: "taken@example.org"})
	r := inProgress(t, w, dsr.TypeRectification, "refused@example.org", c.ID)
	_, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Note: "forgot the changes"})
	wantInvalid(t, "rectification without changes", err, "changes")
	_, err = w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{Email: strPtr("not an address")}})
	wantInvalid(t, "rectification to a bad address", err, "email")
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{Email: strPtr("taken@example.org")}}); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("rectification to %s's address: %v; want Conflict", other.ID, err)
	}
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Berg"), Version: c.Version + 5}}); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("rectification at a stale version: %v; want Conflict", err)
	}
	got, err := w.svc.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != dsr.StateInProgress || got.CompletedAt != nil {
		t.Errorf("request after refusals = %+v; want still in_progress", got.Request)
	}
	if cur, _ := w.contacts.Get(ctx, c.ID); cur.LastName != "Lind" || cur.Email != "refused@example.org" || cur.Version != c.Version {
		t.Errorf("contact after refusals = %+v; want unchanged", cur)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails after refusals; want 0", len(ms))
	}
	// Corrected, it completes.
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Berg"), Version: c.Version}}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := w.contacts.Get(ctx, c.ID); cur.LastName != "Berg" {
		t.Errorf("last name = %q; want Berg", cur.LastName)
	}
}

func TestCompleteRestrictionRestrictsTheContact(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "stina@example.org"})
	give(t, w, c.ID, "newsletter")
	r := inProgress(t, w, dsr.TypeRestriction, "stina@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	got, err := w.contacts.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Restricted {
		t.Errorf("contact not restricted after the restriction request")
	}
	if _, err := w.contacts.Update(ctx, c.ID, contact.Patch{FirstName: strPtr("Stina")}); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("Update after restriction: %v; want Forbidden", err)
	}
	if d, err := w.consent.Check(ctx, c.ID, "newsletter"); err != nil || d.Allowed {
		t.Errorf("gate for a restricted contact = %+v, %v; want refused", d, err)
	}
	evs := contactAudit(t, w, c.ID)
	if n := countAction(evs, "contact.restrict"); n != 1 {
		t.Errorf("%d contact.restrict events; want 1", n)
	}
	if ms := w.mails(t); len(ms) != 1 || ms[0].to != "stina@example.org" || !strings.Contains(ms[0].body, "Art. 18(3)") {
		t.Errorf("mails = %+v; want the restriction notice naming Art. 18(3)", ms)
	}
}

func TestCompleteObjectionRecordsTheScope(t *testing.T) {
	for _, tc := range []struct {
		scope, want, says string
	}{
		{"", consent.ScopeDirectMarketing, "direct marketing of any kind (GDPR Art. 21(3))"},
		{consent.ScopeDirectMarketing, consent.ScopeDirectMarketing, "direct marketing of any kind (GDPR Art. 21(3))"},
		{"newsletter", "newsletter", `for the purpose "newsletter" (GDPR Art. 21)`},
	} {
		t.Run(tc.want+"/"+tc.scope, func(t *testing.T) {
			w := newWorld(t)
			ctx := staff()
			c := newContact(t, w, contact.Input{Email: "olle@example.org"})
			give(t, w, c.ID, "newsletter")
			r := inProgress(t, w, dsr.TypeObjection, "olle@example.org", c.ID)
			if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Scope: tc.scope}); err != nil {
				t.Fatal(err)
			}
			led, err := w.consent.History(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(led.Objections) != 1 || led.Objections[0].Scope != tc.want || led.Objections[0].Method != consent.MethodStaff || !led.Objections[0].OccurredAt.Equal(w.now) {
				t.Errorf("objections = %+v; want one to %s by staff now", led.Objections, tc.want)
			}
			if d, err := w.consent.Check(ctx, c.ID, "newsletter"); err != nil || d.Allowed {
				t.Errorf("gate after objection = %+v, %v; want refused", d, err)
			}
			ms := w.mails(t)
			if len(ms) != 1 || !strings.Contains(ms[0].body, tc.says) {
				t.Errorf("mails = %+v; want a notice saying %q", ms, tc.says)
			}
		})
	}
}

func TestCompleteObjectionRefusesAScopeItCannotTake(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "ove@example.org"})
	r := inProgress(t, w, dsr.TypeObjection, "ove@example.org", c.ID)
	for _, scope := range []string{"no-such-purpose", "terms-of-service"} {
		_, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Scope: scope})
		wantInvalid(t, "objection to "+scope, err, "scope")
	}
	led, err := w.consent.History(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(led.Objections) != 0 {
		t.Errorf("objections = %+v; want none", led.Objections)
	}
	if v, _ := w.svc.Get(ctx, r.ID); v.State != dsr.StateInProgress {
		t.Errorf("state = %s; want in_progress", v.State)
	}
}

func TestCompleteWithdrawConsent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		purposes []string
		want     map[string]consent.State
		says     string
	}{
		// Every given purpose, in purpose id order.
		{"every given", nil, map[string]consent.State{"newsletter": consent.Withdrawn, "events": consent.Withdrawn}, "withdrawn for: events, newsletter."},
		{"explicit", []string{"events"}, map[string]consent.State{"newsletter": consent.Given, "events": consent.Withdrawn}, "withdrawn for: events."},
		{"both explicit", []string{"newsletter", "events"}, map[string]consent.State{"newsletter": consent.Withdrawn, "events": consent.Withdrawn}, "withdrawn for: newsletter, events."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := staff()
			eventsPurpose(t, w)
			c := newContact(t, w, contact.Input{Email: "vera@example.org"})
			give(t, w, c.ID, "newsletter")
			give(t, w, c.ID, "events")
			r := inProgress(t, w, dsr.TypeWithdrawConsent, "vera@example.org", c.ID)
			if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Purposes: tc.purposes}); err != nil {
				t.Fatal(err)
			}
			got := consentStates(t, w, c.ID)
			if len(got) != len(tc.want) {
				t.Errorf("consents = %v; want %v", got, tc.want)
			}
			for p, s := range tc.want {
				if got[p] != s {
					t.Errorf("%s: %s; want %s", p, got[p], s)
				}
			}
			led, _ := w.consent.History(ctx, c.ID)
			for _, cur := range led.Current {
				if cur.State == consent.Withdrawn && cur.Method != consent.MethodStaff {
					t.Errorf("%s withdrawn by %s; want staff", cur.Purpose, cur.Method)
				}
			}
			if ms := w.mails(t); len(ms) != 1 || !strings.Contains(ms[0].body, tc.says) {
				t.Errorf("mails = %+v; want a notice saying %q", ms, tc.says)
			}
		})
	}
}

func TestCompleteWithdrawConsentRefusesAnUnknownPurposeBeforeWithdrawingAny(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "typo@example.org"})
	give(t, w, c.ID, "newsletter")
	r := inProgress(t, w, dsr.TypeWithdrawConsent, "typo@example.org", c.ID)
	_, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Purposes: []string{"newsletter", "no-such-purpose"}})
	if !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("Complete with an unknown purpose: %v; want Invalid", err)
	}
	if v, _ := w.svc.Get(ctx, r.ID); v.State != dsr.StateInProgress {
		t.Errorf("state = %s; want in_progress", v.State)
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails; want 0", len(ms))
	}
	wantInvalid(t, "unknown purpose", err, "purposes")
	if got := consentStates(t, w, c.ID); got["newsletter"] != consent.Given {
		t.Errorf("newsletter = %s after a refused completion; want still given", got["newsletter"])
	}
}

func TestCompleteWithdrawConsentWithNothingGiven(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "ingen@example.org"})
	r := inProgress(t, w, dsr.TypeWithdrawConsent, "ingen@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	if got := consentStates(t, w, c.ID); len(got) != 0 {
		t.Errorf("consents = %v; want none recorded", got)
	}
	if ms := w.mails(t); len(ms) != 1 || !strings.Contains(ms[0].body, "nothing to withdraw") {
		t.Errorf("mails = %+v; want a notice that there was nothing to withdraw", ms)
	}
}

func TestCompleteRefusesFieldsTheTypeDoesNotTake(t *testing.T) {
	fields := []struct {
		field string
		c     dsr.Completion
		takes dsr.Type
	}{
		{"changes", dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Berg")}}, dsr.TypeRectification},
		{"purposes", dsr.Completion{Purposes: []string{"newsletter"}}, dsr.TypeWithdrawConsent},
		{"scope", dsr.Completion{Scope: consent.ScopeDirectMarketing}, dsr.TypeObjection},
	}
	w := newWorld(t)
	ctx := staff()
	for _, typ := range dsr.Types {
		c := newContact(t, w, contact.Input{Email: string(typ) + "@example.org", LastName: "Lind"})
		give(t, w, c.ID, "newsletter")
		r := inProgress(t, w, typ, string(typ)+"@example.org", c.ID)
		for _, f := range fields {
			if f.takes == typ {
				continue
			}
			_, err := w.svc.Complete(ctx, r.ID, f.c)
			wantInvalid(t, string(typ)+" with "+f.field, err, f.field)
		}
		if v, err := w.svc.Get(ctx, r.ID); err != nil || v.State != dsr.StateInProgress {
			t.Errorf("%s after refusals: %+v, %v; want in_progress", typ, v.Request, err)
		}
		// Nothing was done to the contact.
		got, err := w.contacts.Get(ctx, c.ID)
		if err != nil || got.LastName != "Lind" || got.Restricted {
			t.Errorf("%s: contact = %+v, %v; want unchanged", typ, got, err)
		}
		led, err := w.consent.History(ctx, c.ID)
		if err != nil || len(led.Objections) != 0 || len(led.Current) != 1 || led.Current[0].State != consent.Given {
			t.Errorf("%s: consent = %+v, %v; want newsletter still given, no objection", typ, led, err)
		}
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails after refusals; want 0", len(ms))
	}
	// A field refused for a request that holds no data is refused all the same.
	v, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelEmail})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Verify(ctx, v.ID, newContact(t, w, contact.Input{Email: "x@example.org"}).ID, "in person"); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Complete(ctx, v.ID, dsr.Completion{Scope: "newsletter"})
	wantInvalid(t, "access with scope", err, "scope")
}

func TestCompleteIsAConflictUnlessInProgressOrExtended(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "konflikt@example.org"})
	received, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRestriction, Channel: dsr.ChannelLetter})
	if err != nil {
		t.Fatal(err)
	}
	verifying, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRestriction, Channel: dsr.ChannelEmail, Email: "konflikt@example.org", VerifyByEmail: true})
	if err != nil {
		t.Fatal(err)
	}
	completed := inProgress(t, w, dsr.TypeRestriction, "", c.ID)
	if _, err := w.svc.Complete(ctx, completed.ID, dsr.Completion{}); err != nil {
		t.Fatal(err)
	}
	rejected, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeRestriction, Channel: dsr.ChannelLetter})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Reject(ctx, rejected.ID, "identity could not be established"); err != nil {
		t.Fatal(err)
	}
	w.mails(t)
	for _, tc := range []struct {
		name string
		id   string
		c    dsr.Completion
	}{
		{"received", received.ID, dsr.Completion{}},
		{"verifying", verifying.ID, dsr.Completion{}},
		{"completed", completed.ID, dsr.Completion{}},
		{"rejected", rejected.ID, dsr.Completion{}},
		// The state is checked before the fields.
		{"received with a wrong field", received.ID, dsr.Completion{Scope: "newsletter"}},
	} {
		if _, err := w.svc.Complete(ctx, tc.id, tc.c); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("Complete of a %s request: %v; want Conflict", tc.name, err)
		}
	}
	for id, want := range map[string]dsr.State{received.ID: dsr.StateReceived, verifying.ID: dsr.StateVerifying, completed.ID: dsr.StateCompleted, rejected.ID: dsr.StateRejected} {
		if v, err := w.svc.Get(ctx, id); err != nil || v.State != want {
			t.Errorf("request %s: %s, %v; want %s", id, v.State, err, want)
		}
	}
	if ms := w.mails(t); len(ms) != 0 {
		t.Errorf("%d mails after refused completions; want 0", len(ms))
	}
	if _, err := w.svc.Complete(ctx, "0190f1c2-0000-7000-8000-000000000000", dsr.Completion{}); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Complete of an unknown request: %v; want NotFound", err)
	}
}

func TestCompleteAnExtendedRequest(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "ext@example.org"})
	r := inProgress(t, w, dsr.TypeRestriction, "ext@example.org", c.ID)
	if _, err := w.svc.Extend(ctx, r.ID, 1, "the archive is on paper"); err != nil {
		t.Fatal(err)
	}
	w.now = time.Date(2028, 3, 10, 12, 0, 0, 0, time.UTC) // past due_at (29 February), before extended_until (31 March)
	v, err := w.svc.Complete(ctx, r.ID, dsr.Completion{})
	if err != nil || v.State != dsr.StateCompleted || v.ExtendedUntil == nil || v.Overdue {
		t.Fatalf("Complete = %+v, %v; want completed, not overdue, extension kept", v, err)
	}
	ms := w.mails(t)
	if len(ms) != 2 || !strings.Contains(ms[1].body, "completed it on 10 March 2028") {
		t.Errorf("mails = %+v; want the extension and a completion notice dated 10 March 2028", ms)
	}
}

// TestBundleHoldsUnboundRequestsFromTheAddress: found by a second trial. A request made from the
// person's address but rejected before it was bound to their contact holds that address and our
// answer, yet the bundle's requests.json left it out; and audit.json held the export's own
// request.read for one request but not its contact.read.
func TestBundleHoldsUnboundRequestsFromTheAddress(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.contacts.Create(ctx, contact.Input{Email: "yvonne@example.org", FirstName: "Yvonne"})
	early, err := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: "Yvonne@Example.org", Details: "my letter"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Reject(ctx, early.ID, "the letter was not signed"); err != nil {
		t.Fatal(err)
	}
	bound, _ := w.svc.Create(ctx, dsr.Input{Type: dsr.TypeObjection, Channel: dsr.ChannelEmail, Email: "yvonne@example.org", Details: "no more calls"})
	if _, err := w.svc.Verify(ctx, bound.ID, c.ID, "reply from the address on file"); err != nil {
		t.Fatal(err)
	}
	b, err := w.svc.Export(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := readZip(t, b)
	var reqs []dsr.BundleRequest
	if err := json.Unmarshal(files["requests.json"], &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].ID != early.ID || reqs[0].State != dsr.StateRejected || reqs[0].Details != "my letter" || reqs[0].Reason != "the letter was not signed" ||
		reqs[1].ID != bound.ID || reqs[1].Details != "no more calls" {
		t.Errorf("requests.json = %+v; want the rejected letter with its details and our reason, then the bound objection", reqs)
	}
	var events []struct {
		Action     string `json:"action"`
		ObjectKind string `json:"object_kind"`
	}
	if err := json.Unmarshal(files["audit.json"], &events); err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "request.read" && e.ObjectKind == "request" {
			// The request's own reads before this export are fine; this export's would be one
			// whose fields name the bundle. None exist before it here.
			t.Errorf("audit.json holds the export's own request.read: %+v", events)
		}
	}
}

// TestNoDataAnswerSaysWhatIsKept: found by a second trial. An erased person asking for access
// was told "we hold no personal data linked to the address", while the suppression list keeps a
// keyed hash of it. The answer now says what is kept and why.
func TestNoDataAnswerSaysWhatIsKept(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := newContact(t, w, contact.Input{Email: "gone.before@example.org"})
	if err := w.contacts.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "gone.before@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.VerifyLink(ctx, link(t, w.mails(t)[0])); err != nil {
		t.Fatal(err)
	}
	ms := w.mails(t)
	if len(ms) != 1 || !strings.Contains(ms[0].body, "nothing to send") || !strings.Contains(ms[0].body, "do-not-mail list since") || !strings.Contains(ms[0].body, "because your data was erased") {
		t.Errorf("answer to an erased person: %+v; want it to say the keyed hash on the do-not-mail list is kept, and why", ms)
	}
}

// TestPortalObjectionStopsDirectMarketingAtOnce: found by a whole-product trial. A verified
// objection waited for staff while campaigns went on mailing the person; an objection to direct
// marketing is absolute (GDPR Art. 21(3)) and needs no weighing, so the link records it.
func TestPortalObjectionStopsDirectMarketingAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := newContact(t, w, contact.Input{Email: "elin@example.org"})
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeObjection, Email: "elin@example.org", Details: "No more marketing please"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.VerifyLink(ctx, link(t, w.mails(t)[0]))
	if err != nil || !res.Verified || res.Completed || !res.Objected {
		t.Fatalf("VerifyLink = %+v, %v; want verified, the objection recorded, the request left to staff", res, err)
	}
	led, err := w.consent.History(ctx, c.ID)
	if err != nil || len(led.Objections) != 1 || led.Objections[0].Scope != consent.ScopeDirectMarketing {
		t.Errorf("objections after the link: %+v, %v; want direct_marketing", led.Objections, err)
	}
	if r := w.only(t); r.State != dsr.StateInProgress {
		t.Errorf("request state %s; want in_progress (staff complete it)", r.State)
	}
}
