-- The commit markers of SQLite's ensureMarkers (sqlite/recover.go), one in each schema, created
-- when absent after the migrations, with the same starting values.
CREATE TABLE IF NOT EXISTS commit_marker (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    gen         BIGINT NOT NULL,
    anchor_seq  BIGINT, -- the anchor the last commit wrote, with its MAC (reconcile's target)
    anchor_hash BYTEA,
    anchor_mac  BYTEA
);
CREATE TABLE IF NOT EXISTS keystore.commit_marker (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    gen   BIGINT NOT NULL,
    bound BIGINT NOT NULL DEFAULT 0 -- 1 once a commit recorded its anchor in the data schema's marker
);
INSERT INTO commit_marker (id, gen) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;
INSERT INTO keystore.commit_marker (id, gen) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
