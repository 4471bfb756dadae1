-- Issue 11 (ledger follow-up): tillit ledger export --since selected suppressions by created_at,
-- the event's time, which for an imported cleaned row is the file's CLEAN_TIME (often long
-- before the backup): such entries fell out of an export since the backup and the next import
-- after a restore subscribed the bounced address again. Entries now carry when Tillit recorded
-- them, which --since reads. Rows made before this migration get the migration's own time (as
-- SQLite's strftime writes it, see 0025): an export --since an earlier time carries them (replay
-- is idempotent, so one line too many changes nothing), none is left out.
ALTER TABLE suppressions ADD COLUMN recorded_at TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE suppressions SET recorded_at = to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '000000Z';
CREATE INDEX suppressions_recorded ON suppressions (recorded_at);
