package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Tx is what an import needs from one store transaction: the consent rules' needs plus bulk
// reads and writes, so a batch of rows costs a few statements instead of a dozen per row.
type Tx interface {
	consent.Tx
	// ContactIDsByEmailIndex returns the ids of the contacts that have these e-mail blind
	// indexes, keyed by string(index).
	ContactIDsByEmailIndex(ctx context.Context, idx [][]byte) (map[string]string, error)
	// RestrictedAmong returns which of the contacts are restricted (GDPR Art. 18) or on hold by
	// a verified, open erasure or restriction request (consent.Facts.Hold).
	RestrictedAmong(ctx context.Context, ids []string) (map[string]bool, error)
	// SuppressionReasons returns the reasons of the listed hashes, keyed by string(hash).
	SuppressionReasons(ctx context.Context, hashes [][]byte) (map[string]string, error)
	// PurposeUnsubscribesFor returns when those of the hashes that left purpose's list did,
	// keyed by string(hash).
	PurposeUnsubscribesFor(ctx context.Context, hashes [][]byte, purpose string) (map[string]time.Time, error)
	// CurrentConsentsFor returns the projected states for purpose, keyed by contact id.
	CurrentConsentsFor(ctx context.Context, contactIDs []string, purpose string) (map[string]consent.Current, error)
	InsertDataKeys(ctx context.Context, keys []contact.WrappedKey) error
	InsertContacts(ctx context.Context, recs []*contact.Record) error
	InsertConsentEvents(ctx context.Context, events []*consent.Event, evidence [][]byte) error
	PutCurrentConsents(ctx context.Context, cs []consent.Current) error
	AddSuppressions(ctx context.Context, ss []consent.Suppression) error
	// AddPurposeUnsubscribes records unsubscribes from purposes' lists; one recorded already
	// for an address and purpose keeps its time.
	AddPurposeUnsubscribes(ctx context.Context, us []consent.PurposeUnsubscribe) error
	// DeleteSuppression and MovePurposeUnsubscribes: consent.Rekey, for a contact created for
	// an address whose entries were made under an older key of the blind-index keyset.
	DeleteSuppression(ctx context.Context, hashes ...[]byte) error
	MovePurposeUnsubscribes(ctx context.Context, to []byte, from [][]byte) error
	AppendAudits(ctx context.Context, events []*audit.Event) error
	// StartImport records that import id (format, start time) began, before any of its rows is
	// stored. Conflict when the id is taken.
	StartImport(ctx context.Context, id, format string, at time.Time) error
	// AddImportErrors stores refused rows of import id, at most one per line; NotFound when
	// StartImport did not record the import.
	AddImportErrors(ctx context.Context, id string, rows []RowReport) error
	// ImportErrors returns up to limit refused rows of import id after line afterLine, in line
	// order; NotFound when no import has this id.
	ImportErrors(ctx context.Context, id string, afterLine, limit int) ([]RowReport, error)
}

// Store runs serialized read-write transactions and read-only ones.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Importer applies import rows with the same contact and consent rules every other channel uses
// (contact.Service.Prepare, consent.Service.Prepare, consent.Project and their audit events),
// in batches. Its fields are set once by internal/app.
type Importer struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Keys     *keys.Keyring
	Now      func() time.Time
	NewID    func() string
	// BatchSize is the number of rows committed per transaction (default 1000).
	BatchSize int
	// Counted, when set, is told after every committed batch how many of its rows were accepted
	// and how many refused (the metrics of internal/app count them). It must not block.
	Counted func(accepted, refused int)
}

// Formats the importer reads.
const (
	FormatMailchimp = "mailchimp"
	FormatGeneric   = "generic"
)

// Options describe one import.
type Options struct {
	Format  string            // FormatMailchimp or FormatGeneric
	Status  Status            // overrides the per-file status (mailchimp), or gives one (generic)
	Mapping map[string]string // generic: Row field → header column
	Dialect Dialect           // zero: detect
	Purpose string            // the purpose subscribed rows consent to (default "newsletter")
	Kind    contact.Kind      // kind of created records (default "contact")
	Name    string            // a label for the report and evidence, such as the file's base name
	// Progress, when set, is called after every committed batch with the rows read so far.
	Progress func(rows int)
}

