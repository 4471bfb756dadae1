-- Issue 11, item 3: an imported unsubscribe has the scope of its list. An `unsubscribed` row of an
-- import for a purpose withdraws that purpose only (as the unsubscribe link does). The address is
-- kept for that purpose as its keyed suppression hash (no personal data), so the unsubscribe
-- holds for a contact created later with the address: the gate reads it as a withdrawal of the
-- purpose until the person's own later consent, and imports never subscribe it to the purpose
-- again. `cleaned` (bounced) rows stay address-wide entries of suppressions.
CREATE TABLE purpose_unsubscribes (
    hash       BYTEA NOT NULL,                                     -- the address's suppression hash (contacts.suppression_hash)
    purpose_id TEXT COLLATE "C" NOT NULL REFERENCES purposes (id),
    at         TEXT COLLATE "C" NOT NULL,                          -- when the person unsubscribed (the file's UNSUB_TIME), UTC
    PRIMARY KEY (hash, purpose_id)
);

-- Issue 11, item 8: a campaign lists who was considered. Messages the walk queued are in the
-- outbox; the people the gate refused at queue time (counted in campaign_skips) are kept here by
-- contact id and reason, a few dozen bytes each instead of a sealed message. Erasing a contact
-- removes its rows.
CREATE TABLE campaign_skipped (
    campaign_id TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id  TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    reason      TEXT COLLATE "C" NOT NULL, -- as in campaign_skips
    PRIMARY KEY (campaign_id, contact_id)
);
CREATE INDEX campaign_skipped_contact ON campaign_skipped (contact_id);
-- The recipients list reads a campaign's outbox messages in contact id order.
CREATE INDEX outbox_campaign_contact ON outbox (campaign_id, contact_id) WHERE campaign_id <> '';
