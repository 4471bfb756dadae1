-- Processors and consent-gated sharing (issue 6). A processor is a company, not a person: its
-- fields are kept in the clear except the webhook secret, sealed under the processor's own data
-- key (keystore.contact_keys, keyed by the processor id).
CREATE TABLE processors (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL,
    purposes           TEXT NOT NULL, -- comma-separated purpose ids
    data_categories    TEXT NOT NULL, -- comma-separated contact fields it may receive
    country            TEXT NOT NULL, -- ISO 3166-1 alpha-2
    transfer_mechanism TEXT NOT NULL,
    dpa_status         TEXT NOT NULL,
    dpa_signed_at      TEXT,
    dpa_expires_at     TEXT,
    dpa_document       TEXT NOT NULL DEFAULT '',
    contact_email      TEXT NOT NULL DEFAULT '', -- the vendor's privacy contact
    webhook_url        TEXT NOT NULL DEFAULT '',
    webhook_secret_ct  BLOB,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    version            INTEGER NOT NULL
) STRICT;

-- One row per disclosure asked for: allowed (the fields went out) or refused (reason). Field
-- names only, never values; kept after erasure, since processors must be told (GDPR Art. 19).
CREATE TABLE disclosures (
    id           TEXT PRIMARY KEY,
    contact_id   TEXT NOT NULL,
    processor_id TEXT NOT NULL REFERENCES processors (id),
    purpose_id   TEXT NOT NULL,
    fields       TEXT NOT NULL, -- comma-separated
    allowed      INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    at           TEXT NOT NULL
) STRICT;
CREATE INDEX disclosures_contact ON disclosures (contact_id, at);
CREATE INDEX disclosures_processor ON disclosures (processor_id, contact_id) WHERE allowed = 1;
ALTER TABLE processors ADD COLUMN ended_at TEXT; -- no longer engaged: kept for the record, receives nothing new
ALTER TABLE processors ADD COLUMN dpf_certified INTEGER NOT NULL DEFAULT 0; -- a US recipient certified under the EU-US Data Privacy Framework
