-- Issue 13: console sign-ins and the public forms' rate limits live in the database, so that every
-- node of a cluster sees them: a sign-in on one node holds on the others, signing out ends it on
-- all, and a client's posts count once whichever node takes them.
CREATE TABLE console_sessions (
    session_hash BYTEA PRIMARY KEY, -- SHA-256 of the session id the cookie carries
    token_hash   BYTEA NOT NULL,    -- the API token signed in with, as tokens.hash holds it
    expires_at   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE TABLE rate_windows (
    form         TEXT COLLATE "C" NOT NULL, -- the public form: subscribe, requests, dpa
    client       BYTEA NOT NULL,            -- keyed hash of the client's address (IPv6 by its /64)
    window_start TEXT COLLATE "C" NOT NULL,
    posts        BIGINT NOT NULL,
    PRIMARY KEY (form, client)
);
CREATE INDEX rate_windows_start ON rate_windows (window_start);
