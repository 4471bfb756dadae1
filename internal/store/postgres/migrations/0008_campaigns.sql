-- Campaigns (issue 4): marketing mail to an audience, gated per recipient when each message is
-- handed to the transport. Per-recipient outcomes live in the outbox, so a campaign's counts are
-- derived, never kept twice.
CREATE TABLE campaigns (
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL, -- marketing or consent_request
    purpose_id TEXT COLLATE "C" NOT NULL REFERENCES purposes (id),
    subject    TEXT COLLATE "C" NOT NULL,
    text_body  TEXT COLLATE "C" NOT NULL,
    html_body  TEXT COLLATE "C" NOT NULL,
    audience   TEXT COLLATE "C" NOT NULL, -- JSON: {"kind": "", "tags": []}
    created_at TEXT COLLATE "C" NOT NULL,
    queued_at  TEXT COLLATE "C"
);

ALTER TABLE outbox ADD COLUMN campaign_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN purpose_id TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX outbox_campaign ON outbox (campaign_id, status) WHERE campaign_id <> '';
