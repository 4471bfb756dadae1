-- The audit anchor carries a keyed MAC (a PRF of the key ring over its sequence number and
-- hash), so rewriting it in the key store to hide deleted events shows: writing both schemas is
-- not enough, the keysets are needed too. Anchors written before this have none until the next
-- start seals them.
ALTER TABLE keystore.audit_anchor ADD COLUMN mac BYTEA;
