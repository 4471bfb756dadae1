-- Webhook deliveries to processors (issue 6): one row per event per processor concerned, with its
-- attempts; the payload holds ids, kinds and states only (no personal field). The cursor is how
-- far the consent change stream has been fanned out.
CREATE TABLE webhook_deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY, -- also the event id the processor sees
    processor_id    TEXT COLLATE "C" NOT NULL REFERENCES processors (id),
    contact_id      TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL, -- the change: given, withdrawn, …, erased, rectified, restricted, …
    payload         TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL, -- queued, delivered, failed
    attempts        BIGINT NOT NULL,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    last_status     BIGINT NOT NULL DEFAULT 0, -- HTTP status of the last attempt, 0 when none answered
    created_at      TEXT COLLATE "C" NOT NULL,
    delivered_at    TEXT COLLATE "C",
    acknowledged_at TEXT COLLATE "C" -- erasure events: when the processor confirmed it erased the person
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_contact ON webhook_deliveries (contact_id, processor_id);
CREATE INDEX webhook_deliveries_processor ON webhook_deliveries (processor_id, created_at);

CREATE TABLE webhook_cursor (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO webhook_cursor (id, seq) VALUES (1, 0);
