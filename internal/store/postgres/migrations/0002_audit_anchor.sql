-- The audit chain's head, kept in the key store and moved in the same transaction as every
-- append: deleting events from the end of the log (which leaves a valid shorter chain) shows as
-- a head that no longer matches.
CREATE TABLE keystore.audit_anchor (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO keystore.audit_anchor (id, seq, hash)
    SELECT 1, seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1;
