-- DPA requests (issue 6): a customer (a company) asks for the data processing agreement; the
-- request pins the dpa_template version it was rendered from and is tracked to signature.
CREATE TABLE dpa_requests (
    id               TEXT COLLATE "C" PRIMARY KEY,
    customer         TEXT COLLATE "C" NOT NULL, -- the company's name
    template_version BIGINT NOT NULL,
    status           TEXT COLLATE "C" NOT NULL, -- requested, sent, signed, declined
    signed_at        TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL,
    version          BIGINT NOT NULL
);
ALTER TABLE dpa_requests ADD COLUMN document TEXT COLLATE "C" NOT NULL DEFAULT ''; -- the agreement as signed (Markdown), frozen
CREATE INDEX contacts_suppression_hash ON contacts (suppression_hash) WHERE suppression_hash IS NOT NULL; -- a bounce finds its contact
