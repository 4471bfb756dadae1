package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	tokens "github.com/tillit/tillit/internal/token"
)

// authzRow is one route of the API and the credentials that may call it. The roles are taken from
// the README's Roles paragraph (and its sections on sharing, breaches, campaigns and export) and,
// where the README is silent, from the grants in internal/token; never from what the server
// answers. roles is a space-separated list of admin, dpo, agent, auditor and processor, or
// "public" (no bearer token needed: every credential gets the same answer) or "signature" (the
// caller authenticates with a Tillit-Signature, so no bearer token counts: every credential 401).
type authzRow struct {
	method, path string // as the OpenAPI document writes them
	roles        string
	// url is the request path with fixture names in braces ({alice}); the route's path when "".
	url string
	// body is the request body with fixture names in braces; sent as ctype (JSON when "").
	body, ctype string
}

// authzMatrix lists every route. The fixture names: contacts {alice} (consent given for the
// newsletter, her e-mail disclosed to the processor {crm}), {bob} (a lead, for conversion,
// restriction, objection and legal hold), {dora} (to be erased); {event} is alice's newsletter
// consent, {pending} consent of hers waiting for a second staff member; requests {access} (alice),
// {erasure} (carl, verified) and {restriction} (bob); {campaign}, {breach}, {dpa}, {draft} (a
// breach notice template not yet published), {policy} (the published DPA template),
// {retention}, processor {ended} and {task} (a to-do to tell crm of alice's correction) are there
// to be used.
//
// Rows that change things name fixtures no other row needs, so that every allowed call reaches its
// handler with real data (the first allowed credential does the change; later ones may get 404 or
// 409, which is still past the permission check).
var authzMatrix = []authzRow{
	{method: "GET", path: "/healthz", roles: "public"},
	{method: "GET", path: "/readyz", roles: "public"},
	{method: "GET", path: "/api/openapi.json", roles: "public"},
	{method: "GET", path: "/.well-known/gpc.json", roles: "public"},
	{method: "POST", path: "/webhooks/acknowledgements", roles: "signature", body: `{"event_id":"evt-unknown"}`},

	// Contacts: agent "reads and writes contacts"; erasure and restriction are admin and dpo's.
	{method: "POST", path: "/api/v1/contacts", roles: "admin dpo agent", body: `{"email":"created.by.matrix@example.net"}`},
	{method: "GET", path: "/api/v1/contacts", roles: "admin dpo agent"},
	{method: "POST", path: "/api/v1/contacts/lookup", roles: "admin dpo agent", body: `{"email":"{alice_email}"}`},
	{method: "GET", path: "/api/v1/contacts/{id}", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}"},
	{method: "PATCH", path: "/api/v1/contacts/{id}", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}", body: `{"title":"Buyer"}`},
	{method: "DELETE", path: "/api/v1/contacts/{id}", roles: "admin dpo", url: "/api/v1/contacts/{dora}"},
	{method: "POST", path: "/api/v1/contacts/{id}/convert", roles: "admin dpo agent", url: "/api/v1/contacts/{bob}/convert"},
	{method: "PUT", path: "/api/v1/contacts/{id}/restriction", roles: "admin dpo", url: "/api/v1/contacts/{bob}/restriction"},
	{method: "DELETE", path: "/api/v1/contacts/{id}/restriction", roles: "admin dpo", url: "/api/v1/contacts/{bob}/restriction"},
	{method: "GET", path: "/api/v1/contacts/{id}/legal-hold", roles: "admin dpo agent", url: "/api/v1/contacts/{bob}/legal-hold"},
	{method: "PUT", path: "/api/v1/contacts/{id}/legal-hold", roles: "admin dpo", url: "/api/v1/contacts/{bob}/legal-hold"},
	{method: "DELETE", path: "/api/v1/contacts/{id}/legal-hold", roles: "admin dpo", url: "/api/v1/contacts/{bob}/legal-hold"},
	// The audit events about a contact are the audit log: admin, dpo, auditor; not the agent.
	{method: "GET", path: "/api/v1/contacts/{id}/audit", roles: "admin dpo auditor", url: "/api/v1/contacts/{alice}/audit"},
	// The access bundle holds audit events: admin and dpo only (README, staff export).
	{method: "GET", path: "/api/v1/contacts/{id}/export", roles: "admin dpo", url: "/api/v1/contacts/{alice}/export"},

	// Consent: agent "reads and writes ... consent"; lifting an objection is contacts.restrict.
	{method: "GET", path: "/api/v1/contacts/{id}/consents", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}/consents"},
	{method: "POST", path: "/api/v1/contacts/{id}/consents", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}/consents",
		body: `{"purpose":"newsletter","state":"dpv:ConsentGiven","method":"web-form"}`},
	{method: "GET", path: "/api/v1/contacts/{id}/consents/{event_id}/receipt", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}/consents/{event}/receipt"},
	{method: "POST", path: "/api/v1/contacts/{id}/consents/{event_id}/approve", roles: "admin dpo agent", url: "/api/v1/contacts/{alice}/consents/{pending}/approve"},
	{method: "POST", path: "/api/v1/contacts/{id}/objections", roles: "admin dpo agent", url: "/api/v1/contacts/{bob}/objections", body: `{"scope":"direct_marketing"}`},
	{method: "DELETE", path: "/api/v1/contacts/{id}/objections/{scope}", roles: "admin dpo", url: "/api/v1/contacts/{bob}/objections/direct_marketing"},
	{method: "POST", path: "/api/v1/consent-checks", roles: "admin dpo agent", body: `{"contact_id":"{alice}","purpose":"newsletter"}`},

	// The catalogue: every staff role reads it (the auditor too); admin and dpo change it.
	{method: "GET", path: "/api/v1/purposes", roles: "admin dpo agent auditor"},
	{method: "POST", path: "/api/v1/purposes", roles: "admin dpo", body: `{"id":"matrix-new","name":"Matrix","lawful_basis":"dpv:Contract"}`},
	{method: "GET", path: "/api/v1/purposes/{id}", roles: "admin dpo agent auditor", url: "/api/v1/purposes/newsletter"},
	// The re-permission list names contacts for a consent-request campaign: consent readers.
	{method: "GET", path: "/api/v1/purposes/{id}/repermission", roles: "admin dpo agent", url: "/api/v1/purposes/newsletter/repermission"},
	{method: "GET", path: "/api/v1/policies", roles: "admin dpo agent auditor"},
	{method: "POST", path: "/api/v1/policies", roles: "admin dpo", body: `{"document":"terms_of_service","body":"# Terms\n\nBe kind.","material":false}`},
	{method: "GET", path: "/api/v1/policies/{id}", roles: "admin dpo agent auditor", url: "/api/v1/policies/{policy}"},
	{method: "POST", path: "/api/v1/policies/{id}/publish", roles: "admin dpo", url: "/api/v1/policies/{draft}/publish"},

	{method: "POST", path: "/api/v1/imports", roles: "admin dpo agent", url: "/api/v1/imports?format=generic",
		body: "email,first_name\nimported.by.matrix@example.net,Imported\n", ctype: "text/csv"},
	// The refused rows of an import, as CSV: whoever may import.
	{method: "GET", path: "/api/v1/imports/{id}/errors", roles: "admin dpo agent", url: "/api/v1/imports/{import}/errors"},

	// The audit log: admin, dpo, auditor.
	{method: "GET", path: "/api/v1/audit", roles: "admin dpo auditor"},
	{method: "GET", path: "/api/v1/audit/verify", roles: "admin dpo auditor"},

	// Campaigns: admin and agent create and send; the dpo reads; mail reports go with sending.
	{method: "GET", path: "/api/v1/campaigns", roles: "admin dpo agent"},
	{method: "POST", path: "/api/v1/campaigns", roles: "admin agent", body: `{"purpose":"newsletter","subject":"Matrix news","text":"Hello."}`},
	{method: "GET", path: "/api/v1/campaigns/{id}", roles: "admin dpo agent", url: "/api/v1/campaigns/{campaign}"},
	{method: "POST", path: "/api/v1/campaigns/{id}/send", roles: "admin agent", url: "/api/v1/campaigns/{campaign}/send"},
	// Who a campaign considered: every staff role (README, campaigns); the auditor without reasons.
	{method: "GET", path: "/api/v1/campaigns/{id}/recipients", roles: "admin dpo agent auditor", url: "/api/v1/campaigns/{campaign}/recipients"},
	{method: "POST", path: "/api/v1/mail-reports", roles: "admin agent", body: matrixDSN, ctype: "message/rfc822"},

	// The request queue: admin, dpo, agent; closing an erasure or restriction request needs the
	// erasing or restricting permission, so not the agent.
	{method: "GET", path: "/api/v1/requests", roles: "admin dpo agent"},
	{method: "POST", path: "/api/v1/requests", roles: "admin dpo agent", body: `{"type":"access","channel":"email","email":"requester.matrix@example.net"}`},
	{method: "GET", path: "/api/v1/requests/{id}", roles: "admin dpo agent", url: "/api/v1/requests/{access}"},
	{method: "PATCH", path: "/api/v1/requests/{id}", roles: "admin dpo agent", url: "/api/v1/requests/{access}", body: `{"assignee":"desk"}`},
	{method: "GET", path: "/api/v1/requests/{id}/timeline", roles: "admin dpo agent", url: "/api/v1/requests/{access}/timeline"},
	{method: "POST", path: "/api/v1/requests/{id}/notes", roles: "admin dpo agent", url: "/api/v1/requests/{access}/notes", body: `{"note":"Called back."}`},
	{method: "POST", path: "/api/v1/requests/{id}/verify", roles: "admin dpo agent", url: "/api/v1/requests/{access}/verify", body: `{"contact_id":"{alice}","note":"Signed letter."}`},
	{method: "POST", path: "/api/v1/requests/{id}/extend", roles: "admin dpo agent", url: "/api/v1/requests/{access}/extend", body: `{"months":1,"reason":"Many systems to search."}`},
	{method: "POST", path: "/api/v1/requests/{id}/complete", roles: "admin dpo", url: "/api/v1/requests/{erasure}/complete"},
	{method: "POST", path: "/api/v1/requests/{id}/reject", roles: "admin dpo", url: "/api/v1/requests/{restriction}/reject", body: `{"reason":"No ground for restriction given."}`},
	{method: "GET", path: "/api/v1/requests/{id}/receipt", roles: "admin dpo agent", url: "/api/v1/requests/{erasure}/receipt"},

	// The register: every staff role reads it; admin and dpo change it; agents ask for
	// disclosures; a processor token reads only what was shared with it.
	{method: "GET", path: "/api/v1/processors", roles: "admin dpo agent auditor"},
	{method: "POST", path: "/api/v1/processors", roles: "admin dpo", body: `{"id":"matrix-new","name":"New AB","country":"SE","purposes":["newsletter"]}`},
	{method: "GET", path: "/api/v1/processors/{id}", roles: "admin dpo agent auditor", url: "/api/v1/processors/{crm}"},
	{method: "PATCH", path: "/api/v1/processors/{id}", roles: "admin dpo", url: "/api/v1/processors/{crm}", body: `{"name":"CRM AB"}`},
	{method: "DELETE", path: "/api/v1/processors/{id}", roles: "admin dpo", url: "/api/v1/processors/{ended}"},
	{method: "GET", path: "/api/v1/processors/{id}/deliveries", roles: "admin dpo agent auditor", url: "/api/v1/processors/{crm}/deliveries"},
	// Recipients to tell by hand (GDPR Art. 19): the request queue's readers see the to-dos; the
	// DPO (and admin) record telling a recipient, as they keep the register.
	{method: "GET", path: "/api/v1/notification-tasks", roles: "admin dpo agent"},
	{method: "POST", path: "/api/v1/notification-tasks/{id}/done", roles: "admin dpo", url: "/api/v1/notification-tasks/{task}/done", body: `{"note":"Told CRM AB by phone."}`},
	{method: "POST", path: "/api/v1/disclosures", roles: "admin dpo agent",
		body: `{"contact_id":"{alice}","processor_id":"{crm}","purpose":"newsletter","fields":["email"]}`},
	// README: "admin may do everything", but this route serves the token's own processor, and
	// internal/token grants shared.read to processor tokens only (reported, not a defect).
	{method: "GET", path: "/api/v1/shared/contacts/{id}", roles: "processor", url: "/api/v1/shared/contacts/{alice}"},
	{method: "GET", path: "/api/v1/ropa", roles: "admin dpo agent auditor"},
	{method: "GET", path: "/api/v1/dpa-requests", roles: "admin dpo agent auditor"},
	{method: "POST", path: "/api/v1/dpa-requests", roles: "admin dpo", body: `{"customer":"Kund AB"}`},
	{method: "GET", path: "/api/v1/dpa-requests/{id}", roles: "admin dpo agent auditor", url: "/api/v1/dpa-requests/{dpa}"},
	{method: "PATCH", path: "/api/v1/dpa-requests/{id}", roles: "admin dpo", url: "/api/v1/dpa-requests/{dpa}", body: `{"status":"sent"}`},
	{method: "GET", path: "/api/v1/dpa-requests/{id}/document", roles: "admin dpo agent auditor", url: "/api/v1/dpa-requests/{dpa}/document?format=md"},

	// Breaches: admin and dpo write; the auditor reads.
	{method: "GET", path: "/api/v1/breaches", roles: "admin dpo auditor"},
	{method: "POST", path: "/api/v1/breaches", roles: "admin dpo", body: `{"title":"Laptop lost","detected_at":"{now}"}`},
	{method: "GET", path: "/api/v1/breaches/{id}", roles: "admin dpo auditor", url: "/api/v1/breaches/{breach}"},
	{method: "PATCH", path: "/api/v1/breaches/{id}", roles: "admin dpo", url: "/api/v1/breaches/{breach}", body: `{"measures":"Disk wiped remotely."}`},
	{method: "GET", path: "/api/v1/breaches/{id}/notice", roles: "admin dpo auditor", url: "/api/v1/breaches/{breach}/notice"},

	// Retention: policies are read with the catalogue; setting them and sweeping erases.
	{method: "GET", path: "/api/v1/retention-policies", roles: "admin dpo agent auditor"},
	{method: "POST", path: "/api/v1/retention-policies", roles: "admin dpo", body: `{"id":"matrix-new","kind":"lead","after_days":3650}`},
	{method: "DELETE", path: "/api/v1/retention-policies/{id}", roles: "admin dpo", url: "/api/v1/retention-policies/{retention}"},
	{method: "POST", path: "/api/v1/retention/sweep", roles: "admin dpo", url: "/api/v1/retention/sweep?dry_run=true"},
}