// MaxReportedErrors is how many refused rows a Report lists: the first ones in line order. All
// of them are stored as the import runs and read with Importer.RefusedRows or RefusedCSV, so a
// report's size never grows with the number of refused rows.
const MaxReportedErrors = 100

// Report is the outcome of one import. Counts are of data rows; refused rows are counted by
// reason code, and the first MaxReportedErrors of them are listed with their line number, field
// and reason (never their values).
type Report struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Format    string `json:"format"`
	Encoding  string `json:"encoding"`
	Delimiter string `json:"delimiter"`
	Rows      int    `json:"rows"`
	Created   int    `json:"created"` // new contacts
	// Each counter below counts one kind of thing. The names kept from before (consents_recorded,
	// suppressions_added, suppressions_existing) count only their own kind now: a withdrawal,
	// a request and a list unsubscribe have counters of their own.
	//
	// ConsentsRecorded counts dpv:ConsentGiven events written (subscribed rows). Requests counts
	// dpv:ConsentRequested events written (pending rows: a double opt-in not yet confirmed).
	ConsentsRecorded int `json:"consents_recorded"`
	Requests         int `json:"requests"`
	Existing         int `json:"existing"` // rows whose contact already existed and needed nothing new
	// Restricted counts subscribed or pending rows for a contact whose processing is restricted
	// (GDPR Art. 18), or on hold by a verified, open erasure or restriction request: it changes
	// only through a data subject request, so no consent is recorded.
	Restricted int `json:"restricted"`
	// Suppressed counts subscribed, pending or status-less rows not imported because the
	// address is suppressed, left the purpose's list (in the store or earlier in the file), or the
	// contact withdrew or refused consent for the purpose.
	Suppressed int `json:"suppressed"`
	// SuppressionsAdded counts new address-wide suppressions (cleaned rows: the address bounced,
	// reason bounced); SuppressionsKnown counts cleaned rows whose address was suppressed
	// already.
	SuppressionsAdded int `json:"suppressions_added"`
	SuppressionsKnown int `json:"suppressions_existing"`
	// OutdatedSuppressions counts cleaned rows whose CLEAN_TIME is older than the person's own
	// confirmed double opt-in at the address, which was their way back (consent.Outdated): the
	// address is not suppressed again.
	OutdatedSuppressions int `json:"outdated_suppressions"`
	// ListUnsubscribes counts new unsubscribes from the import's purpose's list (unsubscribed
	// rows, consent.PurposeUnsubscribe: that purpose only, not a suppression);
	// ListUnsubscribesKnown counts unsubscribed rows whose address had left the list already.
	ListUnsubscribes      int `json:"list_unsubscribes"`
	ListUnsubscribesKnown int `json:"list_unsubscribes_existing"`
	// Withdrawals counts dpv:ConsentWithdrawn events of existing contacts that became their
	// current state for the import's purpose.
	Withdrawals int `json:"withdrawals"`
	// OutdatedWithdrawals counts unsubscribed rows for contacts whose consent on record is newer
	// than the row's UNSUB_TIME: the withdrawal joins the history, the newer state stays current.
	OutdatedWithdrawals int `json:"outdated_withdrawals"`
	// Objections counts objections (GDPR Art. 21) recorded for unsubscribed rows of existing
	// contacts when the import's purpose is not based on consent; each takes the row's time.
	Objections int `json:"objections"`
	// NeedsReconsent counts the consents this import recorded that need renewal already: a
	// material change of the privacy policy (or, for acceptance purposes, the terms) was
	// published, and an imported consent names no version of Tillit's documents, so it counts as
	// given before that change (consent.PolicyState.Stale). The gate refuses them (reason
	// needs_reconsent) until the person consents again; a consent_request campaign asks them.
	NeedsReconsent int `json:"needs_reconsent"`
	// Expired counts the consents this import recorded that are expired already: given longer
	// ago than the purpose's consent_valid_days (consent.Purpose.Lapsed). The gate refuses them
	// (reason expired) until the person consents again.
	Expired int `json:"expired"`
	Refused int `json:"refused"`
	// ErrorCounts counts the refused rows by RowReport.Code; the counts add up to Refused.
	ErrorCounts map[string]int `json:"error_counts"`
	// Errors lists the first MaxReportedErrors refused rows, in line order.
	Errors []RowReport `json:"errors"`
	// ErrorsTruncated is true when Errors lists fewer rows than Refused counts; the full list is
	// stored (Importer.RefusedRows, GET /api/v1/imports/{id}/errors).
	ErrorsTruncated bool `json:"errors_truncated"`
	// LeftOut counts the cells of stored rows that were left out because the contact rules
	// refused them (a phone number that cannot be normalized, a name over the length limit, a
	// cell that is not valid UTF-8, …): an optional field never costs a person, so the row was
	// stored without it. WarningCounts counts them by RowReport.Code (the counts add up to
	// LeftOut); Warnings lists the first MaxReportedErrors, in line order, each naming the
	// file's column; WarningsTruncated is true when it lists fewer than LeftOut.
	LeftOut           int            `json:"fields_left_out"`
	WarningCounts     map[string]int `json:"warning_counts"`
	Warnings          []RowReport    `json:"warnings"`
	WarningsTruncated bool           `json:"warnings_truncated"`
	// UnmappedColumns lists the header's columns no field reads, whatever the format and options:
	// their cells were not imported. In a generic file, map one with a mapping such as
	// phone=Handy.
	UnmappedColumns []string `json:"unmapped_columns"`
	// Complete is false when the import stopped before the end of the file; Stopped then says why
	// (client-safe). Every row counted above was stored whole; rows after them were not read.
	Complete bool   `json:"complete"`
	Stopped  string `json:"stopped,omitempty"`
	// StoredThroughLine is the first physical line of the last row taken (stored or refused):
	// when the import stopped, every row that starts at or before it was taken, none after.
	StoredThroughLine int `json:"stored_through_line"`
}

