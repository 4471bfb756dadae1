-- Mail (issue 4): the outbox keeps each rendered message sealed under its recipient's data key;
-- double opt-in tokens are kept only as SHA-256 hashes.
CREATE TABLE outbox (
    id              TEXT COLLATE "C" PRIMARY KEY,
    contact_id      TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    stream          TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    sent_at         TEXT COLLATE "C",
    last_error      TEXT COLLATE "C" NOT NULL,
    message_ct      BYTEA NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE optin_tokens (
    hash            BYTEA PRIMARY KEY,
    contact_id      TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    purposes        TEXT COLLATE "C" NOT NULL, -- comma-separated purpose ids
    policy_versions TEXT COLLATE "C" NOT NULL,
    form_id         TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    expires_at      TEXT COLLATE "C" NOT NULL,
    used_at         TEXT COLLATE "C"
);
CREATE INDEX optin_tokens_contact ON optin_tokens (contact_id, created_at);