// matrixDSN is a delivery status notification for an address no fixture has.
const matrixDSN = "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n" +
	"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; gone.matrix@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"

// matrixPerson is a seeded contact: the values that must never reach an auditor or a processor
// (but the fields disclosed to that processor).
type matrixPerson struct{ email, first, last, phone, e164 string }

func (m matrixPerson) values() []string { return []string{m.email, m.first, m.last, m.phone, m.e164} }

var matrixPeople = map[string]matrixPerson{
	"alice": {"subject.one@example.org", "Quintessa", "Vandermeulen", "+46 70 111 22 33", "+46701112233"},
	"bob":   {"subject.two@example.org", "Octavian", "Brightwater", "+46 70 444 55 66", "+46704445566"},
	"carl":  {"subject.three@example.org", "Leopoldine", "Ashcombe", "+46 70 777 88 99", "+46707778899"},
	"dora":  {"subject.four@example.org", "Marisol", "Fairweather", "+46 70 222 33 44", "+46702223344"},
}

// TestAuthorizationMatrix calls every route of the OpenAPI document and of server.go with every
// role, a processor token, a revoked token, an unknown token and none, and checks each answer
// against authzMatrix: allowed → past the permission check (not 401, 403, 405, no_route or 5xx);
// denied → 403 role_forbidden; no, revoked or unknown token → 401. Answers to the auditor and the
// processor never hold a seeded personal value (but what was disclosed to that processor, on
// its shared read).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{
		"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_STREET": "Storgatan 1", "TILLIT_CONTROLLER_CITY": "Umeå",
	}))

	// Every route must have a row, and every row a route: checked first and on its own, so that
	// a new route fails loudly whatever else happens.
	checkMatrixCoversRoutes(t, p)

	fx := seedMatrixFixtures(t, p)
	creds := matrixCredentials(t, p, fx)

	var calls int
	for _, row := range authzMatrix {
		allowed := strings.Fields(row.roles)
		for _, c := range creds {
			url, body := fx.expand(row.url), fx.expand(row.body)
			if url == "" {
				url = row.path
			}
			st, answer := matrixCall(t, p, c.secret, row.method, url, body, row.ctype)
			answer = bytes.TrimSpace(answer)
			calls++
			var prob apptest.Problem
			json.Unmarshal(answer, &prob)
			where := row.method + " " + row.path + " as " + c.name
			switch {
			case row.roles == "public":
				if st != 200 {
					t.Errorf("%s: %d %s; want 200 (a public route)", where, st, answer)
				}
			case row.roles == "signature":
				if st != 401 {
					t.Errorf("%s: %d %s; want 401 (authenticated by Tillit-Signature; a bearer token is none)", where, st, answer)
				}
			case c.role == "":
				if want := c.reason; st != 401 || prob.Reason != want {
					t.Errorf("%s: %d %s; want 401 %s", where, st, answer, want)
				}
			case slices.Contains(allowed, c.role):
				if st == 401 || st == 403 || st == 405 || st >= 500 || (st == 404 && prob.Reason == "no_route") {
					t.Errorf("%s: %d %s; the %s role is allowed: want an answer past the permission check", where, st, answer, c.role)
				}
			default:
				if st != 403 || prob.Reason != "role_forbidden" {
					t.Errorf("%s: %d %s; the %s role is not allowed: want 403 role_forbidden", where, st, answer, c.role)
				}
			}
			if c.role == "auditor" || c.role == "processor" {
				checkNoPersonalValue(t, where, answer, row, c.role)
			}
		}
	}
	if want := len(authzMatrix) * len(creds); calls != want || len(creds) != 8 {
		t.Errorf("made %d calls with %d credentials; want %d with 8", calls, len(creds), want)
	}
	t.Logf("authorization matrix: %d routes × %d credentials = %d calls", len(authzMatrix), len(creds), calls)
}