// RowReport says why one row was refused, or (in Report.Warnings) why one of its cells was left
// out: its first physical line in the file, the file's column concerned, as its header writes
// it ("" for the whole row; an option such as "purpose" when the import's option is at fault),
// the reason as a code (RowError codes, or the apperr.Error reason of the contact or consent
// rule: region_required, too_long, in_future, …) and in words, starting with the column. It
// never holds a cell's value.
type RowReport struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Import reads a CSV stream and applies it. Memory stays flat in the number of rows: one
// goroutine reads, maps, normalizes and seals the next batch while the caller's goroutine stores
// the current one. A refused row is reported and leaves no data behind; the rest goes on. An
// error that is not about a row (unreadable header, a store failure) stops the import: batches
// committed before it stay, each row in them whole.
func (im *Importer) Import(ctx context.Context, r io.Reader, opt Options) (Report, error) {
	rep := Report{ID: im.NewID(), Name: opt.Name, Format: opt.Format, Errors: []RowReport{}, ErrorCounts: map[string]int{},
		Warnings: []RowReport{}, WarningCounts: map[string]int{}, UnmappedColumns: []string{}}
	if opt.Purpose == "" {
		opt.Purpose = "newsletter"
	}
	if opt.Kind == "" {
		opt.Kind = contact.KindContact
	}
	rd, err := NewReader(r, opt.Dialect)
	if err != nil {
		e := apperr.Invalidf("file", "unreadable", "file: %v", err)
		if in := apperr.As(err); in != nil && in.Kind == apperr.Invalid {
			e.Reason = in.Reason // empty_file, too_many_columns, …
		}
		return rep, e
	}
	rep.Encoding = rd.Dialect().Encoding
	rep.Delimiter = string(rd.Dialect().Delimiter)
	var mapper Mapper
	switch opt.Format {
	case FormatMailchimp:
		mapper, err = NewMailchimpMapper(rd.Header(), opt.Status)
	case FormatGeneric:
		mapper, err = NewGenericMapper(rd.Header(), opt.Mapping)
		if err == nil && opt.Status != StatusNone {
			mapper = statusOverride{mapper, opt.Status}
		}
	default:
		return rep, apperr.Invalidf("format", "invalid_format", "format: must be mailchimp or generic")
	}
	if err != nil {
		if e := apperr.As(err); e != nil {
			return rep, e
		}
		return rep, apperr.Invalidf("file", "bad_header", "header: %v", err)
	}
	if u := mapper.Unmapped(); u != nil {
		rep.UnmappedColumns = u
	}
	var purpose consent.Purpose
	var policies consent.PolicyState
	err = im.Store.Update(ctx, func(tx Tx) error {
		var err error
		if purpose, err = tx.PurposeByID(ctx, opt.Purpose); err != nil {
			return err
		}
		vs, err := tx.PolicyVersions(ctx)
		if err != nil {
			return err
		}
		policies = consent.LoadPolicyState(vs, im.Now())
		return tx.StartImport(ctx, rep.ID, opt.Format, im.Now())
	})
	if apperr.Is(err, apperr.NotFound) {
		return rep, apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
	}
	if err != nil {
		return rep, err
	}
	size := im.BatchSize
	if size <= 0 {
		size = 1000
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by Import: it cancels and waits for it before returning
		defer wg.Done()
		defer close(batches)
		for {
			b := im.prepareBatch(ctx, rd, mapper, opt, purpose, size)
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil || b.eof {
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	for b := range batches {
		// The rows read before a line that stops the file are stored too (and their refusals
		// listed): a stopped import has taken every row before StoppedAtLine.
		if len(b.items) > 0 {
			rows, refused := rep.Rows, rep.Refused
			err := im.Store.Update(ctx, func(tx Tx) error {
				return im.storeBatch(ctx, tx, b, mapper, opt, purpose, policies, &rep)
			})
			if err != nil {
				return im.stop(ctx, rep, err)
			}
			if im.Counted != nil {
				refused = rep.Refused - refused
				im.Counted(rep.Rows-rows-refused, refused)
			}
			rep.StoredThroughLine = b.items[len(b.items)-1].line
			if opt.Progress != nil {
				opt.Progress(rep.Rows)
			}
		}
		if b.err != nil {
			return im.stop(ctx, rep, b.err)
		}
		if b.eof {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return im.stop(ctx, rep, err)
	}
	rep.Complete = true
	return rep, im.finish(ctx, rep.ID, "import.complete")
}

// stop ends an import that could not go on: the report says so and why, and an audit event
// "import.stopped" records it (even when ctx was cancelled, for example by a client that went away).
func (im *Importer) stop(ctx context.Context, rep Report, err error) (Report, error) {
	rep.Complete = false
	rep.Stopped = "the import stopped after the rows counted here; the file could not be read further"
	if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
		rep.Stopped = e.Message
	} else if errors.Is(err, context.Canceled) {
		rep.Stopped = "the import was cancelled (the client went away or the server is stopping)"
	}
	if ferr := im.finish(context.WithoutCancel(ctx), rep.ID, "import.stopped"); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return rep, err
}

func (im *Importer) finish(ctx context.Context, id, action string) error {
	return im.Store.Update(ctx, func(tx Tx) error {
		ev := audit.New(ctx, im.Now(), action, "import", id)
		return tx.AppendAudits(ctx, []*audit.Event{&ev})
	})
}

// batch is a run of rows read, mapped, normalized and (where they may create a contact) sealed,
// ready for one store transaction.
type batch struct {
	items []item
	eof   bool
	err   error // not about a row: stops the import
}

// item is one data row.
type item struct {
	line    int
	refusal *RowReport // the row was refused before the store saw it
	row     Row
	email   string // normalized
	index   []byte // e-mail blind index (the primary key's)
	supHash []byte // suppression hash (the primary key's)
	// indexes and supHashes are the two under every enabled key of the blind-index keyset, the
	// primary key's first (keys.Keyring.BlindIndexes): the store's state is read under each.
	indexes, supHashes [][]byte

	// For rows that may create a contact: the prepared contact and its consent event, or why the
	// contact could not be prepared (a refusal only if the contact turns out to be new).
	prep     *contact.Prepared
	prepErr  error
	event    consent.Event
	evidence []byte
	hasEvent bool
	// warnings are the row's cells left out of prep; reported when the contact is created.
	warnings []RowReport
}

func (im *Importer) prepareBatch(ctx context.Context, rd *Reader, mapper Mapper, opt Options, purpose consent.Purpose, size int) batch {
	var b batch
	for len(b.items) < size {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			b.eof = true
			return b
		}
		if rerr := (*RowError)(nil); errors.As(err, &rerr) {
			b.items = append(b.items, item{line: rerr.Line, refusal: rerr.report()})
			continue
		}
		if err != nil {
			b.err = fmt.Errorf("import: read: %w", err)
			return b
		}
		row, err := mapper.Map(rec)
		if rerr := (*RowError)(nil); errors.As(err, &rerr) {
			b.items = append(b.items, item{line: rerr.Line, refusal: rerr.report()})
			continue
		}
		if err != nil {
			b.err = err
			return b
		}
		it, err := im.prepareItem(ctx, row, opt, purpose, mapper)
		if err != nil {
			b.err = fmt.Errorf("import: line %d: %w", row.Line, err)
			return b
		}
		b.items = append(b.items, it)
	}
	return b
}

// prepareItem does the work that needs no store: normalization, blind indexes, and for rows
// that may create a contact the sealed contact and its consent event. Errors returned are not
// about the row (the key ring failed); row problems become refusals that name the file's column
// (mapper.Column), and optional cells the contact rules refuse become warnings.
func (im *Importer) prepareItem(ctx context.Context, row Row, opt Options, purpose consent.Purpose, mapper Mapper) (item, error) {
	it := item{line: row.Line, row: row}
	email, err := normalize.Email(row.Email)
	if err != nil {
		e := apperr.As(err)
		if e == nil {
			return it, err
		}
		col, reason := relabel(e, mapper.Column(FieldEmail))
		it.refusal = &RowReport{Line: row.Line, Field: col, Code: e.Reason, Reason: reason}
		return it, nil
	}
	it.email = email
	if !row.OptinTime.IsZero() && !row.ConfirmTime.IsZero() && row.ConfirmTime.Before(row.OptinTime) {
		col := mapper.Column(FieldConfirmTime)
		it.refusal = &RowReport{Line: row.Line, Field: col, Code: "confirm_before_optin",
			Reason: col + ": the confirmation time is before the opt-in time (" + mapper.Column(FieldOptinTime) + ")"}
		return it, nil
	}
	if it.indexes, err = im.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, email); err != nil {
		return it, err
	}
	if it.supHashes, err = im.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, email); err != nil {
		return it, err
	}
	it.index, it.supHash = it.indexes[0], it.supHashes[0]
	if row.Status == StatusUnsubscribed || row.Status == StatusCleaned {
		return it, nil
	}
	in := contact.Input{
		Kind: opt.Kind, Email: email, FirstName: row.FirstName, LastName: row.LastName, Phone: row.Phone,
		Company: row.Company, Title: row.Title, Notes: row.Notes, Source: "import:" + opt.Format, Tags: row.Tags,
		ExternalIDs: row.ExternalIDs,
	}
	if row.PostalCode != "" {
		in.Address = &contact.Address{PostalCode: row.PostalCode}
	}
	it.warnings = row.Warnings
	prep, warnings, err := im.prepareContact(in, row, mapper)
	it.warnings = append(it.warnings, warnings...)
	if err != nil {
		if apperr.KindOf(err) != apperr.Invalid {
			return it, err
		}
		e := apperr.As(err)
		col, reason := relabel(e, mapper.Column(e.Field))
		it.prepErr = &apperr.Error{Kind: apperr.Invalid, Field: col, Reason: e.Reason, Message: reason}
		return it, nil
	}
	it.prep = prep
	if row.Status == StatusNone {
		return it, nil
	}
	ev, timeCol := consentEvent(row, opt, purpose, it.prep.Contact.ID, mapper)
	it.event, it.evidence, err = im.Consent.Prepare(ctx, purpose, ev, it.prep.Key)
	if err != nil {
		if apperr.KindOf(err) != apperr.Invalid {
			return it, err
		}
		r := eventRefusal(row.Line, apperr.As(err), timeCol)
		it.prep, it.prepErr = nil, &apperr.Error{Kind: apperr.Invalid, Field: r.Field, Reason: r.Code, Message: r.Reason}
		return it, nil
	}
	it.hasEvent = true
	return it, nil
}

