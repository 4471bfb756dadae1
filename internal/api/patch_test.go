package api_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

func TestPatchConvertAndConsentUntouched(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"kind": "lead", "email": "lena.holm@example.se", "first_name": "Lena", "phone": "+46 8 123 456 78"}, &c); st != 201 || c.Kind != "lead" || c.Version != 1 {
		t.Fatalf("create: %d %+v", st, c)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	type ledgerJSON struct {
		Current []map[string]any `json:"current"`
		Events  []map[string]any `json:"events"`
	}
	var before, after ledgerJSON
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &before)

	var patched apptest.Contact
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "Helena", "company": "Holm AB"}, &patched); st != 200 || patched.FirstName != "Helena" || patched.Company != "Holm AB" || patched.Version != 2 || patched.Email != "lena.holm@example.se" {
		t.Fatalf("patch: %d %+v", st, patched)
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &after)
	if !reflect.DeepEqual(before, after) || len(after.Events) != 1 {
		t.Errorf("consent changed by a profile edit:\nbefore %v\nafter  %v", before, after)
	}
	// An unchanged patch changes nothing, not even the version.
	var same apptest.Contact
	p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "Helena"}, &same)
	if same.Version != 2 {
		t.Errorf("a no-op patch moved the version to %d", same.Version)
	}
	var afterNoop ledgerJSON
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/consents", nil, &afterNoop)
	if !reflect.DeepEqual(after, afterNoop) {
		t.Errorf("an unchanged patch changed the consent:\nbefore %v\nafter  %v", after, afterNoop)
	}

	var prob apptest.Problem
	for _, tc := range []struct {
		body          map[string]any
		field, reason string
	}{
		{map[string]any{"email": "not an address"}, "email", ""},
		{map[string]any{"favourite_colour": "blue"}, "favourite_colour", "unknown_field"},
		{map[string]any{"first_name": 7}, "first_name", "wrong_type"},
		{map[string]any{"birthday": "31.12.1990"}, "birthday", "invalid_date"},
		{map[string]any{"version": 1, "title": "Boss"}, "version", "stale_version"},
	} {
		st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, tc.body, &prob)
		if (st != 400 && st != 409) || prob.Field != tc.field || (tc.reason != "" && prob.Reason != tc.reason) {
			t.Errorf("patch %v: %d %+v; want field %q reason %q", tc.body, st, prob, tc.field, tc.reason)
		}
		if strings.Contains(prob.Detail, "not an address") {
			t.Errorf("problem detail echoes the input: %q", prob.Detail)
		}
	}
	var still apptest.Contact
	p.Do("GET", "/api/v1/contacts/"+c.ID, nil, &still)
	if still.FirstName != "Helena" || still.Version != 2 {
		t.Errorf("refused patches changed the contact: %+v", still)
	}

	var conv apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/convert", nil, &conv); st != 200 || conv.Kind != "contact" || conv.ID != c.ID {
		t.Errorf("convert: %d %+v", st, conv)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/convert", nil, &prob); st != 409 || prob.Reason != "not_a_lead" {
		t.Errorf("second convert: %d %+v; want 409 not_a_lead", st, prob)
	}

	var audit struct {
		Items []struct {
			Action string   `json:"action"`
			Fields []string `json:"fields"`
		} `json:"items"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/audit?limit=1000", nil, &audit)
	var update []string
	for _, e := range audit.Items {
		if e.Action == "contact.update" {
			update = e.Fields
		}
	}
	if strings.Join(update, ",") != "first_name,company" {
		t.Errorf("contact.update fields = %v; want [first_name company]", update)
	}
	for _, kind := range []string{"lead", "contact"} {
		var l apptest.List
		p.Do("GET", "/api/v1/contacts?kind="+kind, nil, &l)
		if want := map[string]int{"lead": 0, "contact": 1}[kind]; len(l.Items) != want {
			t.Errorf("list kind=%s: %d items; want %d", kind, len(l.Items), want)
		}
	}
	var byPhone apptest.List
	if st := p.Do("GET", "/api/v1/contacts?phone=%2B46812345678", nil, &byPhone); st != 200 || len(byPhone.Items) != 1 || byPhone.Items[0].ID != c.ID {
		t.Errorf("lookup by phone: %d %+v", st, byPhone)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	want := map[string]bool{}
	for _, e := range []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		want[c.ID] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var l apptest.List
		if st := p.Do("GET", "/api/v1/contacts?limit=2&cursor="+cursor, nil, &l); st != 200 {
			t.Fatalf("page %d: %d", pages, st)
		}
		pages++
		for _, c := range l.Items {
			if seen[c.ID] {
				t.Errorf("contact %s on two pages", c.ID)
			}
			seen[c.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if pages != 3 || !reflect.DeepEqual(seen, want) {
		t.Errorf("%d pages, %d contacts; want 3 pages with all 5", pages, len(seen))
	}
	var prob apptest.Problem
	if st := p.Do("GET", "/api/v1/contacts?limit=501", nil, &prob); st != 400 || prob.Field != "limit" {
		t.Errorf("limit=501: %d %+v", st, prob)
	}
}

// TestPatchNullClears: found by a second new-user trial, null in a PATCH was a silent no-op. It
// now clears the field (JSON Merge Patch, RFC 7396).
func TestPatchNullClears(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c struct {
		ID       string            `json:"id"`
		LastName string            `json:"last_name"`
		Tags     []string          `json:"tags"`
		Custom   map[string]string `json:"custom"`
		Address  *struct {
			City string `json:"city"`
		} `json:"address"`
		FirstName string `json:"first_name"`
	}
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "nulls@example.org", "first_name": "Nils", "last_name": "Null", "tags": []string{"a"}, "custom": map[string]string{"k": "v"}, "address": map[string]string{"city": "Lund"}}, &c)
	id := c.ID
	c = struct {
		ID       string            `json:"id"`
		LastName string            `json:"last_name"`
		Tags     []string          `json:"tags"`
		Custom   map[string]string `json:"custom"`
		Address  *struct {
			City string `json:"city"`
		} `json:"address"`
		FirstName string `json:"first_name"`
	}{}
	if st := p.Do("PATCH", "/api/v1/contacts/"+id, map[string]any{"last_name": nil, "tags": nil, "custom": nil, "address": nil}, &c); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if c.LastName != "" || c.Tags != nil || c.Custom != nil || c.Address != nil || c.FirstName != "Nils" {
		t.Errorf("after nulls: %+v; want last name, tags, custom and address cleared, first name kept", c)
	}
	var prob apptest.Problem
	for _, body := range []any{nil, map[string]any{"version": -1}} {
		if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, body, &prob); st != 400 {
			t.Errorf("patch %v: %d %+v; want 400", body, st, prob)
		}
	}
}

// TestPatchAnswerIsAnAuditedRead: found by a second trial. A PATCH answers with every decrypted
// field, but only the update (with the changed field names) was audited.
func TestPatchAnswerIsAnAuditedRead(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "pat@example.org", "first_name": "Pat", "phone": "+46701234567", "notes": "x"}, &c)
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "Patricia"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	var audit struct {
		Items []struct {
			Action string   `json:"action"`
			Fields []string `json:"fields"`
		} `json:"items"`
	}
	p.Do("GET", "/api/v1/contacts/"+c.ID+"/audit", nil, &audit)
	n := len(audit.Items)
	if n < 2 || audit.Items[n-2].Action != "contact.update" || strings.Join(audit.Items[n-2].Fields, ",") != "first_name" ||
		audit.Items[n-1].Action != "contact.read" || strings.Join(audit.Items[n-1].Fields, ",") != "email,first_name,phone,notes" {
		t.Errorf("audit after a PATCH: %+v; want contact.update [first_name] then contact.read of every field the answer holds", audit.Items)
	}
}
