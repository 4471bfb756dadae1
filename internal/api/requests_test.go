package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/share"
	tokens "github.com/tillit/tillit/internal/token"
)

type requestList struct {
	Items      []dsr.View `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// exerciseRequests walks the data subject request queue through every documented operation:
// intake by staff, the queue's filters, verification, extension (refused once the first month
// has passed), completion, rejection, notes and the timeline.
func (h *harness) exerciseRequests() {
	t := h.t
	const appJSON = "application/json"
	base := "/api/v1/requests"
	h.problem(exchange{method: "POST", path: base, token: h.auditor, contentType: appJSON, status: 403,
		body: jsonBody(t, map[string]any{"type": "access", "channel": "letter"})}, "forbidden", "")

	// A letter that arrived on 31 January: due on the last day of February (end-of-month rule).
	var late dsr.View
	h.json(exchange{method: "POST", path: base, token: h.agent, contentType: appJSON, status: 201, body: jsonBody(t, map[string]any{
		"type": "access", "channel": "letter", "email": "Ragnhild.Lie@example.org", "details": "Everything you have, please.",
		"received_at": "2026-01-31T10:00:00Z",
	})}, &late)
	if want := time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC); late.State != dsr.StateReceived || !late.DueAt.Equal(want) || late.Email != "" || !late.Overdue {
		t.Errorf("created request %+v; want received, due %v, overdue, no decrypted email in the answer", late, want)
	}
	h.problem(exchange{method: "POST", path: base, token: h.agent, contentType: appJSON, status: 400, badRequest: true,
		body: jsonBody(t, map[string]any{"type": "forget-me", "channel": "letter"})}, "invalid", "type")
	h.problem(exchange{method: "POST", path: base, token: h.agent, contentType: appJSON, status: 400,
		body: jsonBody(t, map[string]any{"type": "access", "channel": "letter", "received_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)})}, "invalid", "received_at")
	h.problem(exchange{method: "POST", path: base, token: h.agent, contentType: appJSON, status: 400,
		body: jsonBody(t, map[string]any{"type": "access", "channel": "phone", "verify_by_email": true})}, "invalid", "email")
	if p := h.problem(exchange{method: "POST", path: base, token: h.agent, contentType: appJSON, status: 400,
		body: jsonBody(t, map[string]any{"type": "access", "channel": "letter", "received_at": "1700-01-01T00:00:00Z"})}, "invalid", "received_at"); p.Reason != "too_early" {
		t.Errorf("a request from 1700: reason %q", p.Reason)
	}

	var fresh dsr.View
	h.json(exchange{method: "POST", path: base, token: h.dpo, contentType: appJSON, status: 201, body: jsonBody(t, map[string]any{
		"type": "erasure", "channel": "email", "email": "ragnhild.lie@example.org", "verify_by_email": true,
	})}, &fresh)
	if fresh.State != dsr.StateVerifying || fresh.DaysLeft < 27 {
		t.Errorf("request with e-mail verification %+v; want verifying, about a month left", fresh)
	}

	var page requestList
	h.json(exchange{method: "GET", path: base, token: h.agent, status: 200}, &page)
	var ids []string
	for _, v := range page.Items {
		ids = append(ids, v.ID)
		if v.Email != "" || v.Details != "" {
			t.Errorf("the queue decrypts %s: %+v", v.ID, v)
		}
	}
	if !slices.Contains(ids, late.ID) || !slices.Contains(ids, fresh.ID) {
		t.Errorf("queue %v lacks %s or %s", ids, late.ID, fresh.ID)
	}
	h.json(exchange{method: "GET", path: base + "?overdue=true", token: h.agent, status: 200}, &page)
	if len(page.Items) != 1 || page.Items[0].ID != late.ID {
		t.Errorf("overdue list %+v; want only %s", page.Items, late.ID)
	}
	h.json(exchange{method: "GET", path: base + "?due_within_days=40&type=erasure&state=verifying&open=true&limit=10", token: h.agent, status: 200}, &page)
	if len(page.Items) != 1 || page.Items[0].ID != fresh.ID {
		t.Errorf("due-soon erasure list %+v; want only %s", page.Items, fresh.ID)
	}
	h.json(exchange{method: "GET", path: base + "?limit=1", token: h.agent, status: 200}, &page)
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Errorf("first page of one: %+v", page)
	}
	h.json(exchange{method: "GET", path: base + "?limit=1&cursor=" + page.NextCursor, token: h.agent, status: 200}, &page)
	h.json(exchange{method: "GET", path: base + "?open=false", token: h.agent, status: 200}, &page)
	if len(page.Items) != 0 {
		t.Errorf("closed requests before any is closed: %+v", page.Items)
	}
	h.json(exchange{method: "GET", path: base + "?overdue=false", token: h.agent, status: 200}, &page)
	if len(page.Items) != 1 || page.Items[0].ID != fresh.ID {
		t.Errorf("requests not overdue: %+v; want only %s", page.Items, fresh.ID)
	}
	h.problem(exchange{method: "GET", path: base + "?due_within_days=soon", token: h.agent, status: 400, badRequest: true}, "invalid", "due_within_days")
	h.problem(exchange{method: "GET", path: base + "?open=yes", token: h.agent, status: 400, badRequest: true}, "invalid", "open")
	h.problem(exchange{method: "GET", path: base, token: h.auditor, status: 403}, "forbidden", "")

	var got dsr.View
	h.json(exchange{method: "GET", path: base + "/" + late.ID, token: h.dpo, status: 200}, &got)
	if got.Email != "ragnhild.lie@example.org" || got.Details != "Everything you have, please." {
		t.Errorf("read request %+v; want the normalized address and the details", got)
	}
	h.problem(exchange{method: "GET", path: base + "/00000000-0000-7000-8000-000000000000", token: h.dpo, status: 404}, "not_found", "")
	h.json(exchange{method: "PATCH", path: base + "/" + late.ID, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"assignee":"dpo-office"}`)}, &got)
	if got.Assignee != "dpo-office" {
		t.Errorf("assignee %q", got.Assignee)
	}
	h.problem(exchange{method: "PATCH", path: base + "/" + late.ID, token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"state":"completed"}`)}, "invalid", "state")
	h.json(exchange{method: "POST", path: base + "/" + late.ID + "/notes", token: h.agent, contentType: appJSON, status: 201, body: []byte(`{"note":"letter scanned to the DPO share"}`)}, &got)
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/notes", token: h.agent, contentType: appJSON, status: 400, body: []byte(`{"note":"  "}`)}, "invalid", "note")

	var c contact.Contact
	h.json(exchange{method: "POST", path: "/api/v1/contacts", token: h.admin, contentType: appJSON, status: 201, body: []byte(`{"email":"ragnhild.lie@example.org","first_name":"Ragnhild"}`)}, &c)
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/verify", token: h.dpo, contentType: appJSON, status: 400, body: jsonBody(t, map[string]string{"contact_id": c.ID})}, "invalid", "note")
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/verify", token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"send_link":true,"note":"x"}`)}, "invalid", "send_link")
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/verify", token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"contact_id":"nobody","note":"letter"}`)}, "invalid", "contact_id")
	h.json(exchange{method: "POST", path: base + "/" + late.ID + "/verify", token: h.dpo, contentType: appJSON, status: 200,
		body: jsonBody(t, map[string]string{"contact_id": c.ID, "note": "signature matches the contract on file"})}, &got)
	if got.State != dsr.StateInProgress || got.ContactID != c.ID {
		t.Errorf("verified request %+v", got)
	}
	// The first month is over: an extension can no longer be notified in time (Art. 12(3)).
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/extend", token: h.dpo, contentType: appJSON, status: 409, body: []byte(`{"months":2,"reason":"archive"}`)}, "conflict", "")
	h.json(exchange{method: "POST", path: base + "/" + late.ID + "/complete", token: h.dpo, status: 200}, &got)
	if got.State != dsr.StateCompleted || got.CompletedAt == nil || got.Overdue || !got.Late || got.DaysLeft >= 0 {
		t.Errorf("completed request %+v", got)
	}
	h.problem(exchange{method: "POST", path: base + "/" + late.ID + "/complete", token: h.dpo, contentType: appJSON, status: 409, body: []byte(`{"note":"again"}`)}, "conflict", "")

	h.json(exchange{method: "POST", path: base + "/" + fresh.ID + "/verify", token: h.agent, contentType: appJSON, status: 200, body: []byte(`{"send_link":true}`)}, &got)
	if got.State != dsr.StateVerifying {
		t.Errorf("after send_link: %+v", got)
	}
	h.json(exchange{method: "POST", path: base + "/" + fresh.ID + "/verify", token: h.dpo, contentType: appJSON, status: 200,
		body: jsonBody(t, map[string]string{"contact_id": c.ID, "note": "called back"})}, &got)
	h.problem(exchange{method: "POST", path: base + "/" + fresh.ID + "/extend", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"months":3,"reason":"archive"}`)}, "invalid", "months")
	h.problem(exchange{method: "POST", path: base + "/" + fresh.ID + "/extend", token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"months":1,"reason":""}`)}, "invalid", "reason")
	h.json(exchange{method: "POST", path: base + "/" + fresh.ID + "/extend", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"months":1,"reason":"Backups must be searched."}`)}, &got)
	if until, _ := dsr.ExtendedUntil(got.ReceivedAt, 1); got.State != dsr.StateExtended || got.ExtendedUntil == nil || !got.ExtendedUntil.Equal(until) {
		t.Errorf("extended request %+v", got)
	}
	h.problem(exchange{method: "POST", path: base + "/" + fresh.ID + "/reject", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{}`)}, "invalid", "reason")
	h.json(exchange{method: "POST", path: base + "/" + fresh.ID + "/reject", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"reason":"Legal hold: tax records (Art. 17(3)(b))."}`)}, &got)
	if got.State != dsr.StateRejected {
		t.Errorf("rejected request %+v", got)
	}

	// The access bundle for staff, then an erasure request with its receipt.
	bundle := h.do(exchange{method: "GET", path: "/api/v1/contacts/" + c.ID + "/export", token: h.dpo, status: 200})
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil || len(zr.File) < 10 || zr.File[0].Name != "manifest.json" {
		t.Fatalf("export: %v, %d files", err, len(zr.File))
	}
	h.problem(exchange{method: "GET", path: "/api/v1/contacts/" + c.ID + "/export", token: h.auditor, status: 403}, "forbidden", "")
	// The bundle holds audit events, which an agent may not read.
	if p := h.problem(exchange{method: "GET", path: "/api/v1/contacts/" + c.ID + "/export", token: h.agent, status: 403}, "forbidden", ""); p.Reason != "role_forbidden" {
		t.Errorf("agent export: reason %q", p.Reason)
	}
	h.problem(exchange{method: "GET", path: base + "/" + late.ID + "/receipt", token: h.dpo, status: 404}, "not_found", "")
	var erasure dsr.View
	h.json(exchange{method: "POST", path: base, token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"type":"erasure","channel":"phone"}`)}, &erasure)
	h.json(exchange{method: "POST", path: base + "/" + erasure.ID + "/verify", token: h.dpo, contentType: appJSON, status: 200,
		body: jsonBody(t, map[string]string{"contact_id": c.ID, "note": "called back on the number on file"})}, &got)
	h.problem(exchange{method: "POST", path: base + "/" + erasure.ID + "/complete", token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"scope":"newsletter"}`)}, "invalid", "scope")
	// An agent may not erase (DELETE /api/v1/contacts/{id}), so not through a request either.
	if p := h.problem(exchange{method: "POST", path: base + "/" + erasure.ID + "/complete", token: h.agent, status: 403}, "forbidden", ""); p.Reason != "role_forbidden" {
		t.Errorf("agent completing an erasure: reason %q", p.Reason)
	}
	if p := h.problem(exchange{method: "POST", path: base + "/" + erasure.ID + "/reject", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"reason":"we like your data"}`)}, "forbidden", ""); p.Reason != "role_forbidden" {
		t.Errorf("agent rejecting an erasure: reason %q", p.Reason)
	}
	h.json(exchange{method: "POST", path: base + "/" + erasure.ID + "/complete", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"note":"no legal hold"}`)}, &got)
	var receipt dsr.Receipt
	h.json(exchange{method: "GET", path: base + "/" + erasure.ID + "/receipt", token: h.agent, status: 200}, &receipt)
	tables := map[string]int{}
	for _, x := range receipt.Erased {
		tables[x.Table] = x.Rows
	}
	if receipt.ContactID != c.ID || tables["contacts"] != 1 || tables["contact_keys"] != 1 {
		t.Errorf("receipt %+v; want the contact row and its key erased", receipt)
	}
	h.problem(exchange{method: "GET", path: "/api/v1/contacts/" + c.ID + "/export", token: h.dpo, status: 404}, "not_found", "")

	var tl struct {
		Items []dsr.Entry `json:"items"`
	}
	h.json(exchange{method: "GET", path: base + "/" + fresh.ID + "/timeline", token: h.agent, status: 200}, &tl)
	var actions []string
	for _, e := range tl.Items {
		actions = append(actions, e.Action)
	}
	want := []string{"received", "verification_sent", "verification_sent", "verified", "extended", "notice_sent", "rejected", "notice_sent"}
	if !slices.Equal(actions, want) {
		t.Errorf("timeline %v; want %v", actions, want)
	}
}

// exerciseSharing registers a processor and walks a disclosure through refusal and permission.
func (h *harness) exerciseSharing() {
	t := h.t
	const appJSON = "application/json"
	var c contact.Contact
	h.json(exchange{method: "POST", path: "/api/v1/contacts", token: h.admin, contentType: appJSON, status: 201, body: []byte(`{"email":"shared.person@example.org","first_name":"Sigrun"}`)}, &c)
	contactID := c.ID
	var p struct {
		ID               string `json:"id"`
		Country          string `json:"country"`
		HasWebhookSecret bool   `json:"has_webhook_secret"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/processors", token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"id":"mailer-eu","name":"Mailer AB","purposes":["newsletter"],"data_categories":["email","first_name"],"country":"se","webhook_url":"https://hooks.mailer.example/tillit","webhook_secret":"0123456789abcdef-x"}`)}, &p)
	if p.ID != "mailer-eu" || p.Country != "SE" || !p.HasWebhookSecret {
		t.Errorf("created processor %+v", p)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/processors", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"id":"x","name":"x","country":"SE"}`)}, "forbidden", "")
	h.problem(exchange{method: "POST", path: "/api/v1/processors", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"id":"x","name":"x","country":"SE","transfer_mechanism":"trust"}`)}, "invalid", "transfer_mechanism")
	h.problem(exchange{method: "POST", path: "/api/v1/processors", token: h.dpo, contentType: appJSON, status: 409, body: []byte(`{"id":"mailer-eu","name":"x","country":"SE"}`)}, "conflict", "id")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/processors", token: h.auditor, status: 200}, &list)
	if len(list.Items) != 1 {
		t.Errorf("register %+v", list)
	}
	h.json(exchange{method: "GET", path: "/api/v1/processors/mailer-eu", token: h.agent, status: 200}, &p)
	h.problem(exchange{method: "GET", path: "/api/v1/processors/nobody", token: h.agent, status: 404}, "not_found", "")
	ask := []byte(`{"contact_id":"` + contactID + `","processor_id":"mailer-eu","purpose":"newsletter","fields":["email"]}`)
	if pr := h.problem(exchange{method: "POST", path: "/api/v1/disclosures", token: h.agent, contentType: appJSON, status: 403, body: ask}, "forbidden", ""); pr.Reason != "dpa_missing" {
		t.Errorf("disclosure without a DPA: reason %q", pr.Reason)
	}
	h.json(exchange{method: "PATCH", path: "/api/v1/processors/mailer-eu", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"dpa_status":"signed","dpa_signed_at":"2026-01-15T00:00:00Z","dpa_document":"contracts/mailer-dpa-2026.pdf"}`)}, &p)
	var cleared struct {
		WebhookURL       string `json:"webhook_url"`
		HasWebhookSecret bool   `json:"has_webhook_secret"`
		DPADocument      string `json:"dpa_document"`
	}
	h.json(exchange{method: "PATCH", path: "/api/v1/processors/mailer-eu", token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"webhook_url":null,"webhook_secret":null,"dpa_document":null}`)}, &cleared)
	if cleared.WebhookURL != "" || cleared.HasWebhookSecret || cleared.DPADocument != "" {
		t.Errorf("after clearing with null: %+v", cleared)
	}
	h.problem(exchange{method: "PATCH", path: "/api/v1/processors/mailer-eu", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"name":null}`)}, "invalid", "name")
	h.do(exchange{method: "POST", path: "/api/v1/contacts/" + contactID + "/consents", token: h.admin, contentType: appJSON, status: 201, body: []byte(`{"purpose":"newsletter","state":"dpv:ConsentGiven","method":"web-form"}`)})
	var out struct {
		Data map[string]any `json:"data"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/disclosures", token: h.agent, contentType: appJSON, status: 201, body: ask}, &out)
	if out.Data["email"] == nil || out.Data["first_name"] != nil || out.Data["id"] != contactID {
		t.Errorf("disclosed data %v; want id and email only", out.Data)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/disclosures", token: h.agent, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"contact_id":"` + contactID + `","processor_id":"mailer-eu","purpose":"newsletter","fields":[]}`)}, "invalid", "fields")
	// Found by a fresh-user trial: the answer echoed a field asked for twice.
	var twice struct {
		Fields []string `json:"fields"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/disclosures", token: h.agent, contentType: appJSON, status: 201, body: []byte(`{"contact_id":"` + contactID + `","processor_id":"mailer-eu","purpose":"newsletter","fields":["email","email"]}`)}, &twice)
	if len(twice.Fields) != 1 || twice.Fields[0] != "email" {
		t.Errorf("fields asked twice echoed as %v; want [email]", twice.Fields)
	}
	// An ended engagement: kept for the record, receives nothing new.
	h.do(exchange{method: "POST", path: "/api/v1/processors", token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"id":"old-vendor","name":"Old Vendor AB","purposes":["newsletter"],"data_categories":["email"],"country":"SE","dpa_status":"signed","dpa_signed_at":"2026-01-15T00:00:00Z"}`)})
	var ended struct {
		EndedAt *string `json:"ended_at"`
	}
	h.json(exchange{method: "DELETE", path: "/api/v1/processors/old-vendor", token: h.dpo, status: 200}, &ended)
	if ended.EndedAt == nil {
		t.Errorf("ended processor without ended_at")
	}
	if pr := h.problem(exchange{method: "POST", path: "/api/v1/disclosures", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"contact_id":"` + contactID + `","processor_id":"old-vendor","purpose":"newsletter","fields":["email"]}`)}, "forbidden", ""); pr.Reason != "processor_ended" {
		t.Errorf("disclosure to an ended processor: reason %q", pr.Reason)
	}
	h.problem(exchange{method: "DELETE", path: "/api/v1/processors/nobody", token: h.dpo, status: 404}, "not_found", "")
	// A processor-scoped token reads what was shared with its processor, and nothing else.
	_, ptok, err := h.tokens.CreateFor(context.Background(), tokens.RoleProcessor, "mailer integration", "mailer-eu")
	if err != nil {
		t.Fatal(err)
	}
	var shared map[string]any
	h.json(exchange{method: "GET", path: "/api/v1/shared/contacts/" + contactID, token: ptok, status: 200}, &shared)
	if shared["email"] != "shared.person@example.org" || shared["first_name"] != nil {
		t.Errorf("shared read %v; want the e-mail only", shared)
	}
	h.problem(exchange{method: "GET", path: "/api/v1/contacts/" + contactID, token: ptok, status: 403}, "forbidden", "")
	h.problem(exchange{method: "GET", path: "/api/v1/shared/contacts/" + contactID, token: h.agent, status: 403}, "forbidden", "")
	h.do(exchange{method: "POST", path: "/api/v1/contacts/" + contactID + "/consents", token: h.admin, contentType: appJSON, status: 201, body: []byte(`{"purpose":"newsletter","state":"dpv:ConsentWithdrawn","method":"web-form"}`)})
	if pr := h.problem(exchange{method: "GET", path: "/api/v1/shared/contacts/" + contactID, token: ptok, status: 403}, "forbidden", ""); pr.Reason != "withdrawn" {
		t.Errorf("shared read after withdrawal: reason %q", pr.Reason)
	}
	var ropa struct {
		Controller struct{ Name string } `json:"controller"`
		Activities []struct {
			Purpose    string
			Recipients []struct{ ID string } `json:"recipients"`
		} `json:"activities"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/ropa", token: h.auditor, status: 200}, &ropa)
	found := false
	for _, a := range ropa.Activities {
		if a.Purpose == "newsletter" && len(a.Recipients) == 1 && a.Recipients[0].ID == "mailer-eu" {
			found = true
		}
	}
	if ropa.Controller.Name != "Example AB" || !found {
		t.Errorf("ROPA %+v; want the newsletter sent to mailer-eu", ropa)
	}
	if b := h.do(exchange{method: "GET", path: "/api/v1/ropa?format=csv", token: h.dpo, status: 200}); !bytes.HasPrefix(b, []byte("purpose,name,lawful_basis")) {
		t.Errorf("ROPA CSV %.100s", b)
	}
	h.problem(exchange{method: "GET", path: "/api/v1/ropa?format=pdf", token: h.dpo, status: 400, badRequest: true}, "invalid", "format")
	var log struct {
		Items []struct{ Kind string } `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/processors/mailer-eu/deliveries", token: h.auditor, status: 200}, &log)
	h.problem(exchange{method: "GET", path: "/api/v1/processors/nobody/deliveries", token: h.auditor, status: 404}, "not_found", "")
	h.problem(exchange{method: "GET", path: "/api/v1/processors/mailer-eu/deliveries?kind=bogus", token: h.auditor, status: 400, badRequest: true}, "invalid", "kind")
	h.exerciseNotificationTasks(contactID)
	h.problem(exchange{method: "POST", path: "/webhooks/acknowledgements", contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"event_id":"x","extra":1}`)}, "invalid", "extra")
	req, _ := http.NewRequest("POST", h.srv.URL+"/webhooks/acknowledgements", strings.NewReader(`{"event_id":"nope"}`))
	req.Header.Set("Tillit-Signature", "t=1,v1=00")
	h.seen["acknowledgeErasure"] = true
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("acknowledgement with a bad signature: %d, WWW-Authenticate %q; want 401 without a bearer challenge (it is signed, not bearer-authenticated)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// exerciseBreaches records a breach, reads it, updates it and drafts its notice.
func (h *harness) exerciseBreaches() {
	t := h.t
	const appJSON = "application/json"
	var b struct {
		ID        string `json:"id"`
		HoursLeft int    `json:"hours_left"`
		Late      bool   `json:"late"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/breaches", token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"title":"Export left on a shared drive","categories":["email"],"risk":"risk"}`)}, &b)
	if b.HoursLeft != 71 && b.HoursLeft != 72 || b.Late {
		t.Errorf("new breach %+v; want about 72 hours left", b)
	}
	var pb struct {
		People  int `json:"people_affected"`
		Records int `json:"records_affected"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/breaches", token: h.dpo, contentType: appJSON, status: 201,
		body: []byte(`{"title":"Breach at the mailer","actor_id":"processor:mailer-eu","window_from":"2026-01-01T00:00:00Z","risk":"high"}`)}, &pb)
	if pb.People != 1 || pb.Records != 2 {
		t.Errorf("breach at a processor: %+v; want the one person disclosed to it, in two disclosures", pb)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/breaches", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"title":"x"}`)}, "forbidden", "")
	h.problem(exchange{method: "POST", path: "/api/v1/breaches", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"title":"x","risk":"medium"}`)}, "invalid", "risk")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/breaches", token: h.auditor, status: 200}, &list)
	if len(list.Items) != 2 {
		t.Errorf("register %+v", list)
	}
	h.json(exchange{method: "GET", path: "/api/v1/breaches/" + b.ID, token: h.auditor, status: 200}, &b)
	h.problem(exchange{method: "GET", path: "/api/v1/breaches/nope", token: h.auditor, status: 404}, "not_found", "")
	h.json(exchange{method: "PATCH", path: "/api/v1/breaches/" + b.ID, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"inform_people":"not_required","measures":"The drive was locked within the hour."}`)}, &b)
	var nb struct {
		AuthorityNotifiedAt *string `json:"authority_notified_at"`
	}
	h.json(exchange{method: "PATCH", path: "/api/v1/breaches/" + b.ID, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"authority_notified_at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`)}, &nb)
	nb.AuthorityNotifiedAt = nil // the answer omits a cleared field
	h.json(exchange{method: "PATCH", path: "/api/v1/breaches/" + b.ID, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"authority_notified_at":null}`)}, &nb)
	if nb.AuthorityNotifiedAt != nil {
		t.Errorf("a notification cleared with null is still %v", *nb.AuthorityNotifiedAt)
	}
	if n := h.do(exchange{method: "GET", path: "/api/v1/breaches/" + b.ID + "/notice", token: h.dpo, status: 200}); !bytes.Contains(n, []byte("Export left on a shared drive")) || !bytes.Contains(n, []byte("Art. 77")) {
		t.Errorf("notice %s", n)
	}
}

// exerciseRetention adds a policy, holds a contact, sweeps (dry run and real) and removes the
// policy. The harness's contacts are all recent, so nothing is erased.
func (h *harness) exerciseRetention() {
	t := h.t
	const appJSON = "application/json"
	h.do(exchange{method: "POST", path: "/api/v1/retention-policies", token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"id":"leads-30-days","kind":"lead","after_days":30}`)})
	h.problem(exchange{method: "POST", path: "/api/v1/retention-policies", token: h.dpo, contentType: appJSON, status: 409, body: []byte(`{"id":"leads-30-days","kind":"lead","after_days":30}`)}, "conflict", "id")
	h.problem(exchange{method: "POST", path: "/api/v1/retention-policies", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"id":"x","kind":"lead","after_days":30}`)}, "forbidden", "")
	h.problem(exchange{method: "POST", path: "/api/v1/retention-policies", token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"id":"x","kind":"customer","after_days":30}`)}, "invalid", "kind")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/retention-policies", token: h.agent, status: 200}, &list)
	if len(list.Items) != 1 {
		t.Errorf("policies %+v", list)
	}
	var ropa struct {
		Policies []struct{ ID string } `json:"retention_policies"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/ropa", token: h.auditor, status: 200}, &ropa)
	if len(ropa.Policies) != 1 || ropa.Policies[0].ID != "leads-30-days" {
		t.Errorf("ROPA retention policies %+v; want leads-30-days", ropa.Policies)
	}
	var c contact.Contact
	h.json(exchange{method: "POST", path: "/api/v1/contacts", token: h.admin, contentType: appJSON, status: 201, body: []byte(`{"kind":"lead","email":"held.lead@example.org"}`)}, &c)
	h.do(exchange{method: "PUT", path: "/api/v1/contacts/" + c.ID + "/legal-hold", token: h.dpo, status: 204})
	var hold struct {
		LegalHold bool `json:"legal_hold"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/contacts/" + c.ID + "/legal-hold", token: h.agent, status: 200}, &hold)
	if !hold.LegalHold {
		t.Errorf("legal hold not reported after PUT")
	}
	h.problem(exchange{method: "PUT", path: "/api/v1/contacts/00000000-0000-7000-8000-000000000000/legal-hold", token: h.dpo, status: 404}, "not_found", "")
	h.do(exchange{method: "DELETE", path: "/api/v1/contacts/" + c.ID + "/legal-hold", token: h.dpo, status: 204})
	var res struct {
		DryRun bool `json:"dry_run"`
		Erased int  `json:"erased"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/retention/sweep?dry_run=true", token: h.dpo, status: 200}, &res)
	if !res.DryRun || res.Erased != 0 {
		t.Errorf("dry run %+v; want nothing (every contact is recent)", res)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/retention/sweep?dry-run=true", token: h.admin, status: 400}, "invalid", "dry-run")
	h.problem(exchange{method: "POST", path: "/api/v1/retention/sweep", token: h.admin, contentType: appJSON, status: 400, body: []byte(`{"dry_run":true}`)}, "invalid", "body")
	h.json(exchange{method: "POST", path: "/api/v1/retention/sweep", token: h.admin, status: 200}, &res)
	h.do(exchange{method: "DELETE", path: "/api/v1/retention-policies/leads-30-days", token: h.dpo, status: 204})
	h.problem(exchange{method: "DELETE", path: "/api/v1/retention-policies/leads-30-days", token: h.dpo, status: 404}, "not_found", "")
}

// exerciseDPA requests the DPA for a customer, renders it (HTML, PDF, Markdown) with the current
// sub-processors and tracks it to signature.
func (h *harness) exerciseDPA() {
	t := h.t
	const appJSON = "application/json"
	var d struct {
		ID, Status string
		Template   int `json:"template_version"`
	}
	h.json(exchange{method: "POST", path: "/api/v1/dpa-requests", token: h.dpo, contentType: appJSON, status: 201, body: []byte(`{"customer":"Kund AB"}`)}, &d)
	if d.Status != "requested" || d.Template != 1 {
		t.Errorf("DPA request %+v", d)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/dpa-requests", token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"customer":"x"}`)}, "forbidden", "")
	h.problem(exchange{method: "POST", path: "/api/v1/dpa-requests", token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"customer":" "}`)}, "invalid", "customer")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/dpa-requests", token: h.auditor, status: 200}, &list)
	h.json(exchange{method: "GET", path: "/api/v1/dpa-requests/" + d.ID, token: h.auditor, status: 200}, &d)
	h.problem(exchange{method: "GET", path: "/api/v1/dpa-requests/nope", token: h.auditor, status: 404}, "not_found", "")
	html := h.do(exchange{method: "GET", path: "/api/v1/dpa-requests/" + d.ID + "/document", token: h.dpo, status: 200})
	if !bytes.Contains(html, []byte("<table>")) || !bytes.Contains(html, []byte("Mailer AB")) || !bytes.Contains(html, []byte("Example AB")) {
		t.Errorf("DPA HTML %.400s", html)
	}
	if pdf := h.do(exchange{method: "GET", path: "/api/v1/dpa-requests/" + d.ID + "/document?format=pdf", token: h.dpo, status: 200}); !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("DPA PDF %.20q", pdf)
	}
	if md := h.do(exchange{method: "GET", path: "/api/v1/dpa-requests/" + d.ID + "/document?format=md", token: h.dpo, status: 200}); !bytes.Contains(md, []byte("| Mailer AB | processor | SE |")) {
		t.Errorf("DPA Markdown %s", md)
	}
	h.problem(exchange{method: "GET", path: "/api/v1/dpa-requests/" + d.ID + "/document?format=doc", token: h.dpo, status: 400, badRequest: true}, "invalid", "format")
	h.problem(exchange{method: "PATCH", path: "/api/v1/dpa-requests/" + d.ID, token: h.dpo, contentType: appJSON, status: 400, body: []byte(`{"status":"signed","signed_at":"2030-01-01T10:00:00Z"}`)}, "invalid", "signed_at")
	h.json(exchange{method: "PATCH", path: "/api/v1/dpa-requests/" + d.ID, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"status":"signed"}`)}, &d)
	if d.Status != "signed" {
		t.Errorf("after signing %+v", d)
	}
	h.problem(exchange{method: "PATCH", path: "/api/v1/dpa-requests/" + d.ID, token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{"status":"lost"}`)}, "invalid", "status")
}

// exerciseNotificationTasks corrects a contact shared with mailer-eu, which has no webhook left:
// the correction becomes a to-do to tell it by hand (GDPR Art. 19), which the dpo marks done.
func (h *harness) exerciseNotificationTasks(contactID string) {
	t := h.t
	const appJSON = "application/json"
	h.do(exchange{method: "PATCH", path: "/api/v1/contacts/" + contactID, token: h.admin, contentType: appJSON, status: 200, body: []byte(`{"title":"Buyer"}`)})
	if _, err := h.webhooks.Fanout(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []share.NotificationTask `json:"items"`
	}
	h.json(exchange{method: "GET", path: "/api/v1/notification-tasks?state=open&processor_id=mailer-eu", token: h.agent, status: 200}, &list)
	if len(list.Items) != 1 || list.Items[0].Kind != "rectified" || list.Items[0].ContactID != contactID || list.Items[0].ProcessorName != "Mailer AB" || list.Items[0].Cause != "no_webhook" {
		t.Fatalf("open notification tasks %+v; want mailer-eu to be told of the correction", list.Items)
	}
	id := list.Items[0].ID
	h.problem(exchange{method: "GET", path: "/api/v1/notification-tasks?state=later", token: h.agent, status: 400, badRequest: true}, "invalid", "state")
	h.problem(exchange{method: "GET", path: "/api/v1/notification-tasks", token: h.auditor, status: 403}, "forbidden", "")
	done := "/api/v1/notification-tasks/" + id + "/done"
	h.problem(exchange{method: "POST", path: done, token: h.agent, contentType: appJSON, status: 403, body: []byte(`{"note":"told"}`)}, "forbidden", "")
	h.problem(exchange{method: "POST", path: done, token: h.dpo, contentType: appJSON, status: 400, badRequest: true, body: []byte(`{}`)}, "invalid", "note")
	var task share.NotificationTask
	h.json(exchange{method: "POST", path: done, token: h.dpo, contentType: appJSON, status: 200, body: []byte(`{"note":"Mailed privacy@mailer.example the new title, ticket 88."}`)}, &task)
	if task.State != "done" || task.DoneAt == nil || task.DoneBy != "token:"+h.dpoID {
		t.Errorf("task marked done: %+v", task)
	}
	if p := h.problem(exchange{method: "POST", path: done, token: h.dpo, contentType: appJSON, status: 409, body: []byte(`{"note":"again"}`)}, "conflict", ""); p.Reason != "already_done" {
		t.Errorf("done twice: reason %q", p.Reason)
	}
	h.problem(exchange{method: "POST", path: "/api/v1/notification-tasks/" + uuid.Must(uuid.NewV7()).String() + "/done", token: h.dpo, contentType: appJSON, status: 404, body: []byte(`{"note":"x"}`)}, "not_found", "")
	h.json(exchange{method: "GET", path: "/api/v1/notification-tasks?state=done", token: h.dpo, status: 200}, &list)
	if len(list.Items) != 1 || list.Items[0].Note == "" {
		t.Errorf("done tasks %+v", list.Items)
	}
}
