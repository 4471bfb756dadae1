package dsr

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/tillit/tillit/internal/contact"
)

var tricky = contact.Contact{
	ID: "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f", Email: "åsa.öberg@exempel.se", FirstName: "Åsa", LastName: "Öberg; Lind",
	Phone: "+46701234567", Company: "Norrsken AB, Umeå", Title: `Chef\IT`, Notes: "Met at the fair.\nCall back in May; " + strings.Repeat("ö", 60),
	Address:  &contact.Address{Street: "Storgatan 1, 2 tr", City: "Umeå", PostalCode: "903 26", Country: "SE"},
	Birthday: "1985-04-12", Tags: []string{"vip", "fair,2026"}, UpdatedAt: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
}

// TestVCardLines: escaping (RFC 6350 §3.4) and folding at 75 octets on UTF-8 boundaries (§3.2).
func TestVCardLines(t *testing.T) {
	b := VCard(tricky)
	for _, want := range []string{"BEGIN:VCARD\r\nVERSION:4.0\r\n", "\r\nN:Öberg\\; Lind;Åsa;;;\r\n", "\r\nORG:Norrsken AB\\, Umeå\r\n",
		"\r\nTITLE:Chef\\\\IT\r\n", "\r\nTEL;VALUE=uri:tel:+46701234567\r\n", "\r\nBDAY:19850412\r\n", "\r\nCATEGORIES:vip,fair\\,2026\r\n",
		"\r\nADR:;;Storgatan 1\\, 2 tr;Umeå;;903 26;SE\r\n", "\r\nREV:20261129T100000Z\r\n", "\r\nEND:VCARD\r\n"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("card lacks %q:\n%s", want, b)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		if len(l) > 75 || !strings.ContainsRune(l, 0xFFFD) && !utf8Valid(l) {
			t.Errorf("line of %d octets or split inside a character: %q", len(l), l)
		}
	}
	if !bytes.Contains(b, []byte("\r\n ")) {
		t.Error("the long NOTE was not folded")
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestVCardParsesBackGoVCard: a real Go vCard parser (emersion/go-vcard) reads the plain values
// back; it mis-splits escaped separators, so those are checked with vobject below.
func TestVCardParsesBackGoVCard(t *testing.T) {
	c := tricky
	c.Notes = strings.ReplaceAll(c.Notes, ";", ".")
	c.LastName, c.Company, c.Tags, c.Address = "Öberg", "Norrsken AB", []string{"vip"}, &contact.Address{Street: "Storgatan 1", City: "Umeå", PostalCode: "903 26", Country: "SE"}
	card, err := vcard.NewDecoder(bytes.NewReader(VCard(c))).Decode()
	if err != nil {
		t.Fatal(err)
	}
	n, adr := card.Name(), card.Address()
	for field, got := range map[string][2]string{
		"UID": {card.Value(vcard.FieldUID), "urn:uuid:" + c.ID}, "FN": {card.Value(vcard.FieldFormattedName), "Åsa Öberg"},
		"N": {n.FamilyName + "|" + n.GivenName, "Öberg|Åsa"}, "EMAIL": {card.Value(vcard.FieldEmail), c.Email},
		"TEL": {card.Value(vcard.FieldTelephone), "tel:+46701234567"}, "ORG": {card.Value(vcard.FieldOrganization), "Norrsken AB"},
		"TITLE": {card.Value(vcard.FieldTitle), c.Title}, "NOTE": {card.Value(vcard.FieldNote), c.Notes}, "BDAY": {card.Value(vcard.FieldBirthday), "19850412"},
		"ADR":        {adr.StreetAddress + "|" + adr.Locality + "|" + adr.PostalCode + "|" + adr.Country, "Storgatan 1|Umeå|903 26|SE"},
		"CATEGORIES": {strings.Join(card.Categories(), "|"), "vip"}, "REV": {card.Value(vcard.FieldRevision), "20261129T100000Z"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q; want %q", field, got[0], got[1])
		}
	}
}

// TestVCardParsesBackVobject: Python's vobject (Debian python3-vobject, installed by .ci/run)
// reads every field back, escaped separators and folded lines included.
func TestVCardParsesBackVobject(t *testing.T) {
	// Debian's own interpreter: python3-vobject installs for it, whatever python3 is first in PATH.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	if err := exec.Command(py, "-c", "import vobject").Run(); err != nil {
		if os.Getenv("TILLIT_REQUIRE_VOBJECT") != "" {
			t.Fatalf("python3-vobject is required (TILLIT_REQUIRE_VOBJECT is set): %v", err)
		}
		t.Skip("python3-vobject not installed (apt-get install python3-vobject); .ci/run requires it")
	}
	const script = `import sys, json, vobject
c = vobject.readOne(sys.stdin.read())
n, a = c.n.value, c.adr.value
print(json.dumps({"fn": c.fn.value, "family": n.family, "given": n.given, "email": c.email.value, "org": c.org.value,
  "title": c.title.value, "note": c.note.value, "street": a.street, "city": a.city, "code": a.code, "country": a.country,
  "categories": c.categories.value, "bday": c.bday.value, "tel": c.tel.value, "uid": c.uid.value}))`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(VCard(tricky))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vobject: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("vobject output %s: %v", out, err)
	}
	org := got["org"]
	if l, ok := org.([]any); ok && len(l) == 1 {
		org = l[0] // vobject reads ORG as its list of units
	}
	want := map[string]any{"fn": "Åsa Öberg; Lind", "family": "Öberg; Lind", "given": "Åsa", "email": tricky.Email, "org": "Norrsken AB, Umeå",
		"title": tricky.Title, "note": tricky.Notes, "street": "Storgatan 1, 2 tr", "city": "Umeå", "code": "903 26", "country": "SE",
		"bday": "19850412", "tel": "tel:+46701234567", "uid": "urn:uuid:" + tricky.ID}
	got["org"] = org
	for k, w := range want {
		if got[k] != w {
			t.Errorf("vobject %s = %#v; want %#v", k, got[k], w)
		}
	}
	if cats, _ := json.Marshal(got["categories"]); string(cats) != `["vip","fair,2026"]` {
		t.Errorf("vobject categories = %s; want [\"vip\",\"fair,2026\"]", cats)
	}
}
