-- Tillit schema version 1. Every personal field is a *_ct column sealed under the contact's data
-- key (package keys); lookups go through *_bidx blind indexes. Times are RFC 3339 UTC text.

CREATE TABLE contacts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('lead', 'contact')),
    key_version     INTEGER NOT NULL,
    email_bidx      BLOB UNIQUE,
    phone_bidx      BLOB,
    email_ct        BLOB,
    first_name_ct   BLOB,
    last_name_ct    BLOB,
    phone_ct        BLOB,
    company_ct      BLOB,
    title_ct        BLOB,
    address_ct      BLOB,
    birthday_ct     BLOB,
    notes_ct        BLOB,
    custom_ct       BLOB,
    tags_ct         BLOB,
    external_ids_ct BLOB,
    source          TEXT NOT NULL DEFAULT '',
    restricted      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         INTEGER NOT NULL
) STRICT;
CREATE INDEX contacts_phone_bidx ON contacts (phone_bidx) WHERE phone_bidx IS NOT NULL;
CREATE INDEX contacts_kind_id ON contacts (kind, id);

CREATE TABLE purposes (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    lawful_basis   TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    double_opt_in  INTEGER NOT NULL,
    created_at     TEXT NOT NULL
) STRICT;

CREATE TABLE consent_events (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    contact_id      TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    purpose_id      TEXT NOT NULL REFERENCES purposes (id),
    state           TEXT NOT NULL,
    method          TEXT NOT NULL,
    policy_versions TEXT NOT NULL,
    notice_hash     TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    actor           TEXT NOT NULL,
    evidence_ct     BLOB
) STRICT;
CREATE INDEX consent_events_contact ON consent_events (contact_id, seq);

CREATE TABLE consent_current (
    contact_id      TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    purpose_id      TEXT NOT NULL REFERENCES purposes (id),
    state           TEXT NOT NULL,
    lawful_basis    TEXT NOT NULL,
    method          TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    policy_versions TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    PRIMARY KEY (contact_id, purpose_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE suppressions (
    hash       BLOB PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    fields      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
) STRICT;
CREATE INDEX audit_events_object ON audit_events (object_kind, object_id, seq);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

CREATE TABLE erasure_ledger (
    contact_id TEXT PRIMARY KEY,
    erased_at  TEXT NOT NULL
) STRICT;

-- The key store lives in its own file (keys.db, attached as "keystore"), so backups of the data
-- and of the keys can be kept apart and on different retention (research/crypto-design.md §9.7).
CREATE TABLE keystore.contact_keys (
    contact_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
