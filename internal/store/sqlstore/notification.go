package sqlstore

import (
	"context"
	"database/sql"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/share"
)

const taskCols = "id, processor_id, contact_id, kind, cause, created_at, done_at, done_by, note"

// InsertNotificationTask stores a new to-do to tell a recipient by hand.
func (tx *Tx) InsertNotificationTask(ctx context.Context, t share.NotificationTask) error {
	_, err := tx.exec(ctx, "INSERT INTO notification_tasks ("+taskCols+") VALUES (?, ?, ?, ?, ?, ?, NULL, '', '')",
		t.ID, t.ProcessorID, t.ContactID, t.Kind, t.Cause, formatTime(t.CreatedAt))
	return err
}

// UpdateNotificationTask stores a task's done_at, done_by and note; NotFound when absent.
func (tx *Tx) UpdateNotificationTask(ctx context.Context, t share.NotificationTask) error {
	var done any
	if t.DoneAt != nil {
		done = formatTime(*t.DoneAt)
	}
	return tx.execOne(ctx, "task not found", "UPDATE notification_tasks SET done_at = ?, done_by = ?, note = ? WHERE id = ?", done, t.DoneBy, t.Note, t.ID)
}

// NotificationTaskByID returns one task; NotFound when none.
func (tx *Tx) NotificationTaskByID(ctx context.Context, id string) (share.NotificationTask, error) {
	ts, err := tx.queryTasks(ctx, "SELECT "+taskCols+" FROM notification_tasks WHERE id = ?", id)
	if err != nil {
		return share.NotificationTask{}, err
	}
	if len(ts) == 0 {
		return share.NotificationTask{}, apperr.New(apperr.NotFound, "task not found")
	}
	return ts[0], nil
}

// NotificationTasks returns the tasks matching f in id order (oldest first), at most f.Limit.
func (tx *Tx) NotificationTasks(ctx context.Context, f share.TaskFilter) ([]share.NotificationTask, error) {
	return tx.queryTasks(ctx, "SELECT "+taskCols+` FROM notification_tasks
		WHERE (? = '' OR (? = 'open') = (done_at IS NULL)) AND (? = '' OR processor_id = ?) AND (? = '' OR contact_id = ?) AND id > ?
		ORDER BY id LIMIT ?`, f.State, f.State, f.ProcessorID, f.ProcessorID, f.ContactID, f.ContactID, f.After, f.Limit)
}

// NotificationTasksAbout returns every task about a contact, oldest first.
func (tx *Tx) NotificationTasksAbout(ctx context.Context, contactID string) ([]share.NotificationTask, error) {
	return tx.queryTasks(ctx, "SELECT "+taskCols+" FROM notification_tasks WHERE contact_id = ? ORDER BY id", contactID)
}

func (tx *Tx) queryTasks(ctx context.Context, q string, args ...any) ([]share.NotificationTask, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []share.NotificationTask{}
	for rows.Next() {
		var t share.NotificationTask
		var created string
		var done sql.NullString
		if err := rows.Scan(&t.ID, &t.ProcessorID, &t.ContactID, &t.Kind, &t.Cause, &created, &done, &t.DoneBy, &t.Note); err != nil {
			return nil, err
		}
		if t.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if t.DoneAt, err = nullTime(done); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
