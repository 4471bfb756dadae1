package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/ledger"
)

const (
	hash  = "00112233445566778899aabbccddeeff"
	t0    = "2026-03-01T12:00:00Z"
	event = `"contact_id":"c1","event_id":"e1","purpose":"newsletter","method":"one-click-unsubscribe","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"`
)

// TestParseReadsEveryType: one good line of each type, an old erasure line and blank lines.
func TestParseReadsEveryType(t *testing.T) {
	file := strings.Join([]string{
		`{"type":"erasure","contact_id":"c1","erased_at":"` + t0 + `","suppression_hashes":["` + hash + `"]}`,
		`{"contact_id":"c0","erased_at":"` + t0 + `"}`,
		``,
		`{"type":"suppression","hash":"` + hash + `","reason":"bounced","created_at":"` + t0 + `"}`,
		`{"type":"list_unsubscribe","hash":"` + hash + `","purpose":"offers","occurred_at":"2024-05-01T10:00:00Z","recorded_at":"` + t0 + `"}`,
		`{"type":"withdrawal",` + event + `,"actor":"public:unsubscribe","policy_versions":{"privacy_policy":"2"},"notice_hash":"ab","evidence_sealed":"AAEC"}`,
		`{"type":"refusal","contact_id":"c1","event_id":"e2","purpose":"newsletter","method":"api","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`,
		`{"type":"objection","contact_id":"c1","scope":"direct_marketing","method":"gpc","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`,
		`   {"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `"}   `,
		``,
	}, "\n")
	es, err := ledger.Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ  string
		line int
	}{{"erasure", 1}, {"erasure", 2}, {"suppression", 4}, {"list_unsubscribe", 5}, {"withdrawal", 6}, {"refusal", 7}, {"objection", 8}, {"restriction", 9}}
	if len(es) != len(want) {
		t.Fatalf("%d entries; want %d", len(es), len(want))
	}
	for i, w := range want {
		if es[i].Type != w.typ || es[i].Line != w.line {
			t.Errorf("entry %d: %s at line %d; want %s at line %d", i, es[i].Type, es[i].Line, w.typ, w.line)
		}
	}
	if es[1].ContactID != "c0" || es[1].ErasedAt.IsZero() || len(es[1].SuppressionHashes) != 0 {
		t.Errorf("old erasure line read as %+v", es[1])
	}
	if s := es[2]; !s.At().Equal(s.CreatedAt) {
		t.Errorf("suppression line without recorded_at: At %v; want its created_at (files written before recorded_at)", s.At())
	}
	s, err := ledger.Parse(strings.NewReader(`{"type":"suppression","hash":"` + hash + `","reason":"bounced","created_at":"2023-04-05T06:07:08Z","recorded_at":"` + t0 + `"}`))
	if err != nil || len(s) != 1 || s[0].CreatedAt.Year() != 2023 || s[0].At().Format(time.RFC3339) != t0 {
		t.Errorf("suppression line with recorded_at: %+v %v; want At its recorded time, created_at the bounce's", s, err)
	}
	if u := es[3]; u.Hash != hash || u.Purpose != "offers" || u.OccurredAt.Year() != 2024 || u.RecordedAt.Format(time.RFC3339) != t0 || !u.At().Equal(u.RecordedAt) {
		t.Errorf("list_unsubscribe line read as %+v; want its hash, purpose and times, At the recorded time", u)
	}
}

