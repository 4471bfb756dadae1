package apptest

import "time"

// Campaign is a campaign as GET /api/v1/campaigns/{id} answers it.
type Campaign struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Counts struct {
		Walked, Messages, Queued, Sent, Failed, Skipped int
		SkippedBy                                       map[string]int `json:"skipped_by"`
	} `json:"counts"`
}

// WaitCampaign reads the campaign id until done accepts it and returns it. The deadline only
// keeps a broken walk from hanging the test run; it asserts no speed.
func (p *Client) WaitCampaign(id string, done func(Campaign) bool) Campaign {
	p.t.Helper()
	var c Campaign
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c = Campaign{}
		if st := p.Do("GET", "/api/v1/campaigns/"+id, nil, &c); st != 200 {
			p.t.Fatalf("GET campaign: %d", st)
		}
		if done(c) {
			return c
		}
	}
	p.t.Fatalf("campaign %s: %+v; the walk or the outbox did not finish", id, c)
	return c
}

// WaitWalked waits for the campaign's audience walk to end (status sent).
func (p *Client) WaitWalked(id string) Campaign {
	p.t.Helper()
	return p.WaitCampaign(id, func(c Campaign) bool { return c.Status == "sent" })
}
