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
	// RestrictedAmong returns which of the contacts are restricted (GDPR Art. 18).
	RestrictedAmong(ctx context.Context, ids []string) (map[string]bool, error)
	// SuppressionReasons returns the reasons of the listed hashes, keyed by string(hash).
	SuppressionReasons(ctx context.Context, hashes [][]byte) (map[string]string, error)
	// CurrentConsentsFor returns the projected states for purpose, keyed by contact id.
	CurrentConsentsFor(ctx context.Context, contactIDs []string, purpose string) (map[string]consent.Current, error)
	InsertDataKeys(ctx context.Context, keys []contact.WrappedKey) error
	InsertContacts(ctx context.Context, recs []*contact.Record) error
	InsertConsentEvents(ctx context.Context, events []*consent.Event, evidence [][]byte) error
	PutCurrentConsents(ctx context.Context, cs []consent.Current) error
	AddSuppressions(ctx context.Context, ss []consent.Suppression) error
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
// in batches. Its fields are set once by internal/cli.
type Importer struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Keys     *keys.Keyring
	Now      func() time.Time
	NewID    func() string
	// BatchSize is the number of rows committed per transaction (default 1000).
	BatchSize int
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
	ID               string `json:"id"`
	Name             string `json:"name,omitempty"`
	Format           string `json:"format"`
	Encoding         string `json:"encoding"`
	Delimiter        string `json:"delimiter"`
	Rows             int    `json:"rows"`
	Created          int    `json:"created"`           // new contacts
	ConsentsRecorded int    `json:"consents_recorded"` // consent events written
	Existing         int    `json:"existing"`          // rows whose contact already existed and needed nothing new
	// Restricted counts subscribed or pending rows for a contact whose processing is restricted
	// (GDPR Art. 18): it changes only through a data subject request, so no consent is recorded.
	Restricted        int `json:"restricted"`
	Suppressed        int `json:"suppressed"`            // rows not imported because the address is suppressed or consent was withdrawn
	SuppressionsAdded int `json:"suppressions_added"`    // new suppression entries (unsubscribed, cleaned rows)
	SuppressionsKnown int `json:"suppressions_existing"` // unsubscribed or cleaned rows already on the list
	Withdrawals       int `json:"withdrawals"`           // withdrawals that became an existing contact's current state
	// OutdatedWithdrawals counts unsubscribed rows for contacts whose consent on record is newer
	// than the row's UNSUB_TIME: the withdrawal joins the history, the newer state stays current.
	OutdatedWithdrawals int `json:"outdated_withdrawals"`
	Refused             int `json:"refused"`
	// ErrorCounts counts the refused rows by RowReport.Code; the counts add up to Refused.
	ErrorCounts map[string]int `json:"error_counts"`
	// Errors lists the first MaxReportedErrors refused rows, in line order.
	Errors []RowReport `json:"errors"`
	// ErrorsTruncated is true when Errors lists fewer rows than Refused counts; the full list is
	// stored (Importer.RefusedRows, GET /api/v1/imports/{id}/errors).
	ErrorsTruncated bool `json:"errors_truncated"`
	// Complete is false when the import stopped before the end of the file; Stopped then says why
	// (client-safe). Every row counted above was stored whole; rows after them were not read.
	// UnmappedColumns lists header columns no field reads (generic format): their cells were not
	// imported. Map them with a mapping such as phone=Handy.
	UnmappedColumns []string `json:"unmapped_columns,omitempty"`
	Complete        bool     `json:"complete"`
	Stopped         string   `json:"stopped,omitempty"`
	// StoredThroughLine is the first physical line of the last row taken (stored or refused):
	// when the import stopped, every row that starts at or before it was taken, none after.
	StoredThroughLine int `json:"stored_through_line"`
}