// checkNoPersonalValue fails when an answer to an auditor or processor holds a seeded personal
// value. The processor's shared read of alice is the one answer that holds one: her e-mail
// address, the field disclosed to it, which must be there (the check can see values) and alone.
func checkNoPersonalValue(t *testing.T, where string, answer []byte, row authzRow, role string) {
	t.Helper()
	lower := bytes.ToLower(answer)
	shared := role == "processor" && row.path == "/api/v1/shared/contacts/{id}"
	for name, m := range matrixPeople {
		for _, v := range m.values() {
			if shared && name == "alice" && v == m.email {
				if !bytes.Contains(lower, []byte(v)) {
					t.Errorf("%s: %s; want alice's disclosed e-mail address in it", where, answer)
				}
				continue
			}
			if bytes.Contains(lower, []byte(strings.ToLower(v))) {
				t.Errorf("%s: the answer holds %s's personal value %q: %s", where, name, v, answer)
			}
		}
	}
}

// matrixCredential is one way of calling: a role's token, or a bad or absent one (role "", and
// reason the problem's reason for the 401).
type matrixCredential struct{ name, role, secret, reason string }

// matrixCredentials makes tokens as an operator would with tillit token create (the token CLI
// itself is tested in internal/cli): one per role, one for the processor crm, and an agent
// token that is used once and then revoked. The order puts the refused credentials first, so
// rows that change things are changed by an allowed one.
func matrixCredentials(t *testing.T, p *apptest.Server, fx matrixFixtures) []matrixCredential {
	t.Helper()
	create := func(role tokens.Role, name, processor string) string {
		t.Helper()
		secret := p.Mint(role, name, processor)
		if !strings.HasPrefix(secret, "tlt_") {
			t.Fatalf("token create %s %s: %q", role, name, secret)
		}
		return secret
	}
	revoked := create(tokens.RoleAgent, "matrix-revoked", "")
	if st := p.DoAs(revoked, "GET", "/api/v1/purposes", nil, nil); st != 200 {
		t.Fatalf("the token to revoke, before revocation: %d; want 200", st)
	}
	p.Revoke("matrix-revoked")
	// The deadline only keeps a broken server from hanging the run, it asserts no speed.
	for deadline := time.Now().Add(60 * time.Second); p.DoAs(revoked, "GET", "/api/v1/purposes", nil, nil) != 401; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the revoked token is still accepted")
		}
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	return []matrixCredential{
		{name: "no token", reason: "missing_token"},
		{name: "an unknown token", secret: "tlt_" + base64.RawURLEncoding.EncodeToString(raw), reason: "invalid_token"},
		{name: "a revoked token", secret: revoked, reason: "invalid_token"},
		{name: "processor", role: "processor", secret: create(tokens.RoleProcessor, "matrix-processor", fx["crm"])},
		{name: "auditor", role: "auditor", secret: create(tokens.RoleAuditor, "matrix-auditor", "")},
		{name: "agent", role: "agent", secret: create(tokens.RoleAgent, "matrix-agent", "")},
		{name: "dpo", role: "dpo", secret: create(tokens.RoleDPO, "matrix-dpo", "")},
		{name: "admin", role: "admin", secret: p.Token},
	}
}

