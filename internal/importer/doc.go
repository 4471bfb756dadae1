// Package importer reads contact lists from CSV exports (Mailchimp audience exports and CSV
// files of any layout) into neutral Rows, one at a time. It parses only: it neither stores,
// normalizes e-mail addresses nor decides consent; its caller does.
//
// Invariants:
//   - Streaming: a Reader holds one record and fixed buffers (64 KiB for detection, records
//     capped at 1 MiB), so memory stays flat whatever the number of rows; a Mapper holds only
//     column indexes.
//   - Line numbers are physical lines of the file (1-based; \n, \r\n and a lone \r each end a
//     line, also inside quoted cells), so a report points at the line a person sees in an editor.
//   - A bad row never stops an import: it comes back as a *RowError with its starting line, and
//     the rows after it still come through. Only unreadable input (an I/O error, a record over
//     1 MiB) ends the stream.
//   - Errors never carry cell values, which are personal data: a RowError's Reason names the
//     column and the position, an *apperr.Error names the column or setting. Reports name the
//     file's own column as its header writes it (Mapper.Column), never an internal field.
//   - An optional field never costs a person: only the address, the status and the consent
//     evidence refuse a row; another cell the rules refuse is left out with a warning.
//   - An unsubscribe has the scope of its list (the import's purpose, consent.Purpose.Leaving);
//     only a bounce (cleaned) suppresses an address for every purpose.
//   - A Mailchimp row's status is its own: a Status cell, else its CLEAN_TIME or UNSUB_TIME cell
//     (mailchimpMapper.rowStatus), never only the header's columns; a row that says nothing
//     is refused, never read as a withdrawal or a consent.
//   - A record has at most MaxColumns cells: a wider header or row ends the stream as it is read.
//   - An import's Report stays the same size however many rows are refused: counts by reason and
//     the first MaxReportedErrors refused rows; every refused row goes to the store with its
//     batch and is read back a page at a time (Importer.RefusedRows, RefusedCSV).
//   - Every time in a Row is UTC; Mailchimp export times are read as UTC, as Mailchimp writes them.
//   - Strings in a Row are trimmed (white space, NBSP, zero-width space, byte order mark) and
//     otherwise kept as written.
package importer
