-- Processors and consent-gated sharing (issue 6). A processor is a company, not a person: its
-- fields are kept in the clear except the webhook secret, sealed under the processor's own data
-- key (keystore.contact_keys, keyed by the processor id).
CREATE TABLE processors (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    role               TEXT COLLATE "C" NOT NULL,
    purposes           TEXT COLLATE "C" NOT NULL, -- comma-separated purpose ids
    data_categories    TEXT COLLATE "C" NOT NULL, -- comma-separated contact fields it may receive
    country            TEXT COLLATE "C" NOT NULL, -- ISO 3166-1 alpha-2
    transfer_mechanism TEXT COLLATE "C" NOT NULL,
    dpa_status         TEXT COLLATE "C" NOT NULL,
    dpa_signed_at      TEXT COLLATE "C",
    dpa_expires_at     TEXT COLLATE "C",
    dpa_document       TEXT COLLATE "C" NOT NULL DEFAULT '',
    contact_email      TEXT COLLATE "C" NOT NULL DEFAULT '', -- the vendor's privacy contact
    webhook_url        TEXT COLLATE "C" NOT NULL DEFAULT '',
    webhook_secret_ct  BYTEA,
    created_at         TEXT COLLATE "C" NOT NULL,
    updated_at         TEXT COLLATE "C" NOT NULL,
    version            BIGINT NOT NULL
);

-- One row per disclosure asked for: allowed (the fields went out) or refused (reason). Field
-- names only, never values; kept after erasure, since processors must be told (GDPR Art. 19).
CREATE TABLE disclosures (
    id           TEXT COLLATE "C" PRIMARY KEY,
    contact_id   TEXT COLLATE "C" NOT NULL,
    processor_id TEXT COLLATE "C" NOT NULL REFERENCES processors (id),
    purpose_id   TEXT COLLATE "C" NOT NULL,
    fields       TEXT COLLATE "C" NOT NULL, -- comma-separated
    allowed      BIGINT NOT NULL,
    reason       TEXT COLLATE "C" NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    at           TEXT COLLATE "C" NOT NULL
);
CREATE INDEX disclosures_contact ON disclosures (contact_id, at);
CREATE INDEX disclosures_processor ON disclosures (processor_id, contact_id) WHERE allowed = 1;
ALTER TABLE processors ADD COLUMN ended_at TEXT COLLATE "C"; -- no longer engaged: kept for the record, receives nothing new
ALTER TABLE processors ADD COLUMN dpf_certified BIGINT NOT NULL DEFAULT 0; -- a US recipient certified under the EU-US Data Privacy Framework
