package api_test

import (
	"testing"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

// TestFineRulesAnswerAsBefore pins the whole problem the API answers for each fine permission
// rule, now checked by the services rather than the handlers: status, code, reason, field, id
// and detail are what the handlers answered before the rules moved (the same test passes on the
// commit before the move).
func TestFineRulesAnswerAsBefore(t *testing.T) {
	h := newHarness(t)
	const appJSON = "application/json"
	want := func(x exchange, code, reason, field, id, detail string) {
		t.Helper()
		p := h.problem(x, code, field)
		if p.Reason != reason || p.ID != id || p.Detail != detail {
			t.Errorf("%s %s: reason %q id %q detail %q; want %q %q %q", x.method, x.path, p.Reason, p.ID, p.Detail, reason, id, detail)
		}
	}
	newContact := func(email string) contact.Contact {
		var c contact.Contact
		h.json(exchange{method: "POST", path: "/api/v1/contacts", token: h.admin, contentType: appJSON, status: 201, body: jsonBody(t, map[string]string{"email": email})}, &c)
		return c
	}
	newRequest := func(typ dsr.Type, c contact.Contact) dsr.View {
		var v dsr.View
		h.json(exchange{method: "POST", path: "/api/v1/requests", token: h.admin, contentType: appJSON, status: 201,
			body: jsonBody(t, map[string]string{"type": string(typ), "channel": "letter", "email": c.Email})}, &v)
		h.json(exchange{method: "POST", path: "/api/v1/requests/" + v.ID + "/verify", token: h.admin, contentType: appJSON, status: 200,
			body: jsonBody(t, map[string]string{"contact_id": c.ID, "note": "Signed letter."})}, &v)
		return v
	}

	// Using an erased address again: contacts.erase.
	gone := newContact("gone.again@example.org")
	h.do(exchange{method: "DELETE", path: "/api/v1/contacts/" + gone.ID, token: h.admin, status: 204})
	recreate := "recreate_erased: the agent role may not use an erased address again (needs contacts.erase)"
	want(exchange{method: "POST", path: "/api/v1/contacts?recreate_erased=true", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"email":"gone.again@example.org"}`)}, "forbidden", "role_forbidden", "recreate_erased", "", recreate)
	other := newContact("other.person@example.org")
	want(exchange{method: "PATCH", path: "/api/v1/contacts/" + other.ID + "?recreate_erased=true", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"email":"gone.again@example.org"}`)}, "forbidden", "role_forbidden", "recreate_erased", "", recreate)
	want(exchange{method: "PATCH", path: "/api/v1/contacts/0190a0b0-0000-7000-8000-000000000000?recreate_erased=true", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"title":"Buyer"}`)}, "forbidden", "role_forbidden", "recreate_erased", "", recreate)

	// Staff's direct erasure: a legal hold, then the person's open requests.
	held := newContact("held.person@example.org")
	h.do(exchange{method: "PUT", path: "/api/v1/contacts/" + held.ID + "/legal-hold", token: h.dpo, status: 204})
	want(exchange{method: "DELETE", path: "/api/v1/contacts/" + held.ID, token: h.dpo, status: 409}, "conflict", "legal_hold", "", "",
		"the contact is under legal hold (its data is needed for legal claims, GDPR Art. 17(3)(e)): lift the hold first (DELETE /api/v1/contacts/{id}/legal-hold), or reject an erasure request citing the exemption")
	asking := newContact("asking.person@example.org")
	access := newRequest(dsr.TypeAccess, asking)
	erasure := newRequest(dsr.TypeErasure, asking)
	want(exchange{method: "DELETE", path: "/api/v1/contacts/" + asking.ID, token: h.dpo, status: 409}, "conflict", "open_erasure_request", "", erasure.ID,
		"the person's erasure request "+erasure.ID+" is open: complete it (POST /api/v1/requests/"+erasure.ID+"/complete), so the person gets the erasure receipt")

	// Closing a request by its type; refused before the state or the input is looked at.
	want(exchange{method: "POST", path: "/api/v1/requests/" + erasure.ID + "/reject", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"reason":"No."}`)}, "forbidden", "role_forbidden", "", "", "the agent role may not complete or reject a erasure request (needs contacts.erase)")
	want(exchange{method: "POST", path: "/api/v1/requests/" + erasure.ID + "/complete", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"scope":"newsletter"}`)}, "forbidden", "role_forbidden", "", "", "the agent role may not complete or reject a erasure request (needs contacts.erase)")
	h.do(exchange{method: "POST", path: "/api/v1/requests/" + erasure.ID + "/reject", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"reason":"Asked by someone else."}`)})
	want(exchange{method: "DELETE", path: "/api/v1/contacts/" + asking.ID, token: h.dpo, status: 409}, "conflict", "open_request", "", access.ID,
		"the person's access request "+access.ID+" is open: answer or reject it first, or it would end unanswered")
	want(exchange{method: "POST", path: "/api/v1/requests/" + erasure.ID + "/reject", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"reason":"No."}`)}, "forbidden", "role_forbidden", "", "", "the agent role may not complete or reject a erasure request (needs contacts.erase)")
	want(exchange{method: "POST", path: "/api/v1/requests/0190a0b0-0000-7000-8000-000000000000/reject", token: h.agent, contentType: appJSON, status: 404,
		body: []byte(`{"reason":"No."}`)}, "not_found", "", "", "", "request not found")
	restriction := newRequest(dsr.TypeRestriction, newContact("restrict.me@example.org"))
	want(exchange{method: "POST", path: "/api/v1/requests/" + restriction.ID + "/complete", token: h.agent, status: 403},
		"forbidden", "role_forbidden", "", "", "the agent role may not complete or reject a restriction request (needs contacts.restrict)")

	// Correcting a restricted contact through a rectification request.
	restricted := newContact("restricted.person@example.org")
	rectification := newRequest(dsr.TypeRectification, restricted)
	h.do(exchange{method: "PUT", path: "/api/v1/contacts/" + restricted.ID + "/restriction", token: h.dpo, status: 200})
	want(exchange{method: "POST", path: "/api/v1/requests/" + rectification.ID + "/complete", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{"changes":{"last_name":"Berg"}}`)}, "forbidden", "role_forbidden", "", "", "the agent role may not correct a restricted contact (GDPR Art. 18; needs contacts.restrict)")
	want(exchange{method: "POST", path: "/api/v1/requests/" + rectification.ID + "/complete", token: h.agent, contentType: appJSON, status: 403,
		body: []byte(`{}`)}, "forbidden", "role_forbidden", "", "", "the agent role may not correct a restricted contact (GDPR Art. 18; needs contacts.restrict)")

	// Binding a request to a contact with another address: contacts.restrict, before the input.
	var letter dsr.View
	h.json(exchange{method: "POST", path: "/api/v1/requests", token: h.agent, contentType: appJSON, status: 201,
		body: []byte(`{"type":"access","channel":"letter","email":"new.address@example.org"}`)}, &letter)
	confirm := "confirm_other_address: the agent role may not bind a request to a contact with another address (needs contacts.restrict)"
	want(exchange{method: "POST", path: "/api/v1/requests/" + letter.ID + "/verify", token: h.agent, contentType: appJSON, status: 403,
		body: jsonBody(t, map[string]any{"contact_id": other.ID, "note": "Trust me.", "confirm_other_address": true})}, "forbidden", "role_forbidden", "confirm_other_address", "", confirm)
	want(exchange{method: "POST", path: "/api/v1/requests/0190a0b0-0000-7000-8000-000000000000/verify", token: h.agent, contentType: appJSON, status: 403,
		body: jsonBody(t, map[string]any{"confirm_other_address": true})}, "forbidden", "role_forbidden", "confirm_other_address", "", confirm)

	// The export holds audit events: audit.read, before the contact is looked up.
	exportDetail := "the agent role may not export a contact (the bundle holds audit events; needs audit.read)"
	want(exchange{method: "GET", path: "/api/v1/contacts/" + other.ID + "/export", token: h.agent, status: 403}, "forbidden", "role_forbidden", "", "", exportDetail)
	want(exchange{method: "GET", path: "/api/v1/contacts/0190a0b0-0000-7000-8000-000000000000/export", token: h.agent, status: 403}, "forbidden", "role_forbidden", "", "", exportDetail)
}
