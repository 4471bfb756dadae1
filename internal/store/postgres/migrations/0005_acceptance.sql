-- Purposes that record the acceptance of a document (the terms of service): their events are
-- consent events like any other, carrying the accepted version.
ALTER TABLE purposes ADD COLUMN acceptance BIGINT NOT NULL DEFAULT 0;
