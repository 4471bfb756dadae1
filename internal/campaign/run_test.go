package campaign_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

var errBroken = errors.New("campaign row unreadable")

// watchedStore reports every list of sending campaigns Run reads on calls, and cannot read the
// campaign broken.
type watchedStore struct {
	campaign.Store
	calls  chan<- []string
	broken string
}

func (s watchedStore) Update(ctx context.Context, fn func(campaign.Tx) error) error {
	return s.Store.Update(ctx, func(tx campaign.Tx) error { return fn(watchedTx{tx, s}) })
}

type watchedTx struct {
	campaign.Tx
	s watchedStore
}

func (tx watchedTx) SendingCampaigns(ctx context.Context) ([]string, error) {
	ids, err := tx.Tx.SendingCampaigns(ctx)
	select {
	case tx.s.calls <- ids:
	case <-ctx.Done():
	}
	return ids, err
}

func (tx watchedTx) CampaignByID(ctx context.Context, id string) (campaign.Campaign, error) {
	if id == tx.s.broken {
		return campaign.Campaign{}, errBroken
	}
	return tx.Tx.CampaignByID(ctx, id)
}

// TestRunWalksEveryCampaignInTurn: the background walk (issue 10) takes one batch of each
// sending campaign in turn, so a small campaign is not held up behind a large one, until every
// walk has ended; a campaign whose step fails is logged by id (never a personal value, GDPR
// Art. 5(1)(f)), tried again only at the next interval, and does not stop the others; Run
// returns when its context ends.
func TestRunWalksEveryCampaignInTurn(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	for i := range 7 {
		w.person(t, fmt.Sprintf("p%d@example.org", i), consent.Given)
	}
	w.add(t, contact.Input{Kind: contact.KindLead, Email: "lead@example.org"}, consent.Given)
	var ids []string
	for _, aud := range []contact.Kind{contact.KindContact, contact.KindLead, ""} {
		c, err := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello.", Audience: campaign.Audience{Kind: aud}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Send(staff(), c.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
		w.now = w.now.Add(time.Second)
	}
	large, small, broken := ids[0], ids[1], ids[2]

	calls := make(chan []string)
	var log bytes.Buffer
	runner := *w.svc
	runner.Store = watchedStore{Store: w.svc.Store, calls: calls, broken: broken}
	runner.Logger = slog.New(slog.NewTextHandler(&log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.Run(ctx, time.Hour)
	}()
	var seen []string
	for ids := range calls {
		seen = append(seen, strings.Join(ids, ","))
		if len(ids) == 1 && ids[0] == broken {
			break // only the broken one is left: Run waits for its next interval
		}
	}
	cancel()
	<-done

	if want := []string{large + "," + small + "," + broken, large + "," + broken, large + "," + broken, broken}; strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("rounds = %q; want %q (the lead campaign done after one batch, the large one after three)", seen, want)
	}
	for id, want := range map[string]int{large: 7, small: 1} {
		c, err := w.svc.Get(staff(), id)
		if err != nil || c.Status != campaign.StatusSent || c.Counts.Messages != want {
			t.Errorf("campaign %s: %s %+v, %v; want sent with %d messages", id, c.Status, c.Counts, err, want)
		}
	}
	if c, _ := w.svc.Get(staff(), broken); c.Status != campaign.StatusSending || c.Counts.Walked != 0 {
		t.Errorf("the broken campaign: %s %+v; want still sending, nothing walked", c.Status, c.Counts)
	}
	if n := strings.Count(log.String(), "campaign walk"); n != 1 || !strings.Contains(log.String(), broken) || strings.Contains(log.String(), "@") {
		t.Errorf("log (%d errors):\n%s\nwant the broken campaign's id once, no address", n, log.String())
	}
}
