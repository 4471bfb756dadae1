package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
)

// delivery returns a queued delivery created and due at at.
func delivery(id, processorID, contactID, kind string, at time.Time) share.Delivery {
	return share.Delivery{ID: id, ProcessorID: processorID, ContactID: contactID, Kind: kind, Status: share.DeliveryQueued,
		NextAttemptAt: at, CreatedAt: at, Payload: []byte(`{"id":"` + id + `","kind":"` + kind + `"}`)}
}

// checkDelivery compares a stored delivery with want: every stored field, times as instants.
// LastError is derived when read (share), not stored.
func checkDelivery(t *testing.T, got, want share.Delivery) {
	t.Helper()
	checkTime(t, "delivery "+want.ID+" NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	checkTime(t, "delivery "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	for _, p := range []struct {
		name      string
		got, want *time.Time
	}{{"DeliveredAt", got.DeliveredAt, want.DeliveredAt}, {"AcknowledgedAt", got.AcknowledgedAt, want.AcknowledgedAt}} {
		if (p.got == nil) != (p.want == nil) {
			t.Errorf("delivery %s %s = %v; want %v", want.ID, p.name, p.got, p.want)
		} else if p.got != nil {
			checkTime(t, "delivery "+want.ID+" "+p.name, *p.got, *p.want)
		}
	}
	got.NextAttemptAt, got.CreatedAt, got.DeliveredAt, got.AcknowledgedAt = want.NextAttemptAt, want.CreatedAt, want.DeliveredAt, want.AcknowledgedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delivery = %+v; want %+v", got, want)
	}
}

