-- The audit chain's head, kept in the key store file and moved in the same transaction as every
-- append: deleting events from the end of the log (which leaves a valid shorter chain) shows as
-- a head that no longer matches.
CREATE TABLE keystore.audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL
) STRICT;
INSERT INTO keystore.audit_anchor (id, seq, hash)
    SELECT 1, seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1;
