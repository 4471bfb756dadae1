-- Breach register (GDPR Art. 33(5), 34). Descriptions are the controller's account of the
-- incident and must not name people; counts of people and records affected come from the audit log.
CREATE TABLE breaches (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    title                 TEXT COLLATE "C" NOT NULL,
    description           TEXT COLLATE "C" NOT NULL,
    detected_at           TEXT COLLATE "C" NOT NULL,
    window_from           TEXT COLLATE "C",
    window_to             TEXT COLLATE "C",
    actor_id              TEXT COLLATE "C" NOT NULL DEFAULT '', -- the token or command the incident went through
    categories            TEXT COLLATE "C" NOT NULL,            -- comma-separated contact fields concerned
    people_affected       BIGINT NOT NULL,
    records_affected      BIGINT NOT NULL,
    risk                  TEXT COLLATE "C" NOT NULL,            -- unlikely, risk, high (Art. 33(1), 34(1))
    authority_notified_at TEXT COLLATE "C",
    inform_people         TEXT COLLATE "C" NOT NULL,            -- pending, required, not_required (Art. 34(1), (3))
    people_informed_at    TEXT COLLATE "C",
    measures              TEXT COLLATE "C" NOT NULL,
    created_at            TEXT COLLATE "C" NOT NULL,
    updated_at            TEXT COLLATE "C" NOT NULL,
    version               BIGINT NOT NULL
);
