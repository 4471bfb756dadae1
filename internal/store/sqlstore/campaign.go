package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/contact"
)

const campaignCols = "id, kind, purpose_id, subject, text_body, html_body, audience, created_at, queued_at, walk_end, walk_cursor, walked, messages, finished_at, include_no_history"

// InsertCampaign stores a new campaign (not sent, nothing walked).
func (tx *Tx) InsertCampaign(ctx context.Context, c campaign.Campaign) error {
	aud, err := json.Marshal(c.Audience)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, "INSERT INTO campaigns (id, kind, purpose_id, subject, text_body, html_body, audience, created_at, include_no_history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.Kind, c.Purpose, c.Subject, c.Text, c.HTML, string(aud), formatTime(c.CreatedAt), c.IncludeNoHistory)
	return err
}

// CampaignByID returns the campaign with its walk (Walk.SkippedBy included); NotFound when absent.
func (tx *Tx) CampaignByID(ctx context.Context, id string) (campaign.Campaign, error) {
	row, err := tx.queryRow(ctx, "SELECT "+campaignCols+" FROM campaigns WHERE id = ?", id)
	if err != nil {
		return campaign.Campaign{}, err
	}
	c, err := scanCampaign(row)
	if errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, apperr.New(apperr.NotFound, "campaign not found")
	}
	if err != nil {
		return c, err
	}
	rows, err := tx.query(ctx, "SELECT reason, n FROM campaign_skips WHERE campaign_id = ?", id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	c.Walk.SkippedBy = map[string]int{}
	for rows.Next() {
		var reason string
		var n int
		if err := rows.Scan(&reason, &n); err != nil {
			return c, err
		}
		c.Walk.SkippedBy[reason] = n
	}
	return c, rows.Err()
}

