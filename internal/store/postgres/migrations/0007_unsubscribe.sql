-- One-click unsubscribe (RFC 8058): opaque tokens, kept only as SHA-256 hashes, each naming one
-- contact and one purpose. They go with the contact on erasure.
CREATE TABLE unsubscribe_tokens (
    hash       BYTEA PRIMARY KEY,
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    purpose_id TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
