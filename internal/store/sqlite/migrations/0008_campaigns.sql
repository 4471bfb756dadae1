-- Campaigns (issue 4): marketing mail to an audience, gated per recipient when each message is
-- handed to the transport. Per-recipient outcomes live in the outbox, so a campaign's counts are
-- derived, never kept twice.
CREATE TABLE campaigns (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL, -- marketing or consent_request
    purpose_id TEXT NOT NULL REFERENCES purposes (id),
    subject    TEXT NOT NULL,
    text_body  TEXT NOT NULL,
    html_body  TEXT NOT NULL,
    audience   TEXT NOT NULL, -- JSON: {"kind": "", "tags": []}
    created_at TEXT NOT NULL,
    queued_at  TEXT
) STRICT;

ALTER TABLE outbox ADD COLUMN campaign_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN purpose_id TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_campaign ON outbox (campaign_id, status) WHERE campaign_id <> '';
