-- Campaign sends are jobs (issue 10, D3): POST /api/v1/campaigns/{id}/send records the send, and
-- the server walks the audience in batches in contact id order. Each batch's outbox rows and the
-- advanced cursor commit in one transaction, so a restart resumes where the last commit left off.
-- People the gate refuses at queue time get no outbox row (a 1 M audience wrote 1 M of them): the
-- campaign keeps their count by reason in campaign_skips.
ALTER TABLE campaigns ADD COLUMN walk_end TEXT COLLATE "C";                       -- the last contact id in the audience when the send was recorded ('' for none)
ALTER TABLE campaigns ADD COLUMN walk_cursor TEXT COLLATE "C" NOT NULL DEFAULT ''; -- the last contact id walked ('' before the first batch)
ALTER TABLE campaigns ADD COLUMN walked BIGINT NOT NULL DEFAULT 0;                -- audience members walked
ALTER TABLE campaigns ADD COLUMN messages BIGINT NOT NULL DEFAULT 0;              -- messages the walk put in the outbox
ALTER TABLE campaigns ADD COLUMN finished_at TEXT COLLATE "C";                    -- when the walk ended; NULL while sending

-- Campaigns sent before this migration walked their audience inside the request: they are done
-- (or were cut short by a client that hung up; that walk left no cursor to resume from).
UPDATE campaigns SET finished_at = queued_at WHERE queued_at IS NOT NULL;
CREATE INDEX campaigns_sending ON campaigns (queued_at) WHERE queued_at IS NOT NULL AND finished_at IS NULL;

CREATE TABLE campaign_skips (
    campaign_id TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    reason      TEXT COLLATE "C" NOT NULL, -- the gate's reason (no_consent, withdrawn, suppressed, restricted, …) or rate_limited, consent_given
    n           BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, reason)
);