// matrixFixtures maps fixture names to ids (and alice_email, now to values).
type matrixFixtures map[string]string

func (fx matrixFixtures) expand(s string) string {
	for k, v := range fx {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// seedMatrixFixtures creates, as admin, everything the rows name.
func seedMatrixFixtures(t *testing.T, p *apptest.Server) matrixFixtures {
	t.Helper()
	fx := matrixFixtures{"alice_email": matrixPeople["alice"].email, "now": time.Now().UTC().Format(time.RFC3339), "crm": "crm", "ended": "old-mailer"}
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		var out map[string]any
		if st := p.Do(method, path, body, &out); st != want {
			t.Fatalf("fixture %s %s: %d %v; want %d", method, path, st, out, want)
		}
		return out
	}
	id := func(m map[string]any) string {
		t.Helper()
		s, _ := m["id"].(string)
		if s == "" {
			t.Fatalf("fixture without an id: %v", m)
		}
		return s
	}
	for _, name := range []string{"alice", "bob", "carl", "dora"} {
		m := matrixPeople[name]
		kind := "contact"
		if name == "bob" {
			kind = "lead"
		}
		fx[name] = id(must(201, "POST", "/api/v1/contacts", map[string]any{"kind": kind, "email": m.email, "first_name": m.first, "last_name": m.last, "phone": m.phone}))
	}
	// The values are stored as seeded (the phone as E.164), so the check below can see them.
	if st, b := matrixCall(t, p, p.Token, "GET", "/api/v1/contacts/"+fx["alice"], "", ""); st != 200 ||
		!bytes.Contains(b, []byte(matrixPeople["alice"].email)) || !bytes.Contains(b, []byte(matrixPeople["alice"].first)) ||
		!bytes.Contains(b, []byte(matrixPeople["alice"].last)) || !bytes.Contains(b, []byte(matrixPeople["alice"].e164)) {
		t.Fatalf("admin reads alice: %d %s; want her e-mail address, names and E.164 phone", st, b)
	}
	if st, b := matrixCall(t, p, p.Token, "POST", "/api/v1/imports?format=generic", "email\nnot-an-address\n", "text/csv"); st != 200 {
		t.Fatalf("fixture import: %d %s", st, b)
	} else {
		var rep map[string]any
		json.Unmarshal(b, &rep)
		fx["import"] = id(rep)
	}
	fx["event"] = id(must(201, "POST", "/api/v1/contacts/"+fx["alice"]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}))
	must(201, "POST", "/api/v1/processors", map[string]any{"id": "crm", "name": "CRM AB", "purposes": []string{"newsletter"}, "data_categories": []string{"email"},
		"country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z"})
	must(201, "POST", "/api/v1/processors", map[string]any{"id": "old-mailer", "name": "Old Mailer AB", "country": "SE", "purposes": []string{"newsletter"}})
	must(201, "POST", "/api/v1/disclosures", map[string]any{"contact_id": fx["alice"], "processor_id": "crm", "purpose": "newsletter", "fields": []string{"email"}})
	// crm has no webhook: a correction of alice is a to-do to tell it by hand, once fanned out.
	must(200, "PATCH", "/api/v1/contacts/"+fx["alice"], map[string]any{"company": "Matrix AB"})
	for deadline := time.Now().Add(60 * time.Second); fx["task"] == ""; time.Sleep(20 * time.Millisecond) {
		var tasks struct{ Items []struct{ ID string } }
		if p.Do("GET", "/api/v1/notification-tasks?state=open", nil, &tasks); len(tasks.Items) > 0 {
			fx["task"] = tasks.Items[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("fixture task: the correction of alice made no to-do for crm")
		}
	}

	// Consent waiting for a second staff member, recorded by a token the matrix does not use.
	must(201, "POST", "/api/v1/purposes", map[string]any{"id": "matrix-approval", "name": "Matrix approval", "lawful_basis": "dpv:Consent", "staff_approval": true})
	recorder := p.Mint(tokens.RoleAgent, "matrix-recorder", "")
	var pending map[string]any
	if st := p.DoAs(recorder, "POST", "/api/v1/contacts/"+fx["alice"]+"/consents",
		map[string]any{"purpose": "matrix-approval", "state": "dpv:ConsentGiven", "method": "staff", "evidence": "Asked at the fair."}, &pending); st != 201 || pending["approval"] != "pending" {
		t.Fatalf("fixture pending consent: %d %v", st, pending)
	}
	fx["pending"] = id(pending)

	fx["policy"] = id(must(201, "POST", "/api/v1/policies", map[string]any{"document": "dpa_template", "body": "# Agreement\n\n{{customer}} and {{controller.name}} agree."}))
	must(200, "POST", "/api/v1/policies/"+fx["policy"]+"/publish", nil)
	fx["draft"] = id(must(201, "POST", "/api/v1/policies", map[string]any{"document": "breach_notice_template", "body": "# {{breach.title}}\n\nWrite to {{dpo}}."}))
	fx["campaign"] = id(must(201, "POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "Spring news", "text": "Hello."}))
	fx["access"] = id(must(201, "POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "email", "email": matrixPeople["alice"].email}))
	fx["erasure"] = id(must(201, "POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "letter", "email": matrixPeople["carl"].email}))
	must(200, "POST", "/api/v1/requests/"+fx["erasure"]+"/verify", map[string]any{"contact_id": fx["carl"], "note": "Signed letter."})
	fx["restriction"] = id(must(201, "POST", "/api/v1/requests", map[string]any{"type": "restriction", "channel": "letter", "email": matrixPeople["bob"].email}))
	fx["breach"] = id(must(201, "POST", "/api/v1/breaches", map[string]any{"title": "Backup stolen", "detected_at": fx["now"]}))
	fx["retention"] = id(must(201, "POST", "/api/v1/retention-policies", map[string]any{"id": "matrix-old", "kind": "lead", "after_days": 3650}))
	fx["dpa"] = id(must(201, "POST", "/api/v1/dpa-requests", map[string]any{"customer": "Kund AB"}))
	return fx
}

// matrixCall sends one request and returns the status and the whole answer.
func matrixCall(t *testing.T, p *apptest.Server, secret, method, path, body, ctype string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// checkMatrixCoversRoutes fails, naming the route, for every route of the served OpenAPI document
// or of internal/api/server.go without a row in authzMatrix, and for every row whose route
// neither has.
func checkMatrixCoversRoutes(t *testing.T, p *apptest.Server) {
	t.Helper()
	routes := map[string]string{} // "METHOD /path" → where it was found
	st, b := matrixCall(t, p, "", "GET", "/api/openapi.json", "", "")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); st != 200 || err != nil || len(doc.Paths) < 10 {
		t.Fatalf("GET /api/openapi.json: %d %v, %d paths", st, err, len(doc.Paths))
	}
	for path, item := range doc.Paths {
		for method := range item {
			switch m := strings.ToUpper(method); m {
			case "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE":
				routes[m+" "+path] = "the OpenAPI document"
			}
		}
	}
	for _, pattern := range serverRoutes(t) {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			continue // a method-less catch-all answers problem+json 404s; it is no route of its own
		}
		path = strings.ReplaceAll(path, "...}", "}")
		if _, ok := routes[method+" "+path]; !ok {
			routes[method+" "+path] = "internal/api/server.go"
		}
	}
	rows := map[string]bool{}
	for _, row := range authzMatrix {
		k := row.method + " " + row.path
		if rows[k] {
			t.Errorf("authorization matrix: two rows for %s", k)
		}
		rows[k] = true
		if _, ok := routes[k]; !ok {
			t.Errorf("authorization matrix: the row %s names a route that neither the OpenAPI document nor internal/api/server.go has: remove or rename it", k)
		}
	}
	var missing []string
	for k, where := range routes {
		if !rows[k] {
			missing = append(missing, k+" (in "+where+")")
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("authorization matrix: the route %s has no row: add one to authzMatrix in internal/api/authz_matrix_test.go with the roles the README allows", k)
	}
}

// serverRoutes parses internal/api/server.go and returns the patterns passed to route(...) and
// to mux.Handle / mux.HandleFunc as string literals (the portal's and console's pages are
// registered from a map and are HTML, not API routes), so that a route added there without a
// matrix row or an OpenAPI document fails (this test and openapi_test.go).
func serverRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "server.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			if fn.Name != "route" {
				return true
			}
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); !ok || x.Name != "mux" || (fn.Sel.Name != "HandleFunc" && fn.Sel.Name != "Handle") {
				return true
			}
		default:
			return true
		}
		if id, ok := call.Args[0].(*ast.Ident); ok && id.Name == "pattern" {
			return true // route's own mux.Handle(pattern, …) and the pages map: their callers count
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("internal/api/server.go: a route pattern that is not a string literal, which the authorization matrix cannot check: %#v", call.Args[0])
			return true
		}
		p, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found only %d routes in internal/api/server.go: %q", len(out), out)
	}
	return out
}