// eventRefusal is the row's refusal when the consent rules refuse its event: an occurred_at
// refusal (in_future, too_early) names the file's column the time was read from (timeCol).
func eventRefusal(line int, e *apperr.Error, timeCol string) RowReport {
	col, reason := e.Field, e.Message
	if e.Field == "occurred_at" && timeCol != "" {
		col, reason = relabel(e, timeCol)
	}
	return RowReport{Line: line, Field: col, Code: e.Reason, Reason: reason}
}

// source is the evidence's source of a row's event: "mailchimp import NAME, line N".
func source(row Row, opt Options) string {
	return fmt.Sprintf("%s import %s, line %d", opt.Format, opt.Name, row.Line)
}

// consentEvent builds the consent event a subscribed or pending row records, with Mailchimp's
// opt-in and confirmation proof as evidence, and returns the file's column its time was read
// from ("" when the time is the import's).
func consentEvent(row Row, opt Options, purpose consent.Purpose, contactID string, mapper Mapper) (consent.Event, string) {
	ev := consent.Event{ContactID: contactID, Purpose: purpose.ID, Evidence: consent.Evidence{
		Source: source(row, opt), OptinIP: row.OptinIP, ConfirmIP: row.ConfirmIP,
	}}
	if !row.OptinTime.IsZero() {
		t := row.OptinTime
		ev.Evidence.OptinTime = &t
	}
	if !row.ConfirmTime.IsZero() {
		t := row.ConfirmTime
		ev.Evidence.ConfirmTime = &t
	}
	col := mapper.Column(FieldOptinTime)
	switch {
	case row.Status == StatusPending:
		ev.State, ev.Method, ev.OccurredAt = consent.Requested, consent.MethodImport, row.OptinTime
	case !row.ConfirmTime.IsZero():
		ev.State, ev.Method, ev.OccurredAt = consent.Given, consent.MethodDoubleOptIn, row.ConfirmTime
		col = mapper.Column(FieldConfirmTime)
	default:
		ev.State, ev.Method, ev.OccurredAt = consent.Given, consent.MethodImport, row.OptinTime
	}
	if ev.OccurredAt.IsZero() {
		// No opt-in time in the source: the row's last change is the best evidence there is, and
		// without one the event says plainly that its time is the import's.
		ev.OccurredAt, col = row.ChangedTime, row.ChangedColumn
		if ev.OccurredAt.IsZero() {
			ev.Evidence.Note = "the source gives no opt-in time; occurred_at is the time of the import"
			col = ""
		} else {
			ev.Evidence.Note = "the source gives no opt-in time; occurred_at is the source's last change of the row"
		}
	}
	return ev, col
}

