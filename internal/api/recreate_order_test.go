package api_test

import "testing"

// TestRecreateErasedRefusedBeforeTheBody (review of issue 12): before issue 12 POST
// /api/v1/contacts?recreate_erased=true by a role that may not erase was refused (403,
// role_forbidden, field recreate_erased) before the body was read, whatever the body held. The
// rule moved into contact.Service.CreateByStaff, which the handler calls only after decoding
// the body, so the same call with a body the decoder refuses now answers 400 about the body:
// the answer changed (issue 12: "Behaviour, API and CLI stay exactly as they are") and the
// handler reads and parses up to 1 MiB for a caller it will refuse anyway.
func TestRecreateErasedRefusedBeforeTheBody(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{`{"email": 5}`, `{"email":"a@example.org","no_such_field":1}`, `not json`} {
		p := h.problem(exchange{method: "POST", path: "/api/v1/contacts?recreate_erased=true", token: h.agent, contentType: "application/json",
			status: 403, body: []byte(body), badRequest: true}, "forbidden", "recreate_erased")
		if p.Reason != "role_forbidden" {
			t.Errorf("body %s: reason %q; want role_forbidden", body, p.Reason)
		}
	}
}
