package jsonin

import (
	"strings"
	"testing"
	"time"

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
		// Found by FuzzDecode: a closing bracket after the object was not trailing data.
		{`{"purpose":"a"}]`, "body", "malformed_json"},
		{`{"purpose":"a"} }`, "body", "malformed_json"},
		{"{\"purpose\":\"a\"}\v", "body", "malformed_json"},
		// Found by FuzzDecode: two keys that encoding/json reads as the same U+FFFD.
		{"{\"\x980\":\"\",\"\xb80\":[]}", "body", "invalid_utf8"},
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

type breachIn struct {
	DetectedAt time.Time  `json:"detected_at"`
	NotifiedAt *time.Time `json:"notified_at"`
	People     *int       `json:"people_affected"`
	Months     int        `json:"months"`
	Window     struct {
		From time.Time `json:"from"`
	} `json:"window"`
}

// TestDecodeNamesBadTimesAndFractions: found by fresh-user trials. A date-time that was not RFC
// 3339 ("yesterday", a date alone, no zone) was answered "body: not a JSON object", and 1.5 for a
// whole number "must be a number".
func TestDecodeNamesBadTimesAndFractions(t *testing.T) {
	for _, tc := range []struct{ body, field, reason, msg string }{
		{`{"detected_at":"yesterday"}`, "detected_at", "invalid_time", "RFC 3339"},
		{`{"detected_at":"2026-11-29"}`, "detected_at", "invalid_time", "RFC 3339"},
		{`{"detected_at":"2026-11-29T10:00:00"}`, "detected_at", "invalid_time", "RFC 3339"},
		{`{"detected_at":1764410400}`, "detected_at", "invalid_time", "RFC 3339"},
		{`{"notified_at":"now"}`, "notified_at", "invalid_time", "RFC 3339"},
		{`{"window":{"from":"next week"}}`, "window.from", "invalid_time", "RFC 3339"},
		{`{"people_affected":1.5}`, "people_affected", "wrong_type", "whole number"},
		{`{"months":2e0}`, "months", "wrong_type", "whole number"},
		{`{"months":"2"}`, "months", "wrong_type", "whole number"},
	} {
		var v breachIn
		e := apperr.As(Decode([]byte(tc.body), &v))
		if e == nil || e.Field != tc.field || e.Reason != tc.reason || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("Decode(%s) = %v; want field %s, reason %s, saying %q", tc.body, e, tc.field, tc.reason, tc.msg)
		}
	}
	var v breachIn
	if err := Decode([]byte(`{"detected_at":"2026-11-29T10:00:00+01:00","notified_at":null,"people_affected":3,"months":2}`), &v); err != nil || v.DetectedAt.UTC().Hour() != 9 || v.NotifiedAt != nil || *v.People != 3 {
		t.Errorf("valid body: %+v, %v", v, err)
	}
}

// TestDecodeRefusesNUL: U+0000 in any string of the body is refused naming its field (the
// review of issue 13: PostgreSQL's text cannot hold it, and a purpose's name with it answered
// 500); bytes fields and other control characters are the fields' own business.
func TestDecodeRefusesNUL(t *testing.T) {
	type inner struct {
		Kind string `json:"kind"`
	}
	type body struct {
		Name     string            `json:"name"`
		Audience *inner            `json:"audience"`
		Tags     []string          `json:"tags"`
		Custom   map[string]string `json:"custom"`
	}
	for in, want := range map[string]string{
		`{"name":"a\u0000b"}`:                 "name",
		`{"audience":{"kind":"\u0000"}}`:      "audience.kind",
		`{"tags":["ok","x\u0000"]}`:           "tags",
		`{"custom":{"shoe_size":"4\u00002"}}`: "custom.shoe_size",
	} {
		var v body
		e := apperr.As(Decode([]byte(in), &v))
		if e == nil || e.Field != want || e.Reason != "control_character" {
			t.Errorf("Decode(%s) = %v; want Invalid control_character naming %q", in, e, want)
		}
	}
	var v body
	if err := Decode([]byte(`{"name":"tab\there","tags":["a"]}`), &v); err != nil {
		t.Errorf("Decode without U+0000: %v", err)
	}
}
