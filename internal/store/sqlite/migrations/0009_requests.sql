-- Data subject requests (issue 5). A request keeps its requester's address, details, notes and
-- the reasons told to the requester sealed under the request's own data key (in
-- keystore.contact_keys, keyed by the request id): a portal request may come from an address no
-- contact has, and the request and its notices outlive an erased contact (accountability,
-- GDPR Art. 5(2)). contact_id is set only once identity is verified and is not a foreign key
-- for the same reason.
CREATE TABLE requests (
    id             TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    state          TEXT NOT NULL,
    contact_id     TEXT NOT NULL DEFAULT '',
    channel        TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    due_at         TEXT NOT NULL,
    extended_until TEXT,
    completed_at   TEXT,
    assignee       TEXT NOT NULL DEFAULT '',
    key_version    INTEGER NOT NULL,
    email_bidx     BLOB, -- blind index of the requester's address (rate limit of portal intake)
    email_ct       BLOB,
    details_ct     BLOB,
    reason_ct      BLOB,
    receipt        TEXT, -- erasure receipt (JSON; table names and counts, no personal data)
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_due ON requests (state, due_at);
CREATE INDEX requests_email ON requests (email_bidx, received_at) WHERE email_bidx IS NOT NULL;
CREATE INDEX requests_contact ON requests (contact_id) WHERE contact_id <> '';

-- The per-request timeline: every transition, assignment and internal note.
CREATE TABLE request_events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    state      TEXT NOT NULL,
    note_ct    BLOB
) STRICT;
CREATE INDEX request_events_request ON request_events (request_id, seq);

-- Single-use e-mail verification links, kept only as SHA-256 hashes.
CREATE TABLE request_tokens (
    hash       BLOB PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX request_tokens_request ON request_tokens (request_id);

-- A notice about a request is mail to its requester, sealed under the request's key: the
-- outbox's contact_id becomes optional and request_id names the key owner when it is empty.
CREATE TABLE outbox_v9 (
    id              TEXT PRIMARY KEY,
    contact_id      TEXT REFERENCES contacts (id) ON DELETE CASCADE,
    request_id      TEXT REFERENCES requests (id) ON DELETE CASCADE,
    stream          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT NOT NULL,
    message_ct      BLOB NOT NULL,
    campaign_id     TEXT NOT NULL DEFAULT '',
    purpose_id      TEXT NOT NULL DEFAULT '',
    last            INTEGER NOT NULL DEFAULT 0, -- the last notice about an erasure request: its key goes once it is handed over
    CHECK ((contact_id IS NULL) <> (request_id IS NULL))
) STRICT;
INSERT INTO outbox_v9 (id, contact_id, stream, kind, status, attempts, next_attempt_at, created_at, sent_at, last_error, message_ct, campaign_id, purpose_id)
    SELECT id, contact_id, stream, kind, status, attempts, next_attempt_at, created_at, sent_at, last_error, message_ct, campaign_id, purpose_id FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v9 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_campaign ON outbox (campaign_id, status) WHERE campaign_id <> '';
CREATE INDEX outbox_contact ON outbox (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX outbox_request ON outbox (request_id) WHERE request_id IS NOT NULL;

-- Access bundles waiting to be downloaded through an expiring, single-use link: sealed under the
-- contact's data key, so erasure (which deletes the key and, by cascade, the row) revokes them.
CREATE TABLE exports (
    id         TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL DEFAULT '',
    token_hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    bundle_ct  BLOB NOT NULL
) STRICT;
CREATE INDEX exports_contact ON exports (contact_id);
CREATE INDEX exports_expiry ON exports (expires_at);

-- Erasure deletes a contact's unsubscribe links and its receipt counts its change-feed rows:
-- without these, both scan whole tables that grow with every campaign and consent change.
CREATE INDEX unsubscribe_tokens_contact ON unsubscribe_tokens (contact_id);
CREATE INDEX consent_changes_contact ON consent_changes (contact_id);
