package jsonin

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
)

type audience struct {
	Kind string `json:"kind"`
}

type campaignIn struct {
	Purpose  string    `json:"purpose"`
	Audience *audience `json:"audience"`
	Tags     []string  `json:"tags"`
}

func TestDecodeNamesTheField(t *testing.T) {
	for _, tc := range []struct{ body, field, reason string }{
		{`{"purpose":"a","audience":{"kind":"lead","extra":1}}`, "audience.extra", "unknown_field"},
		{`{"purpose":"a","audience":{"Kind":"lead"}}`, "audience.Kind", "unknown_field"},
		{`{"purpose":"a","purpose":"b"}`, "purpose", "duplicate_key"},
		{`[]`, "body", "wrong_type"},
		{`{"tags":"x"}`, "tags", "wrong_type"},
		{`{"purpose":"a"} {}`, "body", "malformed_json"},
		{`{"bogus":true}`, "bogus", "unknown_field"},
		// A key that is not a plain name is never echoed (it may be an address).
		{`{"secret.person@example.com":"x"}`, "body", "unknown_field"},
		{`{"purpose":"a","audience":{"secret.person@example.com":1}}`, "audience", "unknown_field"},
	} {
		var v campaignIn
		e := apperr.As(Decode([]byte(tc.body), &v))
		if e == nil || e.Field != tc.field || e.Reason != tc.reason || strings.Contains(e.Message, "secret") {
			t.Errorf("Decode(%s) = %v; want field %s, reason %s", tc.body, e, tc.field, tc.reason)
		}
	}
	var v campaignIn
	if err := Decode([]byte(`{"purpose":"a","audience":{"kind":"lead"},"tags":["x"]}`), &v); err != nil || v.Audience.Kind != "lead" || v.Tags[0] != "x" {
		t.Errorf("valid body: %+v, %v", v, err)
	}
}
