-- Breaches get their likely consequences; policies get the breach notice template.
-- The likely consequences of a breach (GDPR Art. 33(3)(c)), which the notice to the people
-- affected must describe too (Art. 34(2)). The controller's account; it must not name people.
ALTER TABLE breaches ADD COLUMN likely_consequences TEXT COLLATE "C" NOT NULL DEFAULT '';

-- A fourth policy document, the breach_notice_template the notice to the people is drafted from.
-- SQLite rebuilds the table to change the CHECK; PostgreSQL replaces the constraint in place
-- (same columns, same order).
ALTER TABLE policy_versions DROP CONSTRAINT policy_versions_document_check;
ALTER TABLE policy_versions ADD CONSTRAINT policy_versions_document_check
    CHECK (document IN ('privacy_policy', 'terms_of_service', 'dpa_template', 'breach_notice_template'));
