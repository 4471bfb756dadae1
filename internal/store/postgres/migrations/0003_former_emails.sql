-- Suppression hashes of addresses a contact had before an e-mail change. They are personal data
-- (keyed, one-way) and go with the contact; erasure turns them into suppressions, so an old list
-- holding a former address cannot bring an erased person back.
CREATE TABLE contact_former_emails (
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (contact_id, hash)
);
