package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
)

const campaignCols = "id, kind, purpose_id, subject, text_body, html_body, audience, created_at, queued_at"

// InsertCampaign stores a new campaign.
func (tx *Tx) InsertCampaign(ctx context.Context, c campaign.Campaign) error {
	aud, err := json.Marshal(c.Audience)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, "INSERT INTO campaigns ("+campaignCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
		c.ID, c.Kind, c.Purpose, c.Subject, c.Text, c.HTML, string(aud), formatTime(c.CreatedAt))
	return err
}

// CampaignByID returns the campaign; NotFound when absent.
func (tx *Tx) CampaignByID(ctx context.Context, id string) (campaign.Campaign, error) {
	row, err := tx.queryRow(ctx, "SELECT "+campaignCols+" FROM campaigns WHERE id = ?", id)
	if err != nil {
		return campaign.Campaign{}, err
	}
	c, err := scanCampaign(row)
	if errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, apperr.New(apperr.NotFound, "campaign not found")
	}
	return c, err
}

// ListCampaigns returns every campaign, newest first.
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

// SetCampaignQueued marks the campaign queued at at; Conflict when it was already.
func (tx *Tx) SetCampaignQueued(ctx context.Context, id string, at time.Time) error {
	res, err := tx.exec(ctx, "UPDATE campaigns SET queued_at = ? WHERE id = ? AND queued_at IS NULL", formatTime(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &apperr.Error{Kind: apperr.Conflict, Reason: "already_sent", Message: "this campaign was sent already", ID: id}
	}
	return nil
}

func scanCampaign(row scanner) (campaign.Campaign, error) {
	var c campaign.Campaign
	var aud, created string
	var queued sql.NullString
	if err := row.Scan(&c.ID, &c.Kind, &c.Purpose, &c.Subject, &c.Text, &c.HTML, &aud, &created, &queued); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(aud), &c.Audience); err != nil {
		return c, err
	}
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		return c, err
	}
	c.QueuedAt, err = nullTime(queued)
	return c, err
}
