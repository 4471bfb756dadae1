-- Breaches get their likely consequences; policies get the breach notice template.
-- The likely consequences of a breach (GDPR Art. 33(3)(c)), which the notice to the people
-- affected must describe too (Art. 34(2)). The controller's account; it must not name people.
ALTER TABLE breaches ADD COLUMN likely_consequences TEXT NOT NULL DEFAULT '';

-- A fourth policy document, the breach_notice_template the notice to the people is drafted from.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt (nothing references it).
CREATE TABLE policy_versions_new (
    id           TEXT PRIMARY KEY,
    document     TEXT NOT NULL CHECK (document IN ('privacy_policy', 'terms_of_service', 'dpa_template', 'breach_notice_template')),
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    material     INTEGER NOT NULL,
    effective_at TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    UNIQUE (document, version)
) STRICT;
INSERT INTO policy_versions_new (id, document, version, body, sha256, material, effective_at, created_at, published_at)
    SELECT id, document, version, body, sha256, material, effective_at, created_at, published_at FROM policy_versions;
DROP TABLE policy_versions;
ALTER TABLE policy_versions_new RENAME TO policy_versions;