func deliveryIDs(ds []share.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// webhookFixture stores two contacts, three processors and the deliveries given.
func webhookFixture(t *testing.T, s *suite, ds ...share.Delivery) {
	t.Helper()
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("wc-1", contact.KindContact, nil, nil), minimalRecord("wc-2", contact.KindContact, nil, nil)); err != nil {
			return err
		}
		for _, id := range []string{"pr-a", "pr-b", "pr-c"} {
			if err := tx.InsertProcessor(s.ctx, processor(id)); err != nil {
				return err
			}
		}
		for _, d := range ds {
			if err := tx.InsertDelivery(s.ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// testDeliveries: a delivery comes back as queued; DueDeliveries returns the queued ones due at
// now, oldest first, at most limit; UpdateDelivery records an attempt's outcome and an
// acknowledgement; Deliveries pages a processor's deliveries newest first, by kind;
// ErasureDeliveries finds a contact's "erased" deliveries, by processor.
func testDeliveries(t *testing.T, s *suite) {
	d1 := delivery("wd-1", "pr-a", "wc-1", "given", t0)
	d2 := delivery("wd-2", "pr-a", "wc-1", "erased", t1)
	d3 := delivery("wd-3", "pr-b", "wc-1", "erased", t0.Add(time.Minute))
	d4 := delivery("wd-4", "pr-a", "wc-2", "withdrawn", t2)
	d5 := delivery("wd-5", "pr-a", "wc-2", "erased", t1)
	d5.Status = share.DeliveryDelivered
	webhookFixture(t, s, d4, d2, d1, d5, d3)
	s.update(t, func(tx Tx) error {
		got, err := tx.DeliveryByID(s.ctx, "wd-2")
		if err != nil {
			return err
		}
		checkDelivery(t, got, d2)
		_, err = tx.DeliveryByID(s.ctx, "wd-none")
		wantKind(t, "DeliveryByID(missing)", err, apperr.NotFound)
		for _, c := range []struct {
			now   time.Time
			limit int
			want  []string
		}{
			{t0.Add(-time.Nanosecond), 10, nil},
			{t1, 10, []string{"wd-1", "wd-3", "wd-2"}}, // not wd-5: delivered
			{t2, 2, []string{"wd-1", "wd-3"}},
			{t2, 10, []string{"wd-1", "wd-3", "wd-2", "wd-4"}},
		} {
			due, err := tx.DueDeliveries(s.ctx, c.now, c.limit)
			if err != nil {
				return err
			}
			if got := deliveryIDs(due); !slices.Equal(got, c.want) {
				t.Errorf("DueDeliveries(%s, %d) = %v; want %v", c.now, c.limit, got, c.want)
			}
		}
		return nil
	})
	delivered, acked := t1, t2
	sent := d1
	sent.Status, sent.Attempts, sent.LastStatus, sent.DeliveredAt, sent.AcknowledgedAt = share.DeliveryDelivered, 1, 200, &delivered, &acked
	retry := d2
	retry.Attempts, retry.NextAttemptAt, retry.LastStatus = 1, t2, 503
	s.update(t, func(tx Tx) error {
		for _, d := range []share.Delivery{sent, retry} {
			if err := tx.UpdateDelivery(s.ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, want := range []share.Delivery{sent, retry} {
			got, err := tx.DeliveryByID(s.ctx, want.ID)
			if err != nil {
				return err
			}
			checkDelivery(t, got, want)
		}
		for _, c := range []struct {
			processor, kind, before string
			limit                   int
			want                    []string
		}{
			{"pr-a", "", "", 10, []string{"wd-5", "wd-4", "wd-2", "wd-1"}},
			{"pr-a", "", "wd-4", 2, []string{"wd-2", "wd-1"}},
			{"pr-a", "erased", "", 10, []string{"wd-5", "wd-2"}},
			{"pr-a", "", "", 1, []string{"wd-5"}},
			{"pr-b", "", "", 10, []string{"wd-3"}},
			{"pr-c", "", "", 10, nil},
		} {
			got, err := tx.Deliveries(s.ctx, c.processor, c.kind, c.before, c.limit)
			if err != nil {
				return err
			}
			if !slices.Equal(deliveryIDs(got), c.want) {
				t.Errorf("Deliveries(%s, %q, %q, %d) = %v; want %v", c.processor, c.kind, c.before, c.limit, deliveryIDs(got), c.want)
			}
		}
		erased, err := tx.ErasureDeliveries(s.ctx, "wc-1")
		if err != nil {
			return err
		}
		if !slices.Equal(deliveryIDs(erased), []string{"wd-2", "wd-3"}) {
			t.Errorf("ErasureDeliveries(wc-1) = %v; want wd-2 (pr-a), wd-3 (pr-b)", deliveryIDs(erased))
		} else {
			checkDelivery(t, erased[0], retry)
		}
		return nil
	})
	testDeliveryLease(t, s, sent)
}

// testDeliveryLease: LeaseDeliveries moves the next attempt of queued deliveries only (a
// delivered one keeps its own); a leased delivery is not due before the lease ends, and a
// release makes it due again.
func testDeliveryLease(t *testing.T, s *suite, delivered share.Delivery) {
	due := func(want ...string) {
		t.Helper()
		s.view(t, func(tx Tx) error {
			got, err := tx.DueDeliveries(s.ctx, t2, 10)
			if !slices.Equal(deliveryIDs(got), want) {
				t.Errorf("DueDeliveries(t2) = %v; want %v", deliveryIDs(got), want)
			}
			return err
		})
	}
	s.update(t, func(tx Tx) error { return tx.LeaseDeliveries(s.ctx, []string{"wd-3", delivered.ID}, t2.Add(time.Hour)) })
	due("wd-2", "wd-4")
	s.view(t, func(tx Tx) error {
		got, err := tx.DeliveryByID(s.ctx, delivered.ID)
		if err == nil {
			checkDelivery(t, got, delivered)
		}
		return err
	})
	s.update(t, func(tx Tx) error { return tx.LeaseDeliveries(s.ctx, []string{"wd-3"}, t0) })
	due("wd-3", "wd-2", "wd-4")
}

// testDeliveryOrder: OlderQueued tells whether a queued delivery to the same processor about the
// same contact was created before d; SupersedeQueued marks exactly those queued ones superseded.
func testDeliveryOrder(t *testing.T, s *suite) {
	first := delivery("wo-1", "pr-a", "wc-1", "given", t0)
	second := delivery("wo-2", "pr-a", "wc-1", "withdrawn", t1)
	otherContact := delivery("wo-3", "pr-a", "wc-2", "given", t0)
	otherProcessor := delivery("wo-4", "pr-b", "wc-1", "given", t0)
	done := delivery("wo-5", "pr-a", "wc-1", "given", t0.Add(-time.Hour))
	done.Status = share.DeliveryDelivered
	webhookFixture(t, s, first, second, otherContact, otherProcessor, done)
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			d    share.Delivery
			want bool
		}{{second, true}, {first, false}, {otherContact, false}, {otherProcessor, false}} {
			if got, err := tx.OlderQueued(s.ctx, c.d); err != nil || got != c.want {
				t.Errorf("OlderQueued(%s) = %v, %v; want %v", c.d.ID, got, err, c.want)
			}
		}
		return tx.SupersedeQueued(s.ctx, "pr-a", "wc-1")
	})
	s.view(t, func(tx Tx) error {
		for id, want := range map[string]string{"wo-1": share.DeliverySuperseded, "wo-2": share.DeliverySuperseded,
			"wo-3": share.DeliveryQueued, "wo-4": share.DeliveryQueued, "wo-5": share.DeliveryDelivered} {
			if d, err := tx.DeliveryByID(s.ctx, id); err != nil || d.Status != want {
				t.Errorf("%s after SupersedeQueued(pr-a, wc-1): status %q, %v; want %q", id, d.Status, err, want)
			}
		}
		if older, err := tx.OlderQueued(s.ctx, second); err != nil || older {
			t.Errorf("OlderQueued(wo-2) after superseding = %v, %v; want false", older, err)
		}
		return nil
	})
}

// testWebhookCursor: the fan-out cursor starts at 0 and keeps what was set.
func testWebhookCursor(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if seq, err := tx.WebhookCursor(s.ctx); err != nil || seq != 0 {
			t.Errorf("WebhookCursor on a new store = %d, %v; want 0", seq, err)
		}
		return tx.SetWebhookCursor(s.ctx, 42)
	})
	s.update(t, func(tx Tx) error { return tx.SetWebhookCursor(s.ctx, 1<<40) })
	s.view(t, func(tx Tx) error {
		if seq, err := tx.WebhookCursor(s.ctx); err != nil || seq != 1<<40 {
			t.Errorf("WebhookCursor = %d, %v; want %d", seq, err, int64(1)<<40)
		}
		return nil
	})
}

