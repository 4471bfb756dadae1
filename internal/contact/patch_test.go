package contact_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
)

// TestParseMergePatchNamesTheFieldWithinItsMember: found by a fresh-user trial. The corrections
// of a rectification ("changes") reported their errors as "titel" or "id", not "changes.titel",
// so the form could not say which part of the body was wrong.
func TestParseMergePatchNamesTheFieldWithinItsMember(t *testing.T) {
	for _, tc := range []struct{ body, member, field, reason, says string }{
		{`{"titel":"x"}`, "changes", "changes.titel", "unknown_field", "changes.titel: unknown field"},
		{`{"Title":"x"}`, "changes", "changes.Title", "unknown_field", "did you mean changes.title?"},
		{`{"first_name":5}`, "changes", "changes.first_name", "wrong_type", "changes.first_name: must be a string"},
		{`{"id":"x"}`, "changes", "changes.id", "unknown_field", "changes.id: unknown field"},
		{`[]`, "changes", "changes", "wrong_type", "changes"},
		{`{"titel":"x"}`, "body", "titel", "unknown_field", "titel: unknown field"},
	} {
		_, err := contact.ParseMergePatch([]byte(tc.body), tc.member)
		e := apperr.As(err)
		if e == nil || e.Field != tc.field || e.Reason != tc.reason || !strings.Contains(e.Message, tc.says) {
			t.Errorf("ParseMergePatch(%s, %s) = %+v; want field %s, reason %s, saying %q", tc.body, tc.member, e, tc.field, tc.reason, tc.says)
		}
	}
	p, err := contact.ParseMergePatch([]byte(`{"title":"CTO","company":null}`), "changes")
	if err != nil || p.Title == nil || *p.Title != "CTO" || p.Company == nil || *p.Company != "" {
		t.Errorf("valid patch: %+v, %v", p, err)
	}
}
