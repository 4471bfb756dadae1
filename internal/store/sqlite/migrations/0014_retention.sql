-- Retention (issue 6): policies per contact kind, and a legal hold that keeps a contact out of
-- every sweep.
CREATE TABLE retention_policies (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL, -- lead or contact
    after_days INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
ALTER TABLE contacts ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE retention_policies ADD COLUMN purpose_id TEXT NOT NULL DEFAULT ''; -- "" for every purpose
