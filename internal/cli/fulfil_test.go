package cli_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

var downloadRE = regexp.MustCompile(`https?://[^\s]+/p/requests/download/[A-Za-z0-9_-]+`)

// unzipped is an access bundle read back: each file's bytes by name, in archive order.
type unzipped struct {
	names []string
	files map[string][]byte
}

func unzipBundle(t *testing.T, b []byte) unzipped {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("bundle is not a zip: %v", err)
	}
	u := unzipped{files: map[string][]byte{}}
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
		u.names = append(u.names, f.Name)
		u.files[f.Name] = data
	}
	return u
}

// download opens a download link as a browser would: the GET page, then its button.
func download(t *testing.T, link string) (int, string, []byte) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	base := u.Scheme + "://" + u.Host
	resp, err := http.Get(base + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Download my data") {
		return resp.StatusCode, resp.Header.Get("Content-Type"), page
	}
	resp, err = http.Post(base+u.Path, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// TestAccessBundleThroughThePortal: a person asks for their data on the portal, confirms the
// e-mailed link, gets a single-use download link over SMTP and downloads a bundle whose every
// file is checked field by field; the vCard is read back with a vCard parser.
func TestAccessBundleThroughThePortal(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example", "TILLIT_CONTROLLER_NAME": "Norrsken AB"})
	in := map[string]any{
		"email": "Åsa.Öberg-Lind@Example.org", "first_name": "Åsa", "last_name": "Öberg-Lind", "phone": "+46 70 123 45 67",
		"company": "Fjäll; och Dal, AB", "title": "Chef", "birthday": "1984-02-29", "notes": "=SUM(A1:A9) said at the fair\nsecond line",
		"address": map[string]any{"street": "Storgatan 12", "city": "Umeå", "postal_code": "903 26", "country": "SE"},
		"custom":  map[string]string{"shoe_size": "38"}, "tags": []string{"fair-2026", "vip"},
	}
	var c contactJSON
	if st := p.do("POST", "/api/v1/contacts", in, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "ip": "198.51.100.23"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	if st, _ := postForm(t, p.base, "/p/requests", url.Values{"type": {"access"}, "email": {"åsa.öberg-lind@example.org"}, "details": {"Also the notes from the fair, please."}}); st != 200 {
		t.Fatalf("intake: %d", st)
	}
	_, text := parseMessage(t, sink.next(t))
	v, _ := url.Parse(verifyRE.FindString(text))
	if st, page := postForm(t, p.base, v.Path, nil); st != 200 || !strings.Contains(page, "confirmed and done") {
		t.Fatalf("verify: %d %s", st, page)
	}
	d := sink.next(t)
	msg, text := parseMessage(t, d)
	link := downloadRE.FindString(text)
	if msg.Header.Get("Subject") != "Your privacy request is complete" || link == "" || d.To[0] != "åsa.öberg-lind@example.org" {
		t.Fatalf("answer to %v: %v %q", d.To, msg.Header, text)
	}
	st, ctype, body := download(t, link)
	if st != 200 || ctype != "application/zip" {
		t.Fatalf("download: %d %s %.200s", st, ctype, body)
	}
	if st, _, page := download(t, link); st != 200 || !strings.Contains(string(page), "cannot be used") {
		t.Errorf("second download: %d %.300s", st, page)
	}
	b := unzipBundle(t, body)

	// manifest.json lists every other file with its size and SHA-256.
	var manifest struct {
		Format    string `json:"format"`
		ContactID string `json:"contact_id"`
		RequestID string `json:"request_id"`
		Files     []struct {
			Name   string `json:"name"`
			SHA256 string `json:"sha256"`
			Bytes  int    `json:"bytes"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b.files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Format != dsr.BundleFormat || manifest.ContactID != c.ID || manifest.RequestID == "" || len(manifest.Files) != len(b.names)-1 {
		t.Errorf("manifest %+v for %d files", manifest, len(b.names))
	}
	for _, f := range manifest.Files {
		sum := sha256.Sum256(b.files[f.Name])
		if hex.EncodeToString(sum[:]) != f.SHA256 || len(b.files[f.Name]) != f.Bytes {
			t.Errorf("manifest entry %s does not match the file", f.Name)
		}
	}
	for _, want := range []string{"contact.json", "contact.csv", "contact.vcf", "consents.json", "suppression.json", "requests.json", "disclosures.json", "audit.json", "contact.schema.json", "README.txt"} {
		if _, ok := b.files[want]; !ok {
			t.Errorf("bundle lacks %s (has %v)", want, b.names)
		}
	}

	var got map[string]any
	if err := json.Unmarshal(b.files["contact.json"], &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": c.ID, "email": "åsa.öberg-lind@example.org", "first_name": "Åsa", "last_name": "Öberg-Lind", "phone": "+46701234567",
		"company": "Fjäll; och Dal, AB", "title": "Chef", "birthday": "1984-02-29", "notes": "=SUM(A1:A9) said at the fair\nsecond line"} {
		if got[k] != want {
			t.Errorf("contact.json %s = %v; want %v", k, got[k], want)
		}
	}
	if a, _ := got["address"].(map[string]any); a["city"] != "Umeå" || a["postal_code"] != "903 26" || a["street"] != "Storgatan 12" {
		t.Errorf("contact.json address = %v", got["address"])
	}
	if cu, _ := got["custom"].(map[string]any); cu["shoe_size"] != "38" {
		t.Errorf("contact.json custom = %v", got["custom"])
	}

	rows, err := csv.NewReader(bytes.NewReader(b.files["contact.csv"])).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("contact.csv: %v, %d rows", err, len(rows))
	}
	cell := map[string]string{}
	for i, h := range rows[0] {
		cell[h] = rows[1][i]
	}
	for k, want := range map[string]string{"email": "åsa.öberg-lind@example.org", "first_name": "Åsa", "phone": "+46701234567", "company": "Fjäll; och Dal, AB",
		"city": "Umeå", "birthday": "1984-02-29", "notes": "'=SUM(A1:A9) said at the fair\nsecond line", "tags": "fair-2026; vip", "custom.shoe_size": "38"} {
		if cell[k] != want {
			t.Errorf("contact.csv %s = %q; want %q", k, cell[k], want)
		}
	}

	card, err := vcard.NewDecoder(bytes.NewReader(b.files["contact.vcf"])).Decode()
	if err != nil {
		t.Fatalf("contact.vcf does not parse: %v", err)
	}
	if card.Value(vcard.FieldVersion) != "4.0" || card.Value(vcard.FieldFormattedName) != "Åsa Öberg-Lind" || card.Value(vcard.FieldEmail) != "åsa.öberg-lind@example.org" ||
		!strings.Contains(card.Value(vcard.FieldTelephone), "+46701234567") || card.Value(vcard.FieldBirthday) != "19840229" && card.Value(vcard.FieldBirthday) != "1984-02-29" {
		t.Errorf("vCard: %v", card)
	}
	if adr := card.Address(); adr == nil || adr.Locality != "Umeå" || adr.PostalCode != "903 26" || adr.StreetAddress != "Storgatan 12" {
		t.Errorf("vCard ADR = %+v", card.Address())
	}

	var consents struct {
		Current []struct{ Purpose, State string } `json:"current"`
		History []struct {
			Purpose, State, Method string
			Evidence               struct {
				IP string `json:"ip"`
			} `json:"evidence"`
		} `json:"history"`
	}
	if err := json.Unmarshal(b.files["consents.json"], &consents); err != nil {
		t.Fatal(err)
	}
	if len(consents.Current) != 1 || consents.Current[0].State != "dpv:ConsentGiven" || len(consents.History) != 1 || consents.History[0].Evidence.IP != "198.51.100.23" {
		t.Errorf("consents.json = %s", b.files["consents.json"])
	}
	var sup struct {
		Suppressed bool `json:"suppressed"`
	}
	if err := json.Unmarshal(b.files["suppression.json"], &sup); err != nil || sup.Suppressed {
		t.Errorf("suppression.json = %s", b.files["suppression.json"])
	}
	// The person's own words come back too (found by a fresh-user trial: requests.json left out
	// the address and details, which are the person's data).
	var reqs []struct{ ID, Type, State, Channel, Email, Details string }
	if err := json.Unmarshal(b.files["requests.json"], &reqs); err != nil || len(reqs) != 1 || reqs[0].ID != manifest.RequestID || reqs[0].Type != "access" || reqs[0].Channel != "portal" ||
		reqs[0].Email != "åsa.öberg-lind@example.org" || reqs[0].Details != "Also the notes from the fair, please." {
		t.Errorf("requests.json = %s", b.files["requests.json"])
	}
	if string(bytes.TrimSpace(b.files["disclosures.json"])) != "[]" {
		t.Errorf("disclosures.json = %s", b.files["disclosures.json"])
	}
	var events []struct {
		Action string   `json:"action"`
		Fields []string `json:"fields"`
	}
	if err := json.Unmarshal(b.files["audit.json"], &events); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, "contact.create") || !slices.Contains(actions, "consent.record") || !slices.Contains(actions, "request.receive") || !slices.Contains(actions, "request.verify") {
		t.Errorf("audit.json actions %v; want the creation, the consent and the events of the request", actions)
	}
	if bytes.Contains(b.files["audit.json"], []byte("Åsa")) {
		t.Errorf("audit.json holds a value: %s", b.files["audit.json"])
	}
}

// TestErasureCoversEveryPersonalTable fills every holding of the personal-data register
// (internal/personal) for one person (contact, key, consent, objection, former address, mail,
// opt-in and unsubscribe links, a pending download, requests, audit, suppression, an imported
// unsubscribe, a campaign's skip), checks that the access bundle carries each holding the
// register says it exports, erases the person through an erasure request and checks that every
// holding the register says is erased holds none of their rows, that every kept one found by
// contact id keeps its rows, that the earlier download link is revoked, that the receipt reached
// them over SMTP, that no plaintext is left in any file and that the address stays suppressed.
func TestErasureCoversEveryPersonalTable(t *testing.T) {
	sink := startSMTP(t)
	dir := t.TempDir()
	p := startProgramEnv(t, dir, map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example",
		"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_STREET": "Storgatan 1", "TILLIT_CONTROLLER_CITY": "Umeå"})
	db, err := store.Open(context.Background(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)}) // a second handle beside the server's
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	footprint := func(id string) map[string]int {
		t.Helper()
		var out map[string]int
		err := db.Update(context.Background(), func(tx store.Tx) error {
			var err error
			out, err = tx.PersonalFootprint(context.Background(), id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	var c contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "old.address@example.org", "first_name": "Tordis", "last_name": "Halvorsen", "notes": "prefers Tuesdays"}, &c); st != 201 {
		t.Fatal("create")
	}
	const addr = "tordis.halvorsen@example.org"
	if st := p.do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"email": addr}, nil); st != 200 {
		t.Fatal("patch")
	}
	if d := sink.next(t); d.To[0] != "old.address@example.org" { // the replaced address is told
		t.Fatalf("first mail to %v; want the notice to the replaced address", d.To)
	}
	p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "ip": "203.0.113.66"}, nil)
	p.do("POST", "/api/v1/purposes", map[string]any{"id": "events", "name": "Event invitations", "lawful_basis": "dpv:Consent"}, nil)
	if st, _ := postForm(t, p.base, "/p/subscribe", url.Values{"email": {addr}, "purposes": {"events"}}); st != 200 {
		t.Fatal("subscribe")
	}
	sink.next(t) // the opt-in confirmation
	var camp struct{ ID string }
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	sink.next(t) // the campaign: its unsubscribe link is stored as a hash
	// A campaign for events, which the person has not confirmed: the gate skips them, and the
	// recipients list keeps who and why.
	var skipping struct{ ID string }
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "events", "subject": "Events", "text": "Hello."}, &skipping)
	p.do("POST", "/api/v1/campaigns/"+skipping.ID+"/send", nil, nil)
	p.waitWalked(skipping.ID)
	// An imported unsubscribe from the events list: kept by the address's keyed hash.
	ureq, _ := http.NewRequest("POST", p.base+"/api/v1/imports?format=mailchimp&purpose=events", strings.NewReader("Email Address,UNSUB_TIME\n"+addr+",2026-01-01 00:00:00\n"))
	ureq.Header.Set("Authorization", "Bearer "+p.token)
	ureq.Header.Set("Content-Type", "text/csv")
	if resp, err := http.DefaultClient.Do(ureq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("unsubscribe import: %v %v", resp, err)
	}
	// A disclosure to a processor with a signed agreement and a webhook that acknowledges erasures.
	hook := startHookReceiver(t, "a-shared-secret-of-length")
	if st := p.do("POST", "/api/v1/processors", map[string]any{"id": "crm-sync", "name": "Sync AB", "purposes": []string{"newsletter"},
		"data_categories": []string{"email", "first_name"}, "country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z",
		"webhook_url": hook.url, "webhook_secret": hook.secret}, nil); st != 201 {
		t.Fatalf("processor: %d", st)
	}
	if st := p.do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "crm-sync", "purpose": "newsletter", "fields": []string{"email"}}, nil); st != 201 {
		t.Fatalf("disclosure: %d", st)
	}
	// A second recipient without a webhook: staff must tell it themselves.
	p.do("POST", "/api/v1/processors", map[string]any{"id": "paper-crm", "name": "Paper CRM AB", "purposes": []string{"newsletter"},
		"data_categories": []string{"email"}, "country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z"}, nil)
	if st := p.do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "paper-crm", "purpose": "newsletter", "fields": []string{"email"}}, nil); st != 201 {
		t.Fatalf("second disclosure: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/objections", map[string]any{"scope": "direct_marketing", "method": "staff"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	// A disclosure refused after the objection: a record of a request that sent nothing.
	if st := p.do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "paper-crm", "purpose": "newsletter", "fields": []string{"email"}}, nil); st != 403 {
		t.Fatalf("disclosure after the objection: %d; want 403", st)
	}
	// A correction after the disclosures: Sync AB hears of it by webhook, Paper CRM AB is a to-do.
	if st := p.do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"title": "Buyer"}, nil); st != 200 {
		t.Fatalf("correction: %d", st)
	}
	// Two access requests: one downloaded (to read the bundle), one left waiting.
	var bundle unzipped
	var pending string
	for i := range 2 {
		var r requestJSON
		if i == 0 { // verified by the e-mailed link, then answered at once
			p.do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "email", "email": addr, "verify_by_email": true}, &r)
			_, text := parseMessage(t, sink.next(t))
			v, _ := url.Parse(verifyRE.FindString(text))
			postForm(t, p.base, v.Path, nil)
		} else { // verified by staff, completed by staff
			p.do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "email", "email": addr}, &r)
			p.do("POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "mail from the address on file"}, nil)
			if st := p.do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, nil); st != 200 {
				t.Fatalf("complete access: %d", st)
			}
		}
		_, text := parseMessage(t, sink.next(t))
		link := downloadRE.FindString(text)
		if i == 1 {
			pending = link
			break
		}
		_, _, body := download(t, link)
		bundle = unzipBundle(t, body)
	}
	// A suppression entry for the address: bounce it.
	dsn := "From: MAILER-DAEMON@mx.example.net\r\nTo: privacy@tillit.example\r\nSubject: failure\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; " + addr + "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
	req, _ := http.NewRequest("POST", p.base+"/api/v1/mail-reports", strings.NewReader(dsn))
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "message/rfc822")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("bounce: %v %v", resp, err)
	}

	hook.waitFor(t, "objected")   // the processor heard of the objection made after the disclosure
	hook.waitFor(t, "suppressed") // and of the bounce
	hook.waitFor(t, "rectified")  // and of the correction, in the fan-out that made Paper CRM AB's to-do
	before := footprint(c.ID)
	for _, h := range personal.Holdings() {
		// The ledger's row comes with the erasure; unsubscribe token rows only from mail sent
		// before links were sealed (the store's contract erasure case covers them).
		if before[h.ID] == 0 && h.ID != personal.ErasureLedger && h.ID != personal.UnsubscribeTokens {
			t.Errorf("holding %s has no row of the person before erasure: the test does not cover it", h.ID)
		}
		for _, f := range h.Files {
			if len(bytes.TrimSpace(bundle.files[f])) < 3 {
				t.Errorf("holding %s: the bundle's %s is missing or empty", h.ID, f)
			}
		}
	}

	// Erasure through the portal, completed by staff.
	if st, _ := postForm(t, p.base, "/p/requests", url.Values{"type": {"erasure"}, "email": {addr}}); st != 200 {
		t.Fatal("intake")
	}
	_, text := parseMessage(t, sink.next(t))
	v, _ := url.Parse(verifyRE.FindString(text))
	postForm(t, p.base, v.Path, nil)
	var queue struct{ Items []requestJSON }
	p.do("GET", "/api/v1/requests?type=erasure&state=in_progress", nil, &queue)
	if len(queue.Items) != 1 || queue.Items[0].ContactID != c.ID {
		t.Fatalf("erasure queue: %+v", queue.Items)
	}
	id := queue.Items[0].ID
	if st := p.do("POST", "/api/v1/requests/"+id+"/complete", map[string]any{"note": "no legal hold"}, nil); st != 200 {
		t.Fatalf("complete erasure: %d", st)
	}
	d := sink.next(t)
	_, text = parseMessage(t, d)
	if d.To[0] != addr || !strings.Contains(text, "Your personal data is erased") || !strings.Contains(text, "your name, e-mail address, job title and notes about you") ||
		!strings.Contains(text, "each of your e-mail addresses on our do-not-mail list") || !strings.Contains(text, "Sync AB: our automatic notice of the erasure is on its way") ||
		!strings.Contains(text, "Paper CRM AB: we will tell it of the erasure ourselves.") {
		t.Errorf("receipt mail to %v: %s", d.To, text)
	}

	after := footprint(c.ID)
	for _, h := range personal.Holdings() {
		switch {
		case h.Deletes() && after[h.ID] != 0:
			t.Errorf("holding %s keeps %d row(s) of the erased person", h.ID, after[h.ID])
		case !h.Deletes() && !h.ByAddress && after[h.ID] < before[h.ID]:
			t.Errorf("holding %s: %d row(s) before, %d after; the register says they are kept", h.ID, before[h.ID], after[h.ID])
		}
	}
	if after["erasure_ledger"] != 1 {
		t.Errorf("erasure ledger rows for the person: %d; want 1", after["erasure_ledger"])
	}
	if st, _, page := download(t, pending); st != 200 || !strings.Contains(string(page), "cannot be used") {
		t.Errorf("the earlier download link after erasure: %d %.200s", st, page)
	}
	var receipt struct {
		Erased []struct {
			Table string
			Rows  int
		}
		Notifications []struct {
			ProcessorID    string     `json:"processor_id"`
			AcknowledgedAt *time.Time `json:"acknowledged_at"`
		}
		Notified []string `json:"processors_notified"`
		Manual   []string `json:"processors_to_notify_manually"`
	}
	if st := p.do("GET", "/api/v1/requests/"+id+"/receipt", nil, &receipt); st != 200 || len(receipt.Erased) < 8 {
		t.Errorf("receipt: %d %+v", st, receipt)
	}
	// The processor hears of the erasure, acknowledges it, and the receipt shows it.
	hook.waitFor(t, "erased")
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.do("GET", "/api/v1/requests/"+id+"/receipt", nil, &receipt)
		if len(receipt.Notifications) == 1 && receipt.Notifications[0].AcknowledgedAt != nil {
			break
		}
	}
	if len(receipt.Notifications) != 1 || receipt.Notifications[0].ProcessorID != "crm-sync" || receipt.Notifications[0].AcknowledgedAt == nil {
		t.Errorf("receipt notifications %+v; want crm-sync's acknowledgement", receipt.Notifications)
	}
	if !slices.Equal(receipt.Notified, []string{"Sync AB"}) || !slices.Equal(receipt.Manual, []string{"Paper CRM AB"}) {
		t.Errorf("receipt recipients: told automatically %v, to tell by hand %v; want Sync AB and Paper CRM AB", receipt.Notified, receipt.Manual)
	}
	if hook.badSignatures() != 0 {
		t.Errorf("%d webhook requests with a bad signature", hook.badSignatures())
	}
	// The person's requests stay as a record, but their address and details can no longer be
	// read: the erasure request's own key goes once the outbox has recorded the receipt as sent.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var full struct {
			Erased bool `json:"erased"`
		}
		if p.do("GET", "/api/v1/requests/"+id, nil, &full); full.Erased {
			break
		}
	}
	var reqs struct{ Items []requestJSON }
	p.do("GET", "/api/v1/requests?limit=100", nil, &reqs)
	for _, r := range reqs.Items {
		var full struct {
			requestJSON
			Erased bool `json:"erased"`
		}
		p.do("GET", "/api/v1/requests/"+r.ID, nil, &full)
		if full.ContactID == c.ID && (!full.Erased || full.Email != "") {
			t.Errorf("request %s of the erased person: %+v; want erased, no address", r.ID, full)
		}
	}
	db.Close()
	p.stop()
	assertNoPlaintext(t, dir, []string{addr, "old.address@", "Tordis", "Halvorsen", "prefers Tuesdays", "203.0.113.66"})
	rep := importJSON(t, dir, writeFile(t, "back.csv", "Email Address,First Name,OPTIN_TIME\n"+addr+",Tordis,2025-01-01 00:00:00\nold.address@example.org,Tordis,2025-01-01 00:00:00\n"))
	if rep.Suppressed != 2 || rep.Created != 0 {
		t.Errorf("import of the erased addresses %+v; want both suppressed", rep)
	}
}