type statusOverride struct {
	Mapper
	status Status
}

func (s statusOverride) Map(rec Record) (Row, error) {
	row, err := s.Mapper.Map(rec)
	row.Status = s.status
	return row, err
}

// refuse counts a refused row and lists it; rep is one batch's report (storeBatch), whose list
// holds at most the batch.
func (rep *Report) refuse(r RowReport) {
	rep.Refused++
	rep.Errors = append(rep.Errors, r)
}

// warn counts and lists cells a stored row left out; rep is one batch's report.
func (rep *Report) warn(ws []RowReport) {
	rep.LeftOut += len(ws)
	rep.Warnings = append(rep.Warnings, ws...)
}

func (rep *Report) add(o Report) {
	rep.Rows += o.Rows
	rep.Created += o.Created
	rep.ConsentsRecorded += o.ConsentsRecorded
	rep.Requests += o.Requests
	rep.Existing += o.Existing
	rep.Restricted += o.Restricted
	rep.Suppressed += o.Suppressed
	rep.SuppressionsAdded += o.SuppressionsAdded
	rep.SuppressionsKnown += o.SuppressionsKnown
	rep.OutdatedSuppressions += o.OutdatedSuppressions
	rep.ListUnsubscribes += o.ListUnsubscribes
	rep.ListUnsubscribesKnown += o.ListUnsubscribesKnown
	rep.Withdrawals += o.Withdrawals
	rep.OutdatedWithdrawals += o.OutdatedWithdrawals
	rep.Objections += o.Objections
	rep.NeedsReconsent += o.NeedsReconsent
	rep.Expired += o.Expired
	rep.Refused += o.Refused
	for _, e := range o.Errors {
		rep.ErrorCounts[e.Code]++
		if len(rep.Errors) < MaxReportedErrors {
			rep.Errors = append(rep.Errors, e)
		}
	}
	rep.ErrorsTruncated = len(rep.Errors) < rep.Refused
	rep.LeftOut += o.LeftOut
	for _, w := range o.Warnings {
		rep.WarningCounts[w.Code]++
		if len(rep.Warnings) < MaxReportedErrors {
			rep.Warnings = append(rep.Warnings, w)
		}
	}
	rep.WarningsTruncated = len(rep.Warnings) < rep.LeftOut
}

