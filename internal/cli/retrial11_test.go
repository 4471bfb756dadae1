package cli_test

// Re-trial of issue 11's fixes, driven through the built binary and the README only: a choice
// made after a backup must hold after `tillit restore` and the person's later steps.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// r11Env is one installation under test: the binary, its root key and the backup identity.
type r11Env struct {
	t        *testing.T
	dir      string
	bin      string
	rootKey  string
	identity string
	recip    string
}

func r11New(t *testing.T) *r11Env {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tillit")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/tillit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "backup.key")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &r11Env{t: t, dir: dir, bin: bin, rootKey: filepath.Join(dir, "root.key"),
		identity: idFile, recip: id.Recipient().String()}
}

// run runs a command of the binary to its end and returns its stdout.
func (e *r11Env) run(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "TILLIT_ROOT_KEY_FILE="+e.rootKey)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("tillit %v: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// r11Server is a running `tillit serve`.
type r11Server struct {
	e     *r11Env
	data  string
	cmd   *exec.Cmd
	url   string
	token string
}

// serve starts `tillit serve` on a free port of data and waits for its listening line; token
// is the admin token to use (empty: the one the first start prints).
func (e *r11Env) serve(data, token string) *r11Server {
	e.t.Helper()
	cmd := exec.Command(e.bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TILLIT_ROOT_KEY_FILE="+e.rootKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &r11Server{e: e, data: data, cmd: cmd, token: token}
	e.t.Cleanup(s.stop)
	tokRE := regexp.MustCompile(`tlt_[A-Za-z0-9_-]+`)
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if s.token == "" {
			if m := tokRE.FindString(line); m != "" {
				s.token = m
			}
		}
		if m := addrRE.FindStringSubmatch(line); m != nil {
			s.url = "http://" + m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if s.url == "" || s.token == "" {
		e.t.Fatalf("serve %s: no listening line or admin token", data)
	}
	return s
}

func (s *r11Server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	_ = s.cmd.Wait()
}

// call sends a request with the admin token; body is JSON unless ctype says otherwise.
func (s *r11Server) call(method, path, ctype string, body []byte) (int, []byte) {
	s.e.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if ctype == "" {
		ctype = "application/json"
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *r11Server) mustJSON(method, path, body string, want int) map[string]any {
	s.e.t.Helper()
	code, b := s.call(method, path, "", []byte(body))
	if code != want {
		s.e.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// importCSV posts a Mailchimp file for purpose as a text/csv body.
func (s *r11Server) importCSV(purpose, csv string) map[string]any {
	s.e.t.Helper()
	code, b := s.call("POST", "/api/v1/imports?format=mailchimp&purpose="+purpose, "text/csv", []byte(csv))
	if code/100 != 2 {
		s.e.t.Fatalf("import: %d %s", code, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (s *r11Server) gate(email, purpose string) (bool, string) {
	s.e.t.Helper()
	m := s.mustJSON("POST", "/api/v1/consent-checks",
		`{"email":"`+email+`","purpose":"`+purpose+`"}`, 200)
	allowed, _ := m["allowed"].(bool)
	reason, _ := m["reason"].(string)
	return allowed, reason
}

func (s *r11Server) contactID(email string) string {
	s.e.t.Helper()
	code, b := s.call("POST", "/api/v1/contacts/lookup", "", []byte(`{"email":"`+email+`"}`))
	if code != 200 {
		s.e.t.Fatalf("lookup: %d %s", code, b)
	}
	var r struct {
		Items []struct{ ID string } `json:"items"`
	}
	_ = json.Unmarshal(b, &r)
	if len(r.Items) != 1 {
		s.e.t.Fatalf("lookup %s: %s", email, b)
	}
	return r.Items[0].ID
}

// signUpExpectNote posts /p/subscribe for purpose and waits for the mail to email, which must be
// a note holding want (the words the live store mails) and no confirmation link.
func (s *r11Server) signUpExpectNote(email, purpose, want string) {
	s.e.t.Helper()
	code, b := s.call("POST", "/p/subscribe", "", []byte(`{"email":"`+email+`","purposes":["`+purpose+`"]}`))
	if code != 202 {
		s.e.t.Fatalf("subscribe: %d %s", code, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(s.data, "mail", "*.eml"))
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			text := strings.NewReplacer("=\r\n", "", "=\n", "", "\r\n", " ", "\n", " ").Replace(string(raw))
			if !strings.Contains(text, "To: <"+email+">") {
				continue
			}
			if strings.Contains(text, "/p/confirm/") {
				s.e.t.Fatalf("sign-up mailed a confirmation link, want a note saying %q", want)
			}
			if !strings.Contains(text, want) {
				s.e.t.Fatalf("sign-up note without %q:\n%s", want, text)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.e.t.Fatalf("no sign-up mail to %s", email)
}

const r11Header = "Email Address,First Name,Last Name,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED\n"

func r11Row(email string) string {
	return email + ",Ann,Lee,2025-03-01 09:15:00,192.0.2.10,2025-03-01 09:17:42,192.0.2.10,2025-03-01 09:17:42\n"
}

// backupRestore backs s up (before), lets between run on it, exports the ledger, stops s and
// restores the backup with that ledger into a new directory, which it serves.
func (e *r11Env) backupRestore(s *r11Server, between func()) *r11Server {
	e.t.Helper()
	backupFile := filepath.Join(e.dir, "b.backup")
	var sum struct {
		VerifyKey string `json:"verify_key"`
	}
	if err := json.Unmarshal([]byte(e.run("backup", "--data", s.data, "--recipient", e.recip,
		"--with-keys", backupFile)), &sum); err != nil || sum.VerifyKey == "" {
		e.t.Fatalf("backup summary: %v", err)
	}
	between()
	ledger := filepath.Join(e.dir, "ledger.jsonl")
	if err := os.WriteFile(ledger, []byte(e.run("ledger", "export", "--data", s.data)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	s.stop()
	restored := filepath.Join(e.dir, "restored")
	e.run("restore", "--data", restored, "--identity", e.identity, "--verify-key", sum.VerifyKey,
		"--ledger", ledger, backupFile)
	return e.serve(restored, s.token)
}

// A person the backup lacks objected to all direct marketing after it (GDPR Art. 21(3): absolute).
// Live, a newsletter sign-up then gets a note ("You objected") and a direct-marketing purpose on
// legitimate interest answers objected. After the restore the objection is kept as a suppression
// (reason objected) by address, and must behave as the live objection: a newsletter sign-up
// gets the same note and lifts nothing. Found: the opt-in lifted the suppression whole, and the
// gate allowed the LI purpose (basis_legitimate_interest): a campaign on it mailed the person
// who objected.
func TestRetrial11ObjectionOfAPersonTheBackupLacksOutlivesAnOptInToOnePurpose(t *testing.T) {
	e := r11New(t)
	s := e.serve(filepath.Join(e.dir, "data"), "")
	s.mustJSON("POST", "/api/v1/purposes", `{"id":"offers","name":"Offers","description":"Offers to customers",`+
		`"lawful_basis":"dpv:LegitimateInterest","direct_marketing":true}`, 201)
	const who = "objector@example.com"
	s2 := e.backupRestore(s, func() {
		s.importCSV("newsletter", r11Header+r11Row(who))
		s.mustJSON("POST", "/api/v1/contacts/"+s.contactID(who)+"/objections", `{"scope":"direct_marketing"}`, 201)
		if allowed, reason := s.gate(who, "offers"); allowed || reason != "objected" {
			t.Fatalf("live gate for offers: %v %s, want refused objected", allowed, reason)
		}
	})
	if allowed, reason := s2.gate(who, "offers"); allowed {
		t.Fatalf("restored gate for offers before the sign-up: allowed (%s)", reason)
	}
	s2.signUpExpectNote(who, "newsletter", "You objected to")
	if allowed, reason := s2.gate(who, "newsletter"); allowed || reason != "objected" {
		t.Errorf("newsletter after a sign-up: %v %s, want refused objected (as live)", allowed, reason)
	}
	if allowed, reason := s2.gate(who, "offers"); allowed || reason != "objected" {
		t.Errorf("offers (direct marketing, legitimate interest) after a newsletter sign-up: %v %s, want refused objected; "+
			"the person objected to all direct marketing after the backup and never lifted it", allowed, reason)
	}
}

// The same for a restriction (GDPR Art. 18) of a person the backup lacks: kept as a suppression
// (reason restricted) by address, and must behave as the live restriction: a newsletter sign-up
// gets the restriction note and records nothing; a direct-marketing purpose on legitimate
// interest stays refused. Found: the opt-in lifted it, and the gate allowed
// (basis_legitimate_interest).
func TestRetrial11RestrictionOfAPersonTheBackupLacksOutlivesAnOptInToOnePurpose(t *testing.T) {
	e := r11New(t)
	s := e.serve(filepath.Join(e.dir, "data"), "")
	s.mustJSON("POST", "/api/v1/purposes", `{"id":"offers","name":"Offers","description":"Offers to customers",`+
		`"lawful_basis":"dpv:LegitimateInterest","direct_marketing":true}`, 201)
	const who = "restricted@example.com"
	s2 := e.backupRestore(s, func() {
		s.importCSV("newsletter", r11Header+r11Row(who))
		s.mustJSON("PUT", "/api/v1/contacts/"+s.contactID(who)+"/restriction", `{}`, 200)
		if allowed, reason := s.gate(who, "offers"); allowed || reason != "restricted" {
			t.Fatalf("live gate for offers: %v %s, want refused restricted", allowed, reason)
		}
	})
	s2.signUpExpectNote(who, "newsletter", "restricted (GDPR Art. 18)")
	for _, p := range []string{"newsletter", "offers"} {
		if allowed, reason := s2.gate(who, p); allowed || reason != "restricted" {
			t.Errorf("%s after a newsletter sign-up of a person restricted after the backup: %v %s, want refused restricted",
				p, allowed, reason)
		}
	}
}

// The erasure receipt of a person whose data went to no company says so, and must not keep
// anything "so that the companies that received your data learn of the erasure": that claims
// data went to a company (issue 11, receipts say what happened). Found: the kept list names the
// change list with that reason next to "No other company received your data from us".
func TestRetrial11ReceiptWithoutRecipientsClaimsNoneReceivedData(t *testing.T) {
	e := r11New(t)
	s := e.serve(filepath.Join(e.dir, "data"), "")
	const who = "nobody-shared@example.com"
	s.importCSV("newsletter", r11Header+r11Row(who))
	id := s.contactID(who)
	s.mustJSON("POST", "/api/v1/processors", `{"id":"acme","name":"Acme Mailer","role":"processor",`+
		`"purposes":["newsletter"],"data_categories":["email"],"country":"SE","transfer_mechanism":"adequacy",`+
		`"dpa_status":"signed","dpa_signed_at":"2026-01-01T00:00:00Z"}`, 201)
	s.mustJSON("POST", "/api/v1/disclosures", `{"contact_id":"`+id+`","processor_id":"acme",`+
		`"purpose":"newsletter","fields":["phone"]}`, 403)
	req := s.mustJSON("POST", "/api/v1/requests", `{"type":"erasure","channel":"email","email":"`+who+`"}`, 201)
	rid, _ := req["id"].(string)
	s.mustJSON("POST", "/api/v1/requests/"+rid+"/verify", `{"contact_id":"`+id+`","note":"signed letter"}`, 200)
	s.mustJSON("POST", "/api/v1/requests/"+rid+"/complete", `{}`, 200)
	receipt := s.mustJSON("GET", "/api/v1/requests/"+rid+"/receipt", "", 200)
	text, _ := receipt["text"].(string)
	if strings.Contains(text, "Acme") {
		t.Errorf("receipt names the company that was refused the data:\n%s", text)
	}
	if strings.Contains(text, "companies that received your data") {
		t.Errorf("receipt of a person whose data went to no company keeps something for "+
			"\"the companies that received your data\":\n%s", text)
	}
}

// A person created after the backup (by an import) gets a campaign mail after it; the store is
// restored and the same export imported again, which re-creates them with their consent. Their
// one-click link from that mail must still unsubscribe them (issue 11: a link from a mail sent
// after a backup works after a restore). Found: "This link is not valid: nothing was changed",
// and the next campaign mails them.
func TestRetrial11UnsubscribeLinkOfAPersonTheBackupLacksWorksAfterRestoreAndReimport(t *testing.T) {
	e := r11New(t)
	s := e.serve(filepath.Join(e.dir, "data"), "")
	const who = "late@example.com"
	file := r11Header + r11Row(who)
	var link string
	s2 := e.backupRestore(s, func() {
		s.importCSV("newsletter", file)
		c := s.mustJSON("POST", "/api/v1/campaigns", `{"purpose":"newsletter","subject":"Hi","text":"Hello"}`, 201)
		cid, _ := c["id"].(string)
		s.mustJSON("POST", "/api/v1/campaigns/"+cid+"/send", "", 202)
		linkRE := regexp.MustCompile(`List-Unsubscribe:\s*<[^>]*(/u/[A-Za-z0-9_-]+)>`)
		for deadline := time.Now().Add(10 * time.Second); link == "" && time.Now().Before(deadline); {
			files, _ := filepath.Glob(filepath.Join(s.data, "mail", "*.eml"))
			for _, f := range files {
				raw, _ := os.ReadFile(f)
				if m := linkRE.FindSubmatch(raw); m != nil && bytes.Contains(raw, []byte("To: <"+who+">")) {
					link = string(m[1])
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if link == "" {
			t.Fatal("no campaign mail with List-Unsubscribe")
		}
	})
	s2.importCSV("newsletter", file)
	code, b := s2.call("POST", link, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click"))
	if code != 200 || !bytes.Contains(b, []byte("You are unsubscribed")) {
		t.Errorf("one-click link from the mail sent after the backup: %d, page without \"You are unsubscribed\"", code)
	}
	if allowed, reason := s2.gate(who, "newsletter"); allowed {
		t.Errorf("gate after the person used their link: allowed (%s), want withdrawn", reason)
	}
}

// A person the backup lacks asked for erasure after it, and the request was verified (the page
// promised an answer by its due date). After the restore their address is suppressed (reason
// erased), but the request itself is gone from the queue: no one on staff learns that an answer
// is owed (GDPR Art. 12(3)), though the ledger line carries its id, type, state and due date.
// Found: GET /api/v1/requests lists nothing.
func TestRetrial11OpenRequestOfAPersonTheBackupLacksStaysInTheQueue(t *testing.T) {
	e := r11New(t)
	s := e.serve(filepath.Join(e.dir, "data"), "")
	const who = "erase-me@example.com"
	var rid string
	s2 := e.backupRestore(s, func() {
		s.importCSV("newsletter", r11Header+r11Row(who))
		req := s.mustJSON("POST", "/api/v1/requests", `{"type":"erasure","channel":"email","email":"`+who+`"}`, 201)
		rid, _ = req["id"].(string)
		s.mustJSON("POST", "/api/v1/requests/"+rid+"/verify",
			`{"contact_id":"`+s.contactID(who)+`","note":"signed letter"}`, 200)
	})
	if allowed, reason := s2.gate(who, "newsletter"); allowed {
		t.Fatalf("restored gate: allowed (%s)", reason)
	}
	code, b := s2.call("GET", "/api/v1/requests?open=true", "", nil)
	if code != 200 || !bytes.Contains(b, []byte(rid)) {
		t.Fatalf("open verified erasure request %s after the restore: not in the queue (%d %s)", rid, code, b)
	}
	got := s2.mustJSON("GET", "/api/v1/requests/"+rid, "", 200)
	if got["type"] != "erasure" || got["state"] != "in_progress" || got["due_at"] == nil {
		t.Errorf("re-created request: %v, want erasure in_progress with its due date", got)
	}
	if _, tl := s2.call("GET", "/api/v1/requests/"+rid+"/timeline", "", nil); !bytes.Contains(tl, []byte("not in the backup")) {
		t.Errorf("re-created request without the note that the person is not in the backup: %s", tl)
	}
	s2.mustJSON("POST", "/api/v1/requests/"+rid+"/complete", `{}`, 200)
	if allowed, reason := s2.gate(who, "newsletter"); allowed {
		t.Errorf("gate after completing the re-created request: allowed (%s)", reason)
	}
}
