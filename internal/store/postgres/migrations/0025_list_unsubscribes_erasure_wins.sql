-- Issue 11, item 1: the ledger carries imported list unsubscribes (purpose_unsubscribes), and
-- tillit ledger export --since selects them by when they were recorded, not by when the person
-- unsubscribed (the file's UNSUB_TIME, which may be years before the backup). Rows recorded
-- before this migration get the migration's own time (written as SQLite's
-- strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now') writes it: milliseconds, then six zeros): an export
-- --since an earlier time carries them (replay is idempotent, so one line too many changes
-- nothing), none is left out.
ALTER TABLE purpose_unsubscribes ADD COLUMN recorded_at TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE purpose_unsubscribes SET recorded_at = to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '000000Z';
CREATE INDEX purpose_unsubscribes_recorded ON purpose_unsubscribes (recorded_at);

-- Issue 11, item 2: erasure is the reason that wins. An address on the suppression list for
-- another reason (bounced, complained, unsubscribed, objected) when its person was erased kept
-- that reason, so re-creating it was not refused as erased and the texts that read the reason
-- said the wrong thing. Such an entry, made at or before an erasure in the ledger that names its
-- hash, becomes reason 'erased' at the erasure's time, as erasure now writes it
-- (consent.Suppress). An entry made after the erasure (the address came back by its person's
-- double opt-in and bounced since) is the new person's and keeps its reason. Erasures before 0021
-- recorded no hashes for addresses suppressed before them: those cannot be linked and stay.
UPDATE suppressions SET
    reason = 'erased',
    created_at = (
        SELECT max(e.erased_at) FROM erasure_ledger e, json_array_elements_text(e.suppression_hashes::json) AS j (value)
        WHERE j.value = encode(suppressions.hash, 'hex') AND e.erased_at >= suppressions.created_at
    )
WHERE reason <> 'erased' AND EXISTS (
    SELECT 1 FROM erasure_ledger e, json_array_elements_text(e.suppression_hashes::json) AS j (value)
    WHERE j.value = encode(suppressions.hash, 'hex') AND e.erased_at >= suppressions.created_at
);