// String renders the report for people: the counts, then what the marketer must know (consents
// needing renewal, columns not imported, cells left out, refused rows).
func (rep Report) String() string {
	s := "import " + rep.ID
	if rep.Name != "" {
		s += " (" + rep.Name + ")"
	}
	s += fmt.Sprintf(": %d rows, %d created, %d consents recorded, %d requests, %d existing, %d suppressed, %d refused\n",
		rep.Rows, rep.Created, rep.ConsentsRecorded, rep.Requests, rep.Existing, rep.Suppressed, rep.Refused)
	if n := rep.ListUnsubscribes + rep.ListUnsubscribesKnown + rep.Withdrawals + rep.OutdatedWithdrawals + rep.Objections; n > 0 {
		s += fmt.Sprintf("  unsubscribes from the list: %d new, %d known already; %d withdrawals, %d older than the consent on record, %d objections\n",
			rep.ListUnsubscribes, rep.ListUnsubscribesKnown, rep.Withdrawals, rep.OutdatedWithdrawals, rep.Objections)
	}
	if n := rep.SuppressionsAdded + rep.SuppressionsKnown + rep.OutdatedSuppressions; n > 0 {
		s += fmt.Sprintf("  bounced addresses suppressed: %d new, %d known already", rep.SuppressionsAdded, rep.SuppressionsKnown)
		if rep.OutdatedSuppressions > 0 {
			s += fmt.Sprintf("; %d older than the person's own later confirmed opt-in, not suppressed again", rep.OutdatedSuppressions)
		}
		s += "\n"
	}
	if rep.Restricted > 0 {
		s += fmt.Sprintf("  %d rows for restricted contacts (GDPR Art. 18): no consent recorded\n", rep.Restricted)
	}
	if rep.NeedsReconsent > 0 {
		s += fmt.Sprintf("  %d imported consents need renewal already (a material change of the privacy policy is published): ask them with a consent_request campaign\n", rep.NeedsReconsent)
	}
	if rep.Expired > 0 {
		s += fmt.Sprintf("  %d imported consents are expired already (older than the purpose's consent_valid_days): ask them with a consent_request campaign\n", rep.Expired)
	}
	if len(rep.UnmappedColumns) > 0 {
		s += "  columns not imported: " + strings.Join(rep.UnmappedColumns, ", ") + "\n"
	}
	s += listed("cells left out (the rows were stored without them)", rep.Warnings, rep.LeftOut, rep.WarningCounts, rep.WarningsTruncated, "")
	s += listed("refused rows", rep.Errors, rep.Refused, rep.ErrorCounts, rep.ErrorsTruncated, "; all of them: GET /api/v1/imports/"+rep.ID+"/errors")
	return s
}

// listed renders a report list: one line per entry, and the counts by code when the list is cut.
func listed(what string, list []RowReport, total int, counts map[string]int, truncated bool, more string) string {
	s := ""
	for _, e := range list {
		s += "  line " + strconv.Itoa(e.Line) + ": " + e.Reason + "\n"
	}
	if truncated {
		codes := slices.Sorted(maps.Keys(counts))
		cs := make([]string, len(codes))
		for i, c := range codes {
			cs[i] = fmt.Sprintf("%s %d", c, counts[c])
		}
		s += fmt.Sprintf("  … the first %d of %d %s (%s)%s\n", len(list), total, what, strings.Join(cs, ", "), more)
	}
	return s
}
