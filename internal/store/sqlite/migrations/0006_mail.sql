-- Mail (issue 4): the outbox keeps each rendered message sealed under its recipient's data key;
-- double opt-in tokens are kept only as SHA-256 hashes.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    contact_id      TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    stream          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT NOT NULL,
    message_ct      BLOB NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE optin_tokens (
    hash            BLOB PRIMARY KEY,
    contact_id      TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    purposes        TEXT NOT NULL, -- comma-separated purpose ids
    policy_versions TEXT NOT NULL,
    form_id         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX optin_tokens_contact ON optin_tokens (contact_id, created_at);