// RowReport says why one row was refused: its first physical line in the file, the column or
// field concerned ("" for the whole row), the reason as a code (RowError codes, or the
// apperr.Error reason of the contact or consent rule: missing_at, too_long, …) and in words.
// It never holds a cell's value.
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
	rep := Report{ID: im.NewID(), Name: opt.Name, Format: opt.Format, Errors: []RowReport{}, ErrorCounts: map[string]int{}}
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
	if u, ok := mapper.(interface{ Unmapped() []string }); ok {
		rep.UnmappedColumns = u.Unmapped()
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
			err := im.Store.Update(ctx, func(tx Tx) error {
				return im.storeBatch(ctx, tx, b, opt, purpose, policies, &rep)
			})
			if err != nil {
				return im.stop(ctx, rep, err)
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
	index   []byte // e-mail blind index
	supHash []byte // suppression hash

	// For rows that may create a contact: the prepared contact and its consent event, or why the
	// contact could not be prepared (a refusal only if the contact turns out to be new).
	prep     *contact.Prepared
	prepErr  error
	event    consent.Event
	evidence []byte
	hasEvent bool
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
		it, err := im.prepareItem(ctx, row, opt, purpose)
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
// about the row (the key ring failed); row problems become refusals.
func (im *Importer) prepareItem(ctx context.Context, row Row, opt Options, purpose consent.Purpose) (item, error) {
	it := item{line: row.Line, row: row}
	email, err := normalize.Email(row.Email)
	if err != nil {
		e := apperr.As(err)
		if e == nil {
			return it, err
		}
		it.refusal = &RowReport{Line: row.Line, Field: e.Field, Code: e.Reason, Reason: e.Message}
		return it, nil
	}
	it.email = email
	if !row.OptinTime.IsZero() && !row.ConfirmTime.IsZero() && row.ConfirmTime.Before(row.OptinTime) {
		it.refusal = &RowReport{Line: row.Line, Field: "confirm_time", Code: "confirm_before_optin", Reason: "the confirmation time is before the opt-in time"}
		return it, nil
	}
	if it.index, err = im.Keys.BlindIndex(keys.IndexEmail, normalize.Version, email); err != nil {
		return it, err
	}
	if it.supHash, err = im.Keys.BlindIndex(keys.IndexSuppression, normalize.Version, email); err != nil {
		return it, err
	}
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
	it.prep, it.prepErr = im.Contacts.Prepare(in)
	if it.prepErr != nil {
		if apperr.KindOf(it.prepErr) != apperr.Invalid {
			return it, it.prepErr
		}
		return it, nil
	}
	if row.Status == StatusNone {
		return it, nil
	}
	ev := consentEvent(row, opt, purpose, it.prep.Contact.ID)
	it.event, it.evidence, err = im.Consent.Prepare(ctx, purpose, ev, it.prep.Key)
	if err != nil {
		if apperr.KindOf(err) != apperr.Invalid {
			return it, err
		}
		if e := apperr.As(err); e.Field == "occurred_at" {
			// The consent time comes from the file's opt-in (or confirmation, or last change)
			// column: name that, not the API's field.
			col := "optin_time"
			if opt.Format == FormatMailchimp {
				col = "OPTIN_TIME"
			}
			err = &apperr.Error{Kind: apperr.Invalid, Field: col, Reason: e.Reason, Message: col + strings.TrimPrefix(e.Message, "occurred_at")}
		}
		it.prep, it.prepErr = nil, err
		return it, nil
	}
	it.hasEvent = true
	return it, nil
}

// consentEvent builds the consent event a subscribed or pending row records, with Mailchimp's
// opt-in and confirmation proof as evidence.
func consentEvent(row Row, opt Options, purpose consent.Purpose, contactID string) consent.Event {
	ev := consent.Event{ContactID: contactID, Purpose: purpose.ID, Evidence: consent.Evidence{
		Source: fmt.Sprintf("%s import %s, line %d", opt.Format, opt.Name, row.Line), OptinIP: row.OptinIP, ConfirmIP: row.ConfirmIP,
	}}
	if !row.OptinTime.IsZero() {
		t := row.OptinTime
		ev.Evidence.OptinTime = &t
	}
	if !row.ConfirmTime.IsZero() {
		t := row.ConfirmTime
		ev.Evidence.ConfirmTime = &t
	}
	switch {
	case row.Status == StatusPending:
		ev.State, ev.Method, ev.OccurredAt = consent.Requested, consent.MethodImport, row.OptinTime
	case !row.ConfirmTime.IsZero():
		ev.State, ev.Method, ev.OccurredAt = consent.Given, consent.MethodDoubleOptIn, row.ConfirmTime
	default:
		ev.State, ev.Method, ev.OccurredAt = consent.Given, consent.MethodImport, row.OptinTime
	}
	if ev.OccurredAt.IsZero() {
		// No opt-in time in the source: the row's last change is the best evidence there is, and
		// without one the event says plainly that its time is the import's.
		ev.OccurredAt = row.ChangedTime
		if ev.OccurredAt.IsZero() {
			ev.Evidence.Note = "the source gives no opt-in time; occurred_at is the time of the import"
		} else {
			ev.Evidence.Note = "the source gives no opt-in time; occurred_at is the source's last change of the row"
		}
	}
	return ev
}

// pending collects a batch's writes in row order.
type pending struct {
	keys         []contact.WrappedKey
	contacts     []*contact.Record
	events       []*consent.Event
	evidence     [][]byte
	current      map[string]consent.Current // by contact id: the batch's last projection
	currentOrder []string
	suppressions []consent.Suppression
	audit        []*audit.Event
	changes      []consent.Change // for processors: every event that became the current state
}

// storeBatch applies the import rules to a batch against the store's state plus the batch's own
// earlier rows:
//   - subscribed (and pending): a suppressed address, or an existing contact whose consent for
//     the purpose was withdrawn or refused, is not imported (counted suppressed): an import never
//     lifts a suppression or a withdrawal. Otherwise the contact is created if new, and a
//     dpv:ConsentGiven event is recorded when the contact has no given consent yet (pending rows
//     record dpv:ConsentRequested).
//   - unsubscribed and cleaned: only a suppression entry (reasons unsubscribed, bounced) is kept;
//     no personal data is stored, since no lawful basis remains. When a contact with the address
//     already exists, a dpv:ConsentWithdrawn event is recorded for it (unsubscribed only).
//   - no status (generic): the contact is created if new and not suppressed; no consent.
func (im *Importer) storeBatch(ctx context.Context, tx Tx, b batch, opt Options, purpose consent.Purpose, policies consent.PolicyState, rep *Report) error {
	var idx, sup [][]byte
	for _, it := range b.items {
		if it.refusal == nil {
			idx, sup = append(idx, it.index), append(sup, it.supHash)
		}
	}
	ids, err := tx.ContactIDsByEmailIndex(ctx, idx)
	if err != nil {
		return err
	}
	suppressed, err := tx.SuppressionReasons(ctx, sup)
	if err != nil {
		return err
	}
	existing := make([]string, 0, len(ids))
	for _, id := range ids {
		existing = append(existing, id)
	}
	current, err := tx.CurrentConsentsFor(ctx, existing, purpose.ID)
	if err != nil {
		return err
	}
	restricted, err := tx.RestrictedAmong(ctx, existing)
	if err != nil {
		return err
	}
	newKeys := map[string]*keys.DataKey{} // contacts created in this batch
	p := pending{current: map[string]consent.Current{}}
	var out Report // this batch's counts, added to rep only when the batch commits

	record := func(ev consent.Event, sealed []byte) (changed bool) {
		var cur *consent.Current
		if c, ok := current[ev.ContactID]; ok {
			cur = &c
		}
		next, changed := consent.Project(ev, purpose, cur)
		if changed {
			// Imported consent records no policy version (the person saw the old system's
			// notice): after a material change of ours it needs re-consent, like any other.
			next.NeedsReconsent = ev.State == consent.Given && policies.Stale(purpose, ev.PolicyVersions)
			p.changes = append(p.changes, consent.ChangeFor(ev))
			current[ev.ContactID] = next
			if _, seen := p.current[ev.ContactID]; !seen {
				p.currentOrder = append(p.currentOrder, ev.ContactID)
			}
			p.current[ev.ContactID] = next
		}
		e := ev
		p.events = append(p.events, &e)
		p.evidence = append(p.evidence, sealed)
		a := consent.AuditEvent(ctx, e)
		p.audit = append(p.audit, &a)
		out.ConsentsRecorded++
		return changed
	}
	// recordFor prepares and records an event for a contact that exists (in the store or earlier
	// in this batch), opening its data key to seal the evidence. changed reports whether the event
	// became the current state.
	recordFor := func(id string, ev consent.Event) (changed bool, err error) {
		dk := newKeys[id]
		if dk == nil {
			version, wrapped, err := tx.DataKey(ctx, id)
			if err != nil {
				return false, err
			}
			if dk, err = im.Keys.OpenDataKey(id, version, wrapped); err != nil {
				return false, err
			}
		}
		ev, sealed, err := im.Consent.Prepare(ctx, purpose, ev, dk)
		if err != nil {
			return false, err
		}
		return record(ev, sealed), nil
	}

	for _, it := range b.items {
		out.Rows++
		if it.refusal != nil {
			out.refuse(*it.refusal)
			continue
		}
		row := it.row
		id, found := ids[string(it.index)]
		_, isSuppressed := suppressed[string(it.supHash)]
		switch row.Status {
		case StatusUnsubscribed, StatusCleaned:
			at := row.ChangedTime
			if at.IsZero() {
				at = im.Now()
			}
			if isSuppressed {
				out.SuppressionsKnown++
			} else {
				reason := consent.SuppressionUnsubscribed
				if row.Status == StatusCleaned {
					reason = consent.SuppressionBounced
				}
				p.suppressions = append(p.suppressions, consent.Suppression{Hash: it.supHash, Reason: reason, CreatedAt: at.UTC()})
				suppressed[string(it.supHash)] = reason
				out.SuppressionsAdded++
			}
			if found && row.Status == StatusUnsubscribed {
				if c, ok := current[id]; ok && c.State != consent.Withdrawn {
					ev := consentEvent(row, opt, purpose, id)
					ev.State, ev.Method, ev.OccurredAt = consent.Withdrawn, consent.MethodImport, at
					ev.Evidence = consent.Evidence{Source: ev.Evidence.Source}
					changed, err := recordFor(id, ev)
					if err != nil {
						return err
					}
					if changed {
						out.Withdrawals++
					} else {
						// The file's unsubscribe predates the consent on record: it joins the
						// history, the newer consent stays current (the address is suppressed).
						out.OutdatedWithdrawals++
					}
				}
			}
			continue
		}
		if isSuppressed {
			out.Suppressed++
			continue
		}
		if found && restricted[id] {
			out.Restricted++
			continue
		}
		if found {
			c, hasState := current[id]
			switch {
			case hasState && (c.State == consent.Withdrawn || c.State == consent.Refused):
				out.Suppressed++
			case row.Status == StatusNone,
				hasState && c.State == consent.Given,
				hasState && c.State == consent.Requested && row.Status == StatusPending:
				out.Existing++
			case hasState && row.OptinTime.IsZero() && row.ConfirmTime.IsZero():
				// A state is on record and the row has no time of its own: it cannot show that
				// consent came after that state (an expiry, say), so nothing is recorded.
				out.Existing++
			default:
				out.Existing++
				if _, err := recordFor(id, consentEvent(row, opt, purpose, id)); err != nil {
					return err
				}
			}
			continue
		}
		if it.prepErr != nil {
			e := apperr.As(it.prepErr)
			out.refuse(RowReport{Line: it.line, Field: e.Field, Code: e.Reason, Reason: e.Message})
			continue
		}
		pc := it.prep
		p.keys = append(p.keys, contact.WrappedKey{ContactID: pc.Contact.ID, Version: pc.Key.Version(), Wrapped: pc.WrappedKey, CreatedAt: pc.Contact.CreatedAt})
		p.contacts = append(p.contacts, pc.Record)
		a := pc.AuditEvent(ctx)
		p.audit = append(p.audit, &a)
		ids[string(it.index)] = pc.Contact.ID
		newKeys[pc.Contact.ID] = pc.Key
		out.Created++
		if it.hasEvent {
			record(it.event, it.evidence)
		}
	}

	if err := tx.InsertDataKeys(ctx, p.keys); err != nil {
		return err
	}
	if err := tx.InsertContacts(ctx, p.contacts); err != nil {
		return err
	}
	if err := tx.InsertConsentEvents(ctx, p.events, p.evidence); err != nil {
		return err
	}
	cur := make([]consent.Current, 0, len(p.currentOrder))
	for _, id := range p.currentOrder {
		cur = append(cur, p.current[id])
	}
	if err := tx.PutCurrentConsents(ctx, cur); err != nil {
		return err
	}
	if err := tx.AddSuppressions(ctx, p.suppressions); err != nil {
		return err
	}
	if err := tx.AppendConsentChanges(ctx, p.changes); err != nil {
		return err
	}
	if err := tx.AppendAudits(ctx, p.audit); err != nil {
		return err
	}
	// The batch's refused rows (at most one batch of them in memory) go to the store with the
	// batch; the report keeps counts and the first few.
	if err := tx.AddImportErrors(ctx, rep.ID, out.Errors); err != nil {
		return err
	}
	rep.add(out)
	return nil
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

func (rep *Report) add(o Report) {
	rep.Rows += o.Rows
	rep.Created += o.Created
	rep.ConsentsRecorded += o.ConsentsRecorded
	rep.Existing += o.Existing
	rep.Restricted += o.Restricted
	rep.Suppressed += o.Suppressed
	rep.SuppressionsAdded += o.SuppressionsAdded
	rep.SuppressionsKnown += o.SuppressionsKnown
	rep.Withdrawals += o.Withdrawals
	rep.OutdatedWithdrawals += o.OutdatedWithdrawals
	rep.Refused += o.Refused
	for _, e := range o.Errors {
		rep.ErrorCounts[e.Code]++
		if len(rep.Errors) < MaxReportedErrors {
			rep.Errors = append(rep.Errors, e)
		}
	}
	rep.ErrorsTruncated = len(rep.Errors) < rep.Refused
}

// String renders the report for people.
func (rep Report) String() string {
	s := "import " + rep.ID
	if rep.Name != "" {
		s += " (" + rep.Name + ")"
	}
	s += fmt.Sprintf(": %d rows, %d created, %d consents recorded, %d existing, %d suppressed, %d suppressions added, %d already suppressed, %d withdrawals, %d refused\n",
		rep.Rows, rep.Created, rep.ConsentsRecorded, rep.Existing, rep.Suppressed, rep.SuppressionsAdded, rep.SuppressionsKnown, rep.Withdrawals, rep.Refused)
	if rep.Restricted > 0 {
		s += fmt.Sprintf("  %d rows for restricted contacts (GDPR Art. 18): no consent recorded\n", rep.Restricted)
	}
	for _, e := range rep.Errors {
		s += "  line " + strconv.Itoa(e.Line) + ": " + e.Reason + "\n"
	}
	if rep.ErrorsTruncated {
		codes := slices.Sorted(maps.Keys(rep.ErrorCounts))
		counts := make([]string, len(codes))
		for i, c := range codes {
			counts[i] = fmt.Sprintf("%s %d", c, rep.ErrorCounts[c])
		}
		s += fmt.Sprintf("  … the first %d of %d refused rows (%s); all of them: GET /api/v1/imports/%s/errors\n",
			len(rep.Errors), rep.Refused, strings.Join(counts, ", "), rep.ID)
	}
	return s
}
