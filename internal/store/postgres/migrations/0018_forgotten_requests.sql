-- A request whose data key was destroyed (ForgetRequest) says so, so that the repair after a
-- crash between the two files' commits can tell a forgotten request (its key must go) from one
-- whose key never committed (the request must go). Requests forgotten before this migration are
-- those without a key.
ALTER TABLE requests ADD COLUMN key_destroyed BIGINT NOT NULL DEFAULT 0;
UPDATE requests SET key_destroyed = 1 WHERE id NOT IN (SELECT contact_id FROM keystore.contact_keys);
