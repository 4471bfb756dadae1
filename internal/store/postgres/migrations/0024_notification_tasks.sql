-- To-dos for staff (issue 11): tell a recipient by hand of a change to a person's data it received
-- (GDPR Art. 19: a rectification, an erasure or a restriction), because it has no webhook or its
-- webhook gave up. Ids only, like webhook_deliveries: the task outlives an erased contact, so
-- contact_id is no foreign key. The note is staff's record of how the recipient was told.
CREATE TABLE notification_tasks (
    id           TEXT COLLATE "C" PRIMARY KEY,
    processor_id TEXT COLLATE "C" NOT NULL REFERENCES processors (id),
    contact_id   TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL, -- rectified, erased, restricted
    cause        TEXT COLLATE "C" NOT NULL, -- no_webhook, webhook_failed
    created_at   TEXT COLLATE "C" NOT NULL,
    done_at      TEXT COLLATE "C",
    done_by      TEXT COLLATE "C" NOT NULL DEFAULT '',
    note         TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX notification_tasks_open ON notification_tasks (id) WHERE done_at IS NULL;
CREATE INDEX notification_tasks_contact ON notification_tasks (contact_id, processor_id);
