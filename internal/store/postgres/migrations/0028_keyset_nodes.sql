-- Key rotation online (tillit keys rotate): every serving process records which keys of the
-- keysets it has loaded (Tink key ids and statuses: no key material), at start, when it reloads
-- keysets.json and every few seconds, and removes its row when it stops. A rotation takes its
-- next step only once every live process has loaded the keysets as keysets.json now holds them
-- (Tink: add a key, roll it out to every node, only then make it primary).
CREATE TABLE keyset_nodes (
    id      TEXT COLLATE "C" PRIMARY KEY, -- random, one per process start
    host    TEXT COLLATE "C" NOT NULL,    -- the machine's host name
    pid     BIGINT NOT NULL,
    keysets TEXT COLLATE "C" NOT NULL,    -- JSON: keyset name → {primary, keys: [{id, status, primary}]}
    seen_at TEXT COLLATE "C" NOT NULL
);
