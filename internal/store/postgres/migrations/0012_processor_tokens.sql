-- Processor-scoped tokens (issue 6): a token of role "processor" names the one processor whose
-- shared contacts it may read.
ALTER TABLE tokens ADD COLUMN processor_id TEXT COLLATE "C" NOT NULL DEFAULT '';
