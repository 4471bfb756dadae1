-- Breach register (GDPR Art. 33(5), 34). Descriptions are the controller's account of the
-- incident and must not name people; counts of people and records affected come from the audit log.
CREATE TABLE breaches (
    id                    TEXT PRIMARY KEY,
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL,
    detected_at           TEXT NOT NULL,
    window_from           TEXT,
    window_to             TEXT,
    actor_id              TEXT NOT NULL DEFAULT '', -- the token or command the incident went through
    categories            TEXT NOT NULL,            -- comma-separated contact fields concerned
    people_affected       INTEGER NOT NULL,
    records_affected      INTEGER NOT NULL,
    risk                  TEXT NOT NULL,            -- unlikely, risk, high (Art. 33(1), 34(1))
    authority_notified_at TEXT,
    inform_people         TEXT NOT NULL,            -- pending, required, not_required (Art. 34(1), (3))
    people_informed_at    TEXT,
    measures              TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    version               INTEGER NOT NULL
) STRICT;
