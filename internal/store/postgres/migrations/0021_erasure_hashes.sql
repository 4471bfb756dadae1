-- The erasure ledger carries the suppression hashes of the erased person's addresses (issue 11,
-- item 1), so a restore of a backup that never held the person still gets them back on the
-- suppression list and no import re-creates them. A JSON array of lower-case hex keyed hashes
-- (never an address).
ALTER TABLE erasure_ledger ADD COLUMN suppression_hashes TEXT COLLATE "C" NOT NULL DEFAULT '[]';

-- Erasures before this migration wrote their hashes to suppressions with reason 'erased' and the
-- erasure's own time, to the nanosecond: that time links them. The array is written as SQLite's
-- json_group_array writes it (no spaces; '[]' for none), in hash order.
UPDATE erasure_ledger SET suppression_hashes = (
    SELECT '[' || coalesce(string_agg('"' || encode(s.hash, 'hex') || '"', ',' ORDER BY s.hash), '') || ']'
    FROM suppressions s
    WHERE s.reason = 'erased' AND s.created_at = erasure_ledger.erased_at
);
