-- DPA requests (issue 6): a customer (a company) asks for the data processing agreement; the
-- request pins the dpa_template version it was rendered from and is tracked to signature.
CREATE TABLE dpa_requests (
    id               TEXT PRIMARY KEY,
    customer         TEXT NOT NULL, -- the company's name
    template_version INTEGER NOT NULL,
    status           TEXT NOT NULL, -- requested, sent, signed, declined
    signed_at        TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    version          INTEGER NOT NULL
) STRICT;
ALTER TABLE dpa_requests ADD COLUMN document TEXT NOT NULL DEFAULT ''; -- the agreement as signed (Markdown), frozen
CREATE INDEX contacts_suppression_hash ON contacts (suppression_hash) WHERE suppression_hash IS NOT NULL; -- a bounce finds its contact