// TestParseRefuses lists every rule a line is checked against, with the field each names. The
// bad line is the second: the error names line 2 and no entry is returned.
func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, line, field string
	}{
		{"no type, other fields", `{"contact_id":"c1","erased_at":"` + t0 + `","suppression_hashes":[]}`, "type"},
		{"no type, no time", `{"contact_id":"c1"}`, "type"},
		{"unknown type", `{"type":"consent","contact_id":"c1"}`, "type"},
		{"field of another type", `{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `","reason":"bounced"}`, "reason"},
		{"unknown field", `{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `","email":"a@example.org"}`, "email"},
		{"required missing", `{"type":"erasure","erased_at":"` + t0 + `"}`, "contact_id"},
		{"required empty", `{"type":"erasure","contact_id":"","erased_at":"` + t0 + `"}`, "contact_id"},
		{"required null", `{"type":"suppression","hash":null,"reason":"bounced","created_at":"` + t0 + `"}`, "hash"},
		{"bad time", `{"type":"erasure","contact_id":"c1","erased_at":"yesterday"}`, "erased_at"},
		{"time before 1990", `{"type":"erasure","contact_id":"c1","erased_at":"1970-01-01T00:00:00Z"}`, "erased_at"},
		// A withdrawal dated 2999 would stay current against every later consent (found by the
		// adversarial review of issue 11).
		{"withdrawal in the future", `{"type":"withdrawal",` + strings.Replace(event, `"occurred_at":"`+t0, `"occurred_at":"2999-01-01T00:00:00Z`, 1) + `}`, "occurred_at"},
		{"suppression in the future", `{"type":"suppression","hash":"` + hash + `","reason":"bounced","created_at":"2999-01-01T00:00:00Z"}`, "created_at"},
		{"contact id with a space", `{"type":"erasure","contact_id":"c 1","erased_at":"` + t0 + `"}`, "contact_id"},
		{"short hash", `{"type":"suppression","hash":"0011","reason":"bounced","created_at":"` + t0 + `"}`, "hash"},
		{"upper-case hash", `{"type":"suppression","hash":"` + strings.ToUpper(hash) + `","reason":"bounced","created_at":"` + t0 + `"}`, "hash"},
		{"an address for a hash", `{"type":"suppression","hash":"a@example.org","reason":"bounced","created_at":"` + t0 + `"}`, "hash"},
		{"bad erasure hash", `{"type":"erasure","contact_id":"c1","erased_at":"` + t0 + `","suppression_hashes":["zz"]}`, "suppression_hashes"},
		{"list unsubscribe without purpose", `{"type":"list_unsubscribe","hash":"` + hash + `","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`, "purpose"},
		{"list unsubscribe without recorded time", `{"type":"list_unsubscribe","hash":"` + hash + `","purpose":"offers","occurred_at":"` + t0 + `"}`, "recorded_at"},
		{"list unsubscribe with a bad purpose", `{"type":"list_unsubscribe","hash":"` + hash + `","purpose":"Offers!","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`, "purpose"},
		{"list unsubscribe with an address for a hash", `{"type":"list_unsubscribe","hash":"a@example.org","purpose":"offers","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`, "hash"},
		{"list unsubscribe before 1990", `{"type":"list_unsubscribe","hash":"` + hash + `","purpose":"offers","occurred_at":"1989-12-31T23:59:59Z","recorded_at":"` + t0 + `"}`, "occurred_at"},
		{"list unsubscribe with a reason", `{"type":"list_unsubscribe","hash":"` + hash + `","purpose":"offers","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `","reason":"unsubscribed"}`, "reason"},
		{"unknown reason", `{"type":"suppression","hash":"` + hash + `","reason":"forgotten","created_at":"` + t0 + `"}`, "reason"},
		{"bad purpose", `{"type":"withdrawal",` + strings.Replace(event, "newsletter", "News Letter", 1) + `}`, "purpose"},
		{"refusal by a method that only withdraws", `{"type":"refusal",` + strings.Replace(event, "one-click-unsubscribe", "suppression", 1) + `}`, "method"},
		{"unknown method", `{"type":"withdrawal",` + strings.Replace(event, "one-click-unsubscribe", "fax", 1) + `}`, "method"},
		{"bad scope", `{"type":"objection","contact_id":"c1","scope":"All Of It","method":"api","occurred_at":"` + t0 + `","recorded_at":"` + t0 + `"}`, "scope"},
		{"bad evidence", `{"type":"withdrawal",` + event + `,"evidence_sealed":"not base64!"}`, "evidence_sealed"},
		{"bad policy versions", `{"type":"withdrawal",` + event + `,"policy_versions":{"Privacy Policy":"1"}}`, "policy_versions"},
		{"control character in actor", `{"type":"withdrawal",` + event + `,"actor":"a\u0001b"}`, "actor"},
		{"duplicate key", `{"type":"restriction","contact_id":"c1","contact_id":"c2","restricted_at":"` + t0 + `"}`, "contact_id"},
		{"wrong type of value", `{"type":"restriction","contact_id":7,"restricted_at":"` + t0 + `"}`, "contact_id"},
		{"malformed", `{"type":"restriction",`, "line"},
		{"not an object", `["restriction"]`, "line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := `{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `"}`
			es, err := ledger.Parse(strings.NewReader(good + "\n" + tc.line + "\n" + good + "\n"))
			var le *ledger.LineError
			if !errors.As(err, &le) || le.Line != 2 || le.Field != tc.field || !strings.HasPrefix(le.Error(), "line 2: "+tc.field+":") {
				t.Errorf("Parse = %v (%+v); want line 2 naming %s", err, le, tc.field)
			}
			if es != nil {
				t.Errorf("Parse returned %d entries with the error; want none", len(es))
			}
		})
	}
}

// TestParseErrorsNameNoValue: a line with an address where a key or value belongs is refused
// without the address in the error (errors never carry personal data).
func TestParseErrorsNameNoValue(t *testing.T) {
	for _, line := range []string{
		`{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `","anna.berg@example.org":1}`,
		`{"type":"suppression","hash":"anna.berg@example.org","reason":"bounced","created_at":"` + t0 + `"}`,
		`{"type":"erasure","contact_id":"anna.berg@example.org","erased_at":"` + t0 + `"}`,
		`{"type":"anna.berg@example.org"}`,
	} {
		_, err := ledger.Parse(strings.NewReader(line))
		if err == nil || strings.Contains(err.Error(), "anna") {
			t.Errorf("Parse(%s) = %v; want an error without the address", line, err)
		}
	}
}

// TestParseRefusesALongLine: a line over MaxLine is named, not read.
func TestParseRefusesALongLine(t *testing.T) {
	long := `{"type":"restriction","contact_id":"` + strings.Repeat("a", ledger.MaxLine) + `"}`
	_, err := ledger.Parse(strings.NewReader("\n" + long + "\n"))
	var le *ledger.LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("Parse = %v; want line 2 too long", err)
	}
}

// TestReadFileHeader: the header names the key and is no entry; it may only be the first line,
// and its id is IndexSize bytes of hex. CheckKey tells the same key, another and none apart.
func TestReadFileHeader(t *testing.T) {
	restriction := `{"type":"restriction","contact_id":"c1","restricted_at":"` + t0 + `"}`
	f, err := ledger.ReadFile(strings.NewReader("\n" + `{"type":"ledger","index_key_id":"` + hash + `"}` + "\n" + restriction + "\n"))
	if err != nil || f.IndexKeyID != hash || len(f.Entries) != 1 || f.Entries[0].Line != 3 {
		t.Fatalf("ReadFile = %+v, %v; want the key id and one entry at line 3", f, err)
	}
	if f.CheckKey(hash) != nil || !errors.Is(f.CheckKey("ffeeddccbbaa99887766554433221100"), ledger.ErrOtherKey) ||
		!errors.Is(ledger.File{}.CheckKey(hash), ledger.ErrUnchecked) {
		t.Errorf("CheckKey: want nil for the same key, ErrOtherKey for another, ErrUnchecked without header")
	}
	for _, tc := range []struct{ file, field string }{
		{restriction + "\n" + `{"type":"ledger","index_key_id":"` + hash + `"}`, "type"},
		{`{"type":"ledger","index_key_id":"` + hash + `"}` + "\n" + `{"type":"ledger","index_key_id":"` + hash + `"}`, "type"},
		{`{"type":"ledger","index_key_id":"secret"}`, "index_key_id"},
		{`{"type":"ledger"}`, "index_key_id"},
	} {
		var le *ledger.LineError
		if _, err := ledger.ReadFile(strings.NewReader(tc.file)); !errors.As(err, &le) || le.Field != tc.field {
			t.Errorf("ReadFile(%q) = %v; want a line error naming %s", tc.file, err, tc.field)
		}
	}
}

// TestParseRequestLines: a verified request's line; closed_at exactly when closed; only the
// ledger's request types and a verified request's states.
func TestParseRequestLines(t *testing.T) {
	base := `{"type":"request","request_id":"r1","request_type":"erasure","contact_id":"c1","channel":"portal","received_at":"` + t0 + `","due_at":"2026-04-01T12:00:00Z",`
	es, err := ledger.Parse(strings.NewReader(base + `"state":"in_progress","verified_at":"` + t0 + `"}` + "\n" + base + `"state":"completed","closed_at":"2026-03-02T12:00:00Z"}`))
	if err != nil || len(es) != 2 || es[0].RequestID != "r1" || es[1].At().Day() != 2 || !es[0].At().Equal(es[0].VerifiedAt) {
		t.Fatalf("Parse = %+v, %v; want two request lines, At the closing or verification", es, err)
	}
	for _, tc := range []struct{ line, field string }{
		{base + `"state":"completed"}`, "closed_at"},
		{base + `"state":"in_progress","closed_at":"` + t0 + `"}`, "closed_at"},
		{base + `"state":"verifying"}`, "state"},
		{strings.Replace(base, "erasure", "access", 1) + `"state":"in_progress"}`, "request_type"},
		{strings.Replace(base, "portal", "fax", 1) + `"state":"in_progress"}`, "channel"},
		{base + `"state":"in_progress","email":"a@b"}`, "email"},
	} {
		var le *ledger.LineError
		if _, err := ledger.Parse(strings.NewReader(tc.line)); !errors.As(err, &le) || le.Field != tc.field {
			t.Errorf("Parse(%s) = %v; want a line error naming %s", tc.line, err, tc.field)
		}
	}
}
