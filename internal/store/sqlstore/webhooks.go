package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/share"
)

// WebhookCursor returns how far the consent change stream has been fanned out.
func (tx *Tx) WebhookCursor(ctx context.Context) (int64, error) {
	row, err := tx.queryRow(ctx, "SELECT seq FROM webhook_cursor WHERE id = 1")
	if err != nil {
		return 0, err
	}
	var seq int64
	err = row.Scan(&seq)
	return seq, err
}

// SetWebhookCursor moves the fan-out cursor.
func (tx *Tx) SetWebhookCursor(ctx context.Context, seq int64) error {
	_, err := tx.exec(ctx, "UPDATE webhook_cursor SET seq = ? WHERE id = 1", seq)
	return err
}

// RecipientsOf returns the ids of the processors that received data about the contact.
func (tx *Tx) RecipientsOf(ctx context.Context, contactID string) ([]string, error) {
	rows, err := tx.query(ctx, "SELECT DISTINCT processor_id FROM disclosures WHERE contact_id = ? AND allowed = 1 ORDER BY processor_id", contactID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

const deliveryCols = "id, processor_id, contact_id, kind, payload, status, attempts, next_attempt_at, last_status, created_at, delivered_at, acknowledged_at"

// InsertDelivery queues a webhook delivery.
func (tx *Tx) InsertDelivery(ctx context.Context, d share.Delivery) error {
	_, err := tx.exec(ctx, "INSERT INTO webhook_deliveries ("+deliveryCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
		d.ID, d.ProcessorID, d.ContactID, d.Kind, string(d.Payload), d.Status, d.Attempts, formatTime(d.NextAttemptAt), d.LastStatus, formatTime(d.CreatedAt))
	return err
}

// UpdateDelivery records an attempt's outcome or an acknowledgement; an acknowledgement already
// recorded is kept (it may arrive while the attempt that carried the event is being recorded).
func (tx *Tx) UpdateDelivery(ctx context.Context, d share.Delivery) error {
	var delivered, acked any
	if d.DeliveredAt != nil {
		delivered = formatTime(*d.DeliveredAt)
	}
	if d.AcknowledgedAt != nil {
		acked = formatTime(*d.AcknowledgedAt)
	}
	_, err := tx.exec(ctx, "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, delivered_at = ?, acknowledged_at = coalesce(?, acknowledged_at) WHERE id = ?",
		d.Status, d.Attempts, formatTime(d.NextAttemptAt), d.LastStatus, delivered, acked, d.ID)
	return err
}

// DueDeliveries returns queued deliveries due at now, oldest first.
func (tx *Tx) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]share.Delivery, error) {
	return tx.queryDeliveries(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?", formatTime(now), limit)
}

// LeaseDeliveries sets the next attempt of the queued deliveries ids to until (a claim while
// they are posted, or its release); deliveries done meanwhile are left alone.
func (tx *Tx) LeaseDeliveries(ctx context.Context, ids []string, until time.Time) error {
	return tx.setByIDs(ctx, "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE status = 'queued' AND id IN ", formatTime(until), ids)
}

// DeliveryByID returns one delivery; NotFound when none.
func (tx *Tx) DeliveryByID(ctx context.Context, id string) (share.Delivery, error) {
	ds, err := tx.queryDeliveries(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE id = ?", id)
	if err != nil {
		return share.Delivery{}, err
	}
	if len(ds) == 0 {
		return share.Delivery{}, apperr.New(apperr.NotFound, "event not found")
	}
	return ds[0], nil
}

// Deliveries returns a processor's deliveries newest first, of kind (any when ""), with ids below
// before (any when "").
func (tx *Tx) Deliveries(ctx context.Context, processorID, kind, before string, limit int) ([]share.Delivery, error) {
	return tx.queryDeliveries(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE processor_id = ? AND (? = '' OR kind = ?) AND (? = '' OR id < ?) ORDER BY id DESC LIMIT ?",
		processorID, kind, kind, before, before, limit)
}

// ErasureDeliveries returns the "erased" deliveries about a contact, by processor.
func (tx *Tx) ErasureDeliveries(ctx context.Context, contactID string) ([]share.Delivery, error) {
	return tx.queryDeliveries(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE contact_id = ? AND kind = 'erased' ORDER BY processor_id", contactID)
}

func (tx *Tx) queryDeliveries(ctx context.Context, q string, args ...any) ([]share.Delivery, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []share.Delivery
	for rows.Next() {
		var d share.Delivery
		var payload, next, created string
		var delivered, acked sql.NullString
		if err := rows.Scan(&d.ID, &d.ProcessorID, &d.ContactID, &d.Kind, &payload, &d.Status, &d.Attempts, &next, &d.LastStatus, &created, &delivered, &acked); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, apperr.New(apperr.NotFound, "event not found")
			}
			return nil, err
		}
		d.Payload = []byte(payload)
		if d.NextAttemptAt, err = parseTime(next); err != nil {
			return nil, err
		}
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if d.DeliveredAt, err = nullTime(delivered); err != nil {
			return nil, err
		}
		if d.AcknowledgedAt, err = nullTime(acked); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// OlderQueued reports whether a queued delivery to the same processor about the same contact was
// created before d.
func (tx *Tx) OlderQueued(ctx context.Context, d share.Delivery) (bool, error) {
	row, err := tx.queryRow(ctx, "SELECT count(*) FROM webhook_deliveries WHERE processor_id = ? AND contact_id = ? AND status = 'queued' AND (created_at < ? OR created_at = ? AND id < ?)",
		d.ProcessorID, d.ContactID, formatTime(d.CreatedAt), formatTime(d.CreatedAt), d.ID)
	if err != nil {
		return false, err
	}
	var n int
	err = row.Scan(&n)
	return n > 0, err
}

// SupersedeQueued marks the queued deliveries to a processor about a contact superseded.
func (tx *Tx) SupersedeQueued(ctx context.Context, processorID, contactID string) error {
	_, err := tx.exec(ctx, "UPDATE webhook_deliveries SET status = 'superseded' WHERE processor_id = ? AND contact_id = ? AND status = 'queued'", processorID, contactID)
	return err
}

// DisclosedPurposes returns the purposes the contact's data went to the processor for.
func (tx *Tx) DisclosedPurposes(ctx context.Context, contactID, processorID string) ([]string, error) {
	rows, err := tx.query(ctx, "SELECT DISTINCT purpose_id FROM disclosures WHERE contact_id = ? AND processor_id = ? AND allowed = 1", contactID, processorID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
