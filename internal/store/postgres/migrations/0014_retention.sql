-- Retention (issue 6): policies per contact kind, and a legal hold that keeps a contact out of
-- every sweep.
CREATE TABLE retention_policies (
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL, -- lead or contact
    after_days BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
ALTER TABLE contacts ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE retention_policies ADD COLUMN purpose_id TEXT COLLATE "C" NOT NULL DEFAULT ''; -- '' for every purpose
