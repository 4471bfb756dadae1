package cli_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

var referenceRE = regexp.MustCompile(`Request reference: ([0-9a-f-]+)`)

// portalRequest files a request on the public form from addr and returns its id and the path of
// the verification link mailed to sink.
func portalRequest(t *testing.T, p *program, sink *smtpSink, typ, addr string) (id, verify string) {
	t.Helper()
	if st, page := postForm(t, p.base, "/p/requests", url.Values{"type": {typ}, "email": {addr}}); st != 200 {
		t.Fatalf("intake of a %s request: %d %.200s", typ, st, page)
	}
	d := sink.next(t)
	_, text := parseMessage(t, d)
	v, err := url.Parse(verifyRE.FindString(text))
	ref := referenceRE.FindStringSubmatch(text)
	if err != nil || v.Path == "" || ref == nil || d.To[0] != addr {
		t.Fatalf("verification mail to %v: %q", d.To, text)
	}
	return ref[1], v.Path
}

// TestRotateBidxRequests: data subject requests filed before tillit keys rotate --bidx (their
// address index made under the old key) hold after it, once every contact is re-indexed under
// the new key: a portal request's link mailed before binds it to the right contact, staff verify
// an older request against its contact without address_mismatch, erasing a person closes their
// older unverified request, and the per-address bound of verification links still counts the
// links mailed before. The rotation re-indexes the requests too (summary and audit).
func TestRotateBidxRequests(t *testing.T) {
	sink := startSMTP(t)
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}
	p := startProgramEnv(t, dir, env)
	people := map[string]contactJSON{}
	for _, name := range []string{"asa", "bo", "cilla", "dag"} {
		var c contactJSON
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": name + "@example.org"}, &c); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
		people[name] = c
	}
	asaReq, asaLink := portalRequest(t, p, sink, "rectification", "asa@example.org")
	cillaReq, _ := portalRequest(t, p, sink, "objection", "cilla@example.org")
	var boReq requestJSON
	if st := p.do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "email": "bo@example.org"}, &boReq); st != 201 {
		t.Fatalf("staff request for bo: %d", st)
	}
	for range 3 { // the hourly bound of links to one address (LinksPerHour, 3)
		portalRequest(t, p, sink, "access", "dag@example.org")
	}

	code, out, stderr := runCLI(t, "keys", "rotate", "--bidx", "--data", dir, "--batch", "2")
	if code != 0 {
		t.Fatalf("keys rotate --bidx: exit %d\n%s", code, stderr)
	}
	var sum keys.BidxSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if got := sum.Tables["requests"]; got.Read != 6 || got.Reindexed != 6 || got.Lost != 0 || sum.Read != 4 || sum.Reindexed != 4 {
		t.Errorf("summary %+v; want the 4 contacts and the 6 requests read and re-indexed", sum)
	}
	if !strings.Contains(stderr, "requests read") {
		t.Errorf("the progress does not speak of the requests:\n%s", stderr)
	}

	if st, page := postForm(t, p.base, asaLink, nil); st != 200 {
		t.Fatalf("verify Åsa's link mailed before the rotation: %d %.300s", st, page)
	}
	var r requestJSON
	if st := p.do("GET", "/api/v1/requests/"+asaReq, nil, &r); st != 200 || r.ContactID != people["asa"].ID || r.State != "in_progress" {
		t.Errorf("Åsa's request after her link: %d %+v; want in_progress, bound to %s", st, r, people["asa"].ID)
	}
	var body map[string]any
	if st := p.do("POST", "/api/v1/requests/"+boReq.ID+"/verify", map[string]any{"contact_id": people["bo"].ID, "note": "Signed letter."}, &body); st != 200 {
		t.Errorf("staff verify of Bo's request made before the rotation: %d %v; want 200 (his address on file is the request's)", st, body)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+people["cilla"].ID, nil, nil); st != 204 {
		t.Fatalf("erase Cilla: %d", st)
	}
	if st := p.do("GET", "/api/v1/requests/"+cillaReq, nil, &r); st != 200 || r.State != "rejected" {
		t.Errorf("Cilla's unverified request after her erasure: %d %+v; want rejected (closed by the erasure)", st, r)
	}
	if st, page := postForm(t, p.base, "/p/requests", url.Values{"type": {"access"}, "email": {"dag@example.org"}}); st != 200 || !strings.Contains(page, "Several links were sent to this address") {
		t.Errorf("a fourth request from Dag's address within the hour: %d; want recorded without a link\n%.600s", st, page)
	}
	p.stop()
	if code, out, stderr := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, stderr)
	}
}

// TestRotateBidxKilledInRequestsResumes kills tillit keys rotate --bidx (SIGKILL, a child
// process) while it re-indexes the requests and runs it again: the second run continues in the
// requests after those done (no contact read again), and a request filed before the rotation is
// then verified by its link against its contact.
func TestRotateBidxKilledInRequestsResumes(t *testing.T) {
	sink := startSMTP(t)
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}
	p := startProgramEnv(t, dir, env)
	var erik contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "erik@example.org"}, &erik); st != 201 {
		t.Fatalf("create: %d", st)
	}
	const n = 40
	for i := range n {
		if st := p.do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "email": fmt.Sprintf("r%d@example.net", i)}, nil); st != 201 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	erikReq, erikLink := portalRequest(t, p, sink, "rectification", "erik@example.org")

	killChildAt(t, withStore(t, []string{"keys", "rotate", "--bidx", "--data", dir, "--batch", "2"}, nil), "requests read (", "keys rotate (mid-re-index of the requests)")

	code, out, errOut := runCLI(t, "keys", "rotate", "--bidx", "--data", dir, "--batch", "2")
	if code != 0 {
		t.Fatalf("the second run: exit %d\n%s", code, errOut)
	}
	var sum keys.BidxSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	got := sum.Tables["requests"]
	if sum.Read != 0 || got.Read == 0 || got.Read >= n+1 || got.Reindexed != got.Read || !strings.Contains(errOut, "resuming the re-index of the requests") {
		t.Errorf("second run %+v\n%s\nwant no contact read again, the rest of the %d requests read and re-indexed", sum, errOut, n+1)
	}
	if st, page := postForm(t, p.base, erikLink, nil); st != 200 {
		t.Fatalf("verify Erik's link mailed before the rotation: %d %.300s", st, page)
	}
	var r requestJSON
	if st := p.do("GET", "/api/v1/requests/"+erikReq, nil, &r); st != 200 || r.ContactID != erik.ID {
		t.Errorf("Erik's request after his link: %d %+v; want bound to %s", st, r, erik.ID)
	}
	p.stop()
}