// testNotificationTasks: a staff to-do comes back as written; its done time, actor and note are
// recorded (NotFound when absent); NotificationTasks filters by state, processor and contact, in
// id order a page at a time; NotificationTasksAbout lists a contact's, oldest first.
func testNotificationTasks(t *testing.T, s *suite) {
	task := func(id, processorID, contactID, kind string) share.NotificationTask {
		return share.NotificationTask{ID: id, ProcessorID: processorID, ContactID: contactID, Kind: kind, Cause: share.CauseNoWebhook, CreatedAt: t0}
	}
	tasks := []share.NotificationTask{task("nt-1", "pr-a", "wc-1", "erased"), task("nt-2", "pr-b", "wc-1", "rectified"),
		task("nt-3", "pr-a", "wc-2", "erased"), task("nt-4", "pr-a", "wc-1", "restricted")}
	tasks[3].Cause = share.CauseWebhookFailed
	webhookFixture(t, s)
	s.update(t, func(tx Tx) error {
		for _, i := range []int{2, 0, 3, 1} {
			if err := tx.InsertNotificationTask(s.ctx, tasks[i]); err != nil {
				return err
			}
		}
		return nil
	})
	doneAt := t1
	done := tasks[0]
	done.DoneAt, done.DoneBy, done.Note = &doneAt, "token:dpo", "phoned their DPO"
	s.update(t, func(tx Tx) error {
		got, err := tx.NotificationTaskByID(s.ctx, "nt-2")
		if err != nil {
			return err
		}
		checkTask(t, got, tasks[1])
		_, err = tx.NotificationTaskByID(s.ctx, "nt-none")
		wantKind(t, "NotificationTaskByID(missing)", err, apperr.NotFound)
		if err := tx.UpdateNotificationTask(s.ctx, done); err != nil {
			return err
		}
		wantKind(t, "UpdateNotificationTask(missing)", tx.UpdateNotificationTask(s.ctx, task("nt-none", "pr-a", "wc-1", "erased")), apperr.NotFound)
		return nil
	})
	s.view(t, func(tx Tx) error {
		got, err := tx.NotificationTaskByID(s.ctx, "nt-1")
		if err != nil {
			return err
		}
		checkTask(t, got, done)
		for _, c := range []struct {
			f    share.TaskFilter
			want []string
		}{
			{share.TaskFilter{Limit: 10}, []string{"nt-1", "nt-2", "nt-3", "nt-4"}},
			{share.TaskFilter{State: share.TaskOpen, Limit: 10}, []string{"nt-2", "nt-3", "nt-4"}},
			{share.TaskFilter{State: share.TaskDone, Limit: 10}, []string{"nt-1"}},
			{share.TaskFilter{ProcessorID: "pr-a", Limit: 10}, []string{"nt-1", "nt-3", "nt-4"}},
			{share.TaskFilter{ContactID: "wc-1", State: share.TaskOpen, Limit: 10}, []string{"nt-2", "nt-4"}},
			{share.TaskFilter{After: "nt-1", Limit: 2}, []string{"nt-2", "nt-3"}},
		} {
			got, err := tx.NotificationTasks(s.ctx, c.f)
			if err != nil {
				return err
			}
			var ids []string
			for _, x := range got {
				ids = append(ids, x.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("NotificationTasks(%+v) = %v; want %v", c.f, ids, c.want)
			}
		}
		about, err := tx.NotificationTasksAbout(s.ctx, "wc-1")
		if err != nil {
			return err
		}
		if len(about) != 3 || about[0].ID != "nt-1" || about[1].ID != "nt-2" || about[2].ID != "nt-4" {
			t.Errorf("NotificationTasksAbout(wc-1) = %+v; want nt-1, nt-2, nt-4", about)
		} else {
			checkTask(t, about[2], tasks[3])
		}
		return nil
	})
}

// checkTask compares a stored task with want, its stored fields only (the processor's name and
// the state are filled in by share when read).
func checkTask(t *testing.T, got, want share.NotificationTask) {
	t.Helper()
	checkTime(t, "task "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	if (got.DoneAt == nil) != (want.DoneAt == nil) {
		t.Errorf("task %s DoneAt = %v; want %v", want.ID, got.DoneAt, want.DoneAt)
	} else if got.DoneAt != nil {
		checkTime(t, "task "+want.ID+" DoneAt", *got.DoneAt, *want.DoneAt)
	}
	got.CreatedAt, got.DoneAt, got.ProcessorName, got.State = want.CreatedAt, want.DoneAt, want.ProcessorName, want.State
	if got != want {
		t.Errorf("task = %+v; want %+v", got, want)
	}
}
