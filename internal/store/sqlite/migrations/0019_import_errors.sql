-- Import errors (issue 10): an import's report keeps counts per reason and the first 100 refused
-- rows; every refused row is stored here instead, in the transaction of the batch it was read in,
-- and read back as CSV (GET /api/v1/imports/{id}/errors). A row holds the line, the column or
-- field and the reason, never a cell's value. imports.no is the store's own key, so an error row
-- costs a few bytes of key instead of the 36-character id.
CREATE TABLE imports (
    no         INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    format     TEXT NOT NULL,
    started_at TEXT NOT NULL
) STRICT;
CREATE TABLE import_errors (
    import_no INTEGER NOT NULL REFERENCES imports (no) ON DELETE CASCADE,
    line      INTEGER NOT NULL, -- the refused row's first physical line in the file
    field     TEXT NOT NULL,    -- the column or field the reason is about; '' for the whole row
    code      TEXT NOT NULL,    -- the reason as a code (missing_at, malformed_row, ...)
    reason    TEXT NOT NULL,    -- the reason in words
    PRIMARY KEY (import_no, line)
) STRICT, WITHOUT ROWID;
