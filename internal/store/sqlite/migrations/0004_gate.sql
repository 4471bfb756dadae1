-- The consent gate (issue 3): purpose flags, the contact's suppression hash (so the gate checks the
-- suppression list without decrypting), objections (GDPR Art. 21), the re-consent flag, policy
-- versions, staff approval of consent events and the stream of consent changes.
ALTER TABLE purposes ADD COLUMN consent_valid_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN direct_marketing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN sale_or_sharing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purposes ADD COLUMN staff_approval INTEGER NOT NULL DEFAULT 0;
UPDATE purposes SET direct_marketing = 1 WHERE id = 'newsletter';

ALTER TABLE contacts ADD COLUMN suppression_hash BLOB;

ALTER TABLE consent_current ADD COLUMN needs_reconsent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX consent_current_purpose ON consent_current (purpose_id, state);

ALTER TABLE consent_events ADD COLUMN approval TEXT NOT NULL DEFAULT '';
ALTER TABLE consent_events ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';

CREATE TABLE objections (
    contact_id  TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL, -- a purpose id, or "direct_marketing" (GDPR Art. 21(2)-(3))
    method      TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor       TEXT NOT NULL,
    PRIMARY KEY (contact_id, scope)
) STRICT, WITHOUT ROWID;

CREATE TABLE policy_versions (
    id           TEXT PRIMARY KEY,
    document     TEXT NOT NULL CHECK (document IN ('privacy_policy', 'terms_of_service', 'dpa_template')),
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    material     INTEGER NOT NULL,
    effective_at TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    UNIQUE (document, version)
) STRICT;

CREATE TABLE consent_changes (
    seq         INTEGER PRIMARY KEY,
    contact_id  TEXT NOT NULL,
    purpose_id  TEXT NOT NULL,
    change      TEXT NOT NULL, -- given, withdrawn, refused, expired, objected, requested, needs_reconsent
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