// ListCampaigns returns every campaign, newest first, without Walk.SkippedBy.
func (tx *Tx) ListCampaigns(ctx context.Context) ([]campaign.Campaign, error) {
	rows, err := tx.query(ctx, "SELECT "+campaignCols+" FROM campaigns ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []campaign.Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetCampaignQueued records the send at at, with end the last contact id of the audience then
// ("" for an empty audience); Conflict when it was recorded already.
func (tx *Tx) SetCampaignQueued(ctx context.Context, id string, at time.Time, end string) error {
	res, err := tx.exec(ctx, "UPDATE campaigns SET queued_at = ?, walk_end = ? WHERE id = ? AND queued_at IS NULL", formatTime(at), end, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &apperr.Error{Kind: apperr.Conflict, Reason: "already_sent", Message: "this campaign was sent already", ID: id}
	}
	return nil
}

// AdvanceCampaign stores the walk's progress as given (cursor, counts, every reason's count) and,
// when finishedAt is not nil, its end. NotFound when the campaign is absent.
func (tx *Tx) AdvanceCampaign(ctx context.Context, id string, w campaign.Walk, finishedAt *time.Time) error {
	var fin any
	if finishedAt != nil {
		fin = formatTime(*finishedAt)
	}
	if err := tx.execOne(ctx, "campaign not found", "UPDATE campaigns SET walk_cursor = ?, walked = ?, messages = ?, finished_at = ? WHERE id = ?",
		w.Cursor, w.Walked, w.Messages, fin, id); err != nil {
		return err
	}
	for _, reason := range slices.Sorted(maps.Keys(w.SkippedBy)) {
		if _, err := tx.exec(ctx, "INSERT INTO campaign_skips (campaign_id, reason, n) VALUES (?, ?, ?) ON CONFLICT (campaign_id, reason) DO UPDATE SET n = excluded.n",
			id, reason, w.SkippedBy[reason]); err != nil {
			return err
		}
	}
	return nil
}

// SendingCampaigns returns the ids of campaigns whose send is recorded and whose walk has not
// ended, oldest send first.
func (tx *Tx) SendingCampaigns(ctx context.Context) ([]string, error) {
	rows, err := tx.query(ctx, "SELECT id FROM campaigns WHERE queued_at IS NOT NULL AND finished_at IS NULL ORDER BY queued_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// LastContactID returns the greatest contact id of this kind ("" kind: any); "" when there is none.
func (tx *Tx) LastContactID(ctx context.Context, kind contact.Kind) (string, error) {
	var row *sql.Row
	var err error
	if kind == "" {
		row, err = tx.queryRow(ctx, "SELECT max(id) FROM contacts")
	} else {
		row, err = tx.queryRow(ctx, "SELECT max(id) FROM contacts WHERE kind = ?", string(kind))
	}
	if err != nil {
		return "", err
	}
	var id sql.NullString
	if err := row.Scan(&id); err != nil {
		return "", err
	}
	return id.String, nil
}

func scanCampaign(row scanner) (campaign.Campaign, error) {
	var c campaign.Campaign
	var aud, created string
	var queued, end, finished sql.NullString
	if err := row.Scan(&c.ID, &c.Kind, &c.Purpose, &c.Subject, &c.Text, &c.HTML, &aud, &created, &queued,
		&end, &c.Walk.Cursor, &c.Walk.Walked, &c.Walk.Messages, &finished, &c.IncludeNoHistory); err != nil {
		return c, err
	}
	c.Walk.End = end.String
	if err := json.Unmarshal([]byte(aud), &c.Audience); err != nil {
		return c, err
	}
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		return c, err
	}
	if c.QueuedAt, err = nullTime(queued); err != nil {
		return c, err
	}
	c.FinishedAt, err = nullTime(finished)
	return c, err
}

// insCampaignSkipped keeps the first reason recorded for a campaign and contact.
var insCampaignSkipped = "INSERT OR IGNORE INTO campaign_skipped (campaign_id, contact_id, reason)"

// AddCampaignSkips records audience members a campaign's walk did not queue, with the reason.
func (tx *Tx) AddCampaignSkips(ctx context.Context, campaignID string, skips []campaign.Skip) error {
	return tx.insertChunks(ctx, insCampaignSkipped, 3, len(skips), func(i int) []any {
		return []any{campaignID, skips[i].ContactID, skips[i].Reason}
	})
}

// CampaignRecipients returns up to limit of the campaign's recipients with a contact id after
// after, in contact id order: its outbox messages (status and last error) and its skips. Each
// side is read in index order up to limit and the two are merged, so a page costs limit rows
// however large the campaign.
func (tx *Tx) CampaignRecipients(ctx context.Context, campaignID, after string, limit int) ([]campaign.Recipient, error) {
	sent, err := tx.recipients(ctx, `SELECT contact_id, status, last_error FROM outbox
		WHERE campaign_id = ? AND contact_id > ? ORDER BY contact_id LIMIT ?`, campaignID, after, limit)
	if err != nil {
		return nil, err
	}
	skipped, err := tx.recipients(ctx, `SELECT contact_id, 'skipped', reason FROM campaign_skipped
		WHERE campaign_id = ? AND contact_id > ? ORDER BY contact_id LIMIT ?`, campaignID, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]campaign.Recipient, 0, min(limit, len(sent)+len(skipped)))
	for len(out) < limit && (len(sent) > 0 || len(skipped) > 0) {
		if len(skipped) == 0 || len(sent) > 0 && sent[0].ContactID < skipped[0].ContactID {
			out, sent = append(out, sent[0]), sent[1:]
		} else {
			out, skipped = append(out, skipped[0]), skipped[1:]
		}
	}
	return out, nil
}

func (tx *Tx) recipients(ctx context.Context, q string, args ...any) ([]campaign.Recipient, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []campaign.Recipient
	for rows.Next() {
		var r campaign.Recipient
		if err := rows.Scan(&r.ContactID, &r.Outcome, &r.Reason); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
