package app_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// receiptJSON is an erasure receipt as GET /api/v1/requests/{id}/receipt answers it.
type receiptJSON struct {
	Erased []struct {
		Table, What string
		Rows        int
	}
	Recipients []struct {
		ProcessorID string     `json:"processor_id"`
		Status      string     `json:"status"`
		ToldBy      string     `json:"told_by"`
		ToldAt      *time.Time `json:"told_at"`
		TaskID      string     `json:"task_id"`
	}
	Notified []string `json:"processors_notified"`
	Manual   []string `json:"processors_to_notify_manually"`
	Text     string   `json:"text"`
}

// taskJSON is a notification task as the API answers it.
type taskJSON struct {
	ID            string     `json:"id"`
	ProcessorID   string     `json:"processor_id"`
	ProcessorName string     `json:"processor_name"`
	ContactID     string     `json:"contact_id"`
	Kind          string     `json:"kind"`
	State         string     `json:"state"`
	DoneAt        *time.Time `json:"done_at"`
	Note          string     `json:"note"`
}

// TestErasureReceiptSaysWhatHappened: a person shared with three recipients (a webhook that
// acknowledges erasures, one that takes events but never acknowledges, one without a webhook)
// asks for erasure. The receipt mail names what was erased in plain words and claims no
// recipient told: the webhooks' notices are on their way, the third will be told by hand. The
// receipt read later says who confirmed, who has not, and that the third is a to-do; the DPO
// marks it done in the console with a note (an agent may not), and the receipt then says it was
// told. A restriction of another person becomes a to-do too, marked done through the API. Before,
// the mail said every recipient was told ("we tell them of the erasure") and named tables.
func TestErasureReceiptSaysWhatHappened(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	const addr = "maj.lindgren@example.org"
	var c, other apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Maj", "last_name": "Lindgren", "phone": "+46701112299"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "nils.berg@example.org", "first_name": "Nils"}, &other)
	acking, silent := apptest.HookReceiver(t, "ack-secret-of-some-length", true), apptest.HookReceiver(t, "silent-secret-of-some-length", false)
	for _, pr := range []map[string]any{
		{"id": "ack-crm", "name": "Ack CRM AB", "webhook_url": acking.URL, "webhook_secret": acking.Secret},
		{"id": "silent", "name": "Silent AB", "webhook_url": silent.URL, "webhook_secret": silent.Secret},
		{"id": "paper", "name": "Paper AB"},
	} {
		pr["purposes"], pr["data_categories"], pr["country"], pr["dpa_status"], pr["dpa_signed_at"] = []string{"newsletter"}, []string{"email"}, "SE", "signed", "2026-01-01T00:00:00Z"
		if st := p.Do("POST", "/api/v1/processors", pr, nil); st != 201 {
			t.Fatalf("processor %v: %d", pr["id"], st)
		}
		for _, who := range []string{c.ID, other.ID} {
			p.Do("POST", "/api/v1/contacts/"+who+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
			if st := p.Do("POST", "/api/v1/disclosures", map[string]any{"contact_id": who, "processor_id": pr["id"], "purpose": "newsletter", "fields": []string{"email"}}, nil); st != 201 {
				t.Fatalf("disclosure to %v: %d", pr["id"], st)
			}
		}
	}

	// Erasure through the portal, completed by staff. Ack CRM AB keeps its confirmation until
	// the receipt mail is read: the erasure and the closing that writes the mail are two
	// transactions, and a fast confirmation between them (once in a PostgreSQL run) would make
	// the mail say, truly, that it confirmed.
	releaseAck := acking.HoldAcks()
	if st, _ := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"erasure"}, "email": {addr}}); st != 200 {
		t.Fatal("intake")
	}
	_, text := apptest.ParseMessage(t, sink.Next(t))
	v, _ := url.Parse(apptest.VerifyLink.FindString(text))
	apptest.PostForm(t, p.Base, v.Path, nil)
	var queue struct{ Items []apptest.Request }
	p.Do("GET", "/api/v1/requests?type=erasure&state=in_progress", nil, &queue)
	if len(queue.Items) != 1 {
		t.Fatalf("erasure queue: %+v", queue.Items)
	}
	id := queue.Items[0].ID
	if st := p.Do("POST", "/api/v1/requests/"+id+"/complete", nil, nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	_, text = apptest.ParseMessage(t, sink.Next(t))
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, want := range []string{"  - your name, e-mail address and phone number\n", "  - your consent history\n",
		"  - Ack CRM AB: our automatic notice of the erasure is on its way; it has not confirmed yet that it erased your data.\n",
		"  - Silent AB: our automatic notice of the erasure is on its way; it has not confirmed yet that it erased your data.\n",
		"  - Paper AB: we will tell it of the erasure ourselves.\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the receipt mail lacks %q:\n%s", want, text)
		}
	}
	for _, claim := range []string{"we tell them", "We told", "confirmed on", "contacts:", "consent_events", "suppressions", "record(s)"} {
		if strings.Contains(text, claim) {
			t.Errorf("the receipt mail says %q:\n%s", claim, text)
		}
	}

	// Later: Ack CRM AB confirms; Silent AB took the event but never confirms; Paper AB is a to-do.
	releaseAck()
	acking.WaitFor(t, "erased")
	silent.WaitFor(t, "erased")
	var rc receiptJSON
	status := func() map[string]string {
		out := map[string]string{}
		for _, r := range rc.Recipients {
			out[r.ProcessorID] = r.Status + "/" + r.ToldBy
		}
		return out
	}
	var tasks struct{ Items []taskJSON }
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/requests/"+id+"/receipt", nil, &rc)
		p.Do("GET", "/api/v1/notification-tasks?state=open&contact_id="+c.ID, nil, &tasks)
		if status()["ack-crm"] == "told/webhook" && len(tasks.Items) > 0 {
			break
		}
	}
	today := time.Now().UTC().Format("2 January 2006")
	if got := status(); got["ack-crm"] != "told/webhook" || got["silent"] != "notifying/" || got["paper"] != "to_tell/" {
		t.Errorf("recipients %v; want ack-crm told by its webhook, silent notifying, paper to tell", got)
	}
	if !slices.Equal(rc.Notified, []string{"Ack CRM AB"}) || !slices.Equal(rc.Manual, []string{"Paper AB"}) {
		t.Errorf("told %q, to tell by hand %q; want Ack CRM AB and Paper AB", rc.Notified, rc.Manual)
	}
	for _, want := range []string{"  - Ack CRM AB confirmed on " + today + " that it erased your data.\n", "  - Silent AB: our automatic notice",
		"  - Paper AB: we will tell it of the erasure ourselves.\n", "  - your name, e-mail address and phone number\n"} {
		if !strings.Contains(rc.Text, want) {
			t.Errorf("the receipt now lacks %q:\n%s", want, rc.Text)
		}
	}
	if len(tasks.Items) != 1 || tasks.Items[0].ProcessorID != "paper" || tasks.Items[0].Kind != "erased" || tasks.Items[0].ProcessorName != "Paper AB" {
		t.Fatalf("open tasks about the person %+v; want one: tell Paper AB of the erasure", tasks.Items)
	}
	task := tasks.Items[0]

	// The console: the agent sees the queue but may not mark it; the DPO marks it told.
	agent := p.Mint("agent", "receipt agent", "")
	dpo := p.Mint("dpo", "receipt dpo", "")
	ab, db := apptest.NewBrowser(t, p.Base), apptest.NewBrowser(t, p.Base)
	ab.Post("/console/login", url.Values{"token": {strings.TrimSpace(agent)}})
	db.Post("/console/login", url.Values{"token": {strings.TrimSpace(dpo)}})
	if st, page, _ := ab.Get("/console/notifications"); st != 200 || !strings.Contains(page, "Paper AB") || strings.Contains(page, "Mark told") {
		t.Errorf("agent's queue: %d; want Paper AB without the form\n%s", st, page)
	}
	if st, _, _ := ab.Post("/console/notifications/"+task.ID+"/done", url.Values{"note": {"told"}}); st != 403 {
		t.Errorf("agent marks told: %d; want 403", st)
	}
	st, page, _ := db.Get("/console/notifications")
	if st != 200 || !strings.Contains(page, "Paper AB (paper)") || !strings.Contains(page, "erasure (Art. 17)") || !strings.Contains(page, c.ID) ||
		!strings.Contains(page, "no webhook") || !strings.Contains(page, `action="/console/notifications/`+task.ID+`/done"`) {
		t.Fatalf("DPO's queue: %d\n%s", st, page)
	}
	if st, page, _ := db.Post("/console/notifications/"+task.ID+"/done", url.Values{"note": {" "}}); st != 400 || !strings.Contains(page, "note:") {
		t.Errorf("marked told without a note: %d; want 400 naming the note", st)
	}
	if st, _, h := db.Post("/console/notifications/"+task.ID+"/done", url.Values{"note": {"Phoned Paper AB's privacy desk, case 5521."}}); st != 303 || h.Get("Location") != "/console/notifications" {
		t.Errorf("marked told: %d %q", st, h.Get("Location"))
	}
	if _, page, _ := db.Get("/console/notifications"); strings.Contains(page, task.ID) {
		t.Errorf("the task is still in the open queue")
	}
	if _, page, _ := db.Get("/console/notifications?view=done"); !strings.Contains(page, "case 5521") || !strings.Contains(page, "token:") {
		t.Errorf("told list: %s", page)
	}
	if st, page, _ := db.Post("/console/notifications/"+task.ID+"/done", url.Values{"note": {"again"}}); st != 409 || !strings.Contains(page, "already") {
		t.Errorf("marked told twice: %d", st)
	}
	p.Do("GET", "/api/v1/requests/"+id+"/receipt", nil, &rc)
	if got := status(); got["paper"] != "told/staff" || !strings.Contains(rc.Text, "  - We told Paper AB of the erasure on "+today+".\n") ||
		!slices.Equal(rc.Notified, []string{"Ack CRM AB", "Paper AB"}) || len(rc.Manual) != 0 {
		t.Errorf("after the DPO told Paper AB: %v, told %q, to tell %q\n%s", got, rc.Notified, rc.Manual, rc.Text)
	}
	if _, page, _ := db.Get("/console/requests/" + id); !strings.Contains(page, "Erasure receipt") || !strings.Contains(page, "We told Paper AB of the erasure on "+today+".") {
		t.Errorf("the request's page lacks the receipt as it reads now:\n%s", page)
	}
	var log struct {
		Items []struct {
			Action   string `json:"action"`
			ObjectID string `json:"object_id"`
		}
	}
	p.Do("GET", "/api/v1/audit?object_kind=notification_task&object_id="+task.ID, nil, &log)
	if len(log.Items) != 1 || log.Items[0].Action != "notification_task.done" || log.Items[0].ObjectID != task.ID {
		t.Errorf("audit events about the task: %+v; want notification_task.done", log.Items)
	}

	// A restriction of Nils reaches the webhooks, and Paper AB as a to-do: marked done by the API.
	if st := p.Do("PUT", "/api/v1/contacts/"+other.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	tasks.Items = nil
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && len(tasks.Items) == 0; time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/notification-tasks?state=open&processor_id=paper&contact_id="+other.ID, nil, &tasks)
	}
	if len(tasks.Items) != 1 || tasks.Items[0].Kind != "restricted" {
		t.Fatalf("open tasks about Nils: %+v; want tell Paper AB of the restriction", tasks.Items)
	}
	done := "/api/v1/notification-tasks/" + tasks.Items[0].ID + "/done"
	var prob apptest.Problem
	if st := p.DoAs(strings.TrimSpace(agent), "POST", done, map[string]any{"note": "told"}, &prob); st != 403 || prob.Reason != "role_forbidden" {
		t.Errorf("agent marks done by the API: %d %+v", st, prob)
	}
	if st := p.DoAs(strings.TrimSpace(dpo), "POST", done, map[string]any{"note": ""}, &prob); st != 400 || prob.Field != "note" {
		t.Errorf("done without a note: %d %+v", st, prob)
	}
	var got taskJSON
	if st := p.DoAs(strings.TrimSpace(dpo), "POST", done, map[string]any{"note": "Mailed privacy@paper.example, 3 Dec."}, &got); st != 200 || got.State != "done" || got.DoneAt == nil || got.Note != "Mailed privacy@paper.example, 3 Dec." {
		t.Errorf("done: %d %+v", st, got)
	}
	if st := p.DoAs(strings.TrimSpace(dpo), "POST", done, map[string]any{"note": "again"}, &prob); st != 409 || prob.Reason != "already_done" {
		t.Errorf("done twice: %d %+v", st, prob)
	}
	p.Do("GET", "/api/v1/notification-tasks?state=done", nil, &tasks)
	if len(tasks.Items) != 2 {
		t.Errorf("done tasks: %+v; want the erasure and the restriction", tasks.Items)
	}
}
