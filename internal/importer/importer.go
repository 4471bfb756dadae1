package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Tx is what an import needs from one store transaction: the contact and consent rules' needs,
// plus savepoints so that a refused row leaves nothing behind.
type Tx interface {
	contact.Tx
	consent.Tx
	// Savepoint runs fn so that, when fn fails, its writes are undone and the transaction goes on.
	Savepoint(ctx context.Context, fn func() error) error
}

// Store runs serialized read-write transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Importer applies import rows through the same contact and consent rules every other channel
// uses. Its fields are set once by internal/cli.
type Importer struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Keys     *keys.Keyring
	Now      func() time.Time
	NewID    func() string
	// BatchSize is the number of rows committed per transaction (default 500).
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

// Report is the outcome of one import. Counts are of data rows; every refused row is listed with
// its line number and reason (never its values).
type Report struct {
	ID                string      `json:"id"`
	Name              string      `json:"name,omitempty"`
	Format            string      `json:"format"`
	Encoding          string      `json:"encoding"`
	Delimiter         string      `json:"delimiter"`
	Rows              int         `json:"rows"`
	Created           int         `json:"created"`               // new contacts
	ConsentsRecorded  int         `json:"consents_recorded"`     // consent events written
	Existing          int         `json:"existing"`              // rows whose contact already existed and needed nothing new
	Suppressed        int         `json:"suppressed"`            // rows not imported because the address is suppressed or consent was withdrawn
	SuppressionsAdded int         `json:"suppressions_added"`    // new suppression entries (unsubscribed, cleaned rows)
	SuppressionsKnown int         `json:"suppressions_existing"` // unsubscribed or cleaned rows already on the list
	Withdrawals       int         `json:"withdrawals"`           // withdrawals recorded for existing contacts
	Refused           int         `json:"refused"`
	Errors            []RowReport `json:"errors"`
}

// RowReport says why one row was refused.
type RowReport struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// Import reads a CSV stream and applies it. Memory stays flat in the number of rows. A refused row
// is reported and leaves no data behind; the rest of the batch goes on. An error that is not about
// a row (unreadable header, a store failure) stops the import: batches committed before it stay,
// each row in them whole.
func (im *Importer) Import(ctx context.Context, r io.Reader, opt Options) (Report, error) {
	rep := Report{ID: im.NewID(), Name: opt.Name, Format: opt.Format, Errors: []RowReport{}}
	if opt.Purpose == "" {
		opt.Purpose = "newsletter"
	}
	if opt.Kind == "" {
		opt.Kind = contact.KindContact
	}
	rd, err := NewReader(r, opt.Dialect)
	if err != nil {
		return rep, apperr.Invalidf("file", "unreadable", "file: %v", err)
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
		return rep, apperr.Invalidf("file", "bad_header", "header: %v", err)
	}
	batch := im.BatchSize
	if batch <= 0 {
		batch = 500
	}
	eof := false
	for !eof {
		err := im.Store.Update(ctx, func(tx Tx) error {
			for n := 0; n < batch; n++ {
				rec, err := rd.Next()
				if errors.Is(err, io.EOF) {
					eof = true
					return nil
				}
				if rerr := (*RowError)(nil); errors.As(err, &rerr) {
					rep.Rows++
					rep.refuse(rerr.Line, "", rerr.Reason)
					continue
				}
				if err != nil {
					return fmt.Errorf("import: read: %w", err)
				}
				rep.Rows++
				row, err := mapper.Map(rec)
				if rerr := (*RowError)(nil); errors.As(err, &rerr) {
					rep.refuse(rerr.Line, "", rerr.Reason)
					continue
				}
				if err != nil {
					return err
				}
				var out rowOutcome
				err = tx.Savepoint(ctx, func() error {
					var err error
					out, err = im.apply(ctx, tx, row, opt)
					return err
				})
				if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
					rep.refuse(row.Line, e.Field, e.Message)
					continue
				}
				if err != nil {
					return fmt.Errorf("import: line %d: %w", row.Line, err)
				}
				rep.add(out)
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		if opt.Progress != nil {
			opt.Progress(rep.Rows)
		}
	}
	err = im.Store.Update(ctx, func(tx Tx) error {
		ev := audit.New(ctx, im.Now(), "import.complete", "import", rep.ID)
		return tx.AppendAudit(ctx, &ev)
	})
	return rep, err
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

type rowOutcome struct {
	created, consent, existing, suppressed, suppressionAdded, suppressionKnown, withdrawal bool
}

func (rep *Report) refuse(line int, field, reason string) {
	rep.Refused++
	rep.Errors = append(rep.Errors, RowReport{Line: line, Field: field, Reason: reason})
}

func (rep *Report) add(o rowOutcome) {
	count := func(b bool, n *int) {
		if b {
			*n++
		}
	}
	count(o.created, &rep.Created)
	count(o.consent, &rep.ConsentsRecorded)
	count(o.existing, &rep.Existing)
	count(o.suppressed, &rep.Suppressed)
	count(o.suppressionAdded, &rep.SuppressionsAdded)
	count(o.suppressionKnown, &rep.SuppressionsKnown)
	count(o.withdrawal, &rep.Withdrawals)
}

// apply stores one row. Rules:
//   - subscribed (and pending): a suppressed address, or an existing contact whose consent for
//     the purpose was withdrawn or refused, is not imported (counted suppressed): an import never
//     lifts a suppression or a withdrawal. Otherwise the contact is created if new, and a
//     dpv:ConsentGiven event is recorded when the contact has no given consent yet (subscribed
//     rows only; pending rows record dpv:ConsentRequested).
//   - unsubscribed and cleaned: only a suppression entry (reasons unsubscribed, bounced) is kept;
//     no personal data is stored, since no lawful basis remains. When a contact with the address
//     already exists, a dpv:ConsentWithdrawn event is recorded for it (unsubscribed only).
//   - no status (generic): the contact is created if new and not suppressed; no consent.
func (im *Importer) apply(ctx context.Context, tx Tx, row Row, opt Options) (rowOutcome, error) {
	var out rowOutcome
	email, err := normalize.Email(row.Email)
	if err != nil {
		return out, err
	}
	supHash, err := im.Keys.BlindIndex(keys.IndexSuppression, normalize.Version, email)
	if err != nil {
		return out, err
	}
	idx, err := im.Keys.BlindIndex(keys.IndexEmail, normalize.Version, email)
	if err != nil {
		return out, err
	}
	existing, err := tx.ContactByEmailIndex(ctx, idx)
	found := err == nil
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return out, err
	}
	source := "import:" + opt.Format
	evidence := consent.Evidence{Source: fmt.Sprintf("%s import %s, line %d", opt.Format, opt.Name, row.Line)}

	switch row.Status {
	case StatusUnsubscribed, StatusCleaned:
		reason := consent.ReasonUnsubscribed
		if row.Status == StatusCleaned {
			reason = consent.ReasonBounced
		}
		_, known, err := consent.IsSuppressed(ctx, tx, supHash)
		if err != nil {
			return out, err
		}
		at := row.ChangedTime
		if at.IsZero() {
			at = im.Now()
		}
		if known {
			out.suppressionKnown = true
		} else {
			if err := tx.AddSuppression(ctx, consent.Suppression{Hash: supHash, Reason: reason, CreatedAt: at.UTC()}); err != nil {
				return out, err
			}
			out.suppressionAdded = true
		}
		if found && row.Status == StatusUnsubscribed {
			cur, err := tx.CurrentConsent(ctx, existing.ID, opt.Purpose)
			if err != nil && !apperr.Is(err, apperr.NotFound) {
				return out, err
			}
			if err == nil && cur.State != consent.Withdrawn {
				if _, err := im.Consent.RecordIn(ctx, tx, consent.Event{
					ContactID: existing.ID, Purpose: opt.Purpose, State: consent.Withdrawn,
					Method: consent.MethodImport, OccurredAt: at, Evidence: evidence,
				}); err != nil {
					return out, err
				}
				out.withdrawal = true
			}
		}
		return out, nil
	}

	if _, suppressed, err := consent.IsSuppressed(ctx, tx, supHash); err != nil {
		return out, err
	} else if suppressed {
		out.suppressed = true
		return out, nil
	}
	id := ""
	if found {
		id = existing.ID
		if row.Status == StatusNone {
			out.existing = true
			return out, nil
		}
		cur, err := tx.CurrentConsent(ctx, id, opt.Purpose)
		switch {
		case err == nil && (cur.State == consent.Withdrawn || cur.State == consent.Refused):
			out.suppressed = true
			return out, nil
		case err == nil && cur.State == consent.Given:
			out.existing = true
			return out, nil
		case err == nil && cur.State == consent.Requested && row.Status == StatusPending:
			out.existing = true
			return out, nil
		case err != nil && !apperr.Is(err, apperr.NotFound):
			return out, err
		}
		out.existing = true
	} else {
		in := contact.Input{
			Kind: opt.Kind, Email: email, FirstName: row.FirstName, LastName: row.LastName, Phone: row.Phone,
			Company: row.Company, Title: row.Title, Notes: row.Notes, Source: source, Tags: row.Tags,
			ExternalIDs: row.ExternalIDs,
		}
		if row.PostalCode != "" {
			in.Address = &contact.Address{PostalCode: row.PostalCode}
		}
		c, err := im.Contacts.CreateIn(ctx, tx, in)
		if err != nil {
			return out, err
		}
		id = c.ID
		out.created = true
	}
	if row.Status == StatusNone {
		return out, nil
	}
	ev := consent.Event{ContactID: id, Purpose: opt.Purpose, Evidence: evidence}
	ev.Evidence.OptinIP, ev.Evidence.ConfirmIP = row.OptinIP, row.ConfirmIP
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
	if _, err := im.Consent.RecordIn(ctx, tx, ev); err != nil {
		return out, err
	}
	out.consent = true
	return out, nil
}

// String renders the report for people.
func (rep Report) String() string {
	s := "import " + rep.ID
	if rep.Name != "" {
		s += " (" + rep.Name + ")"
	}
	s += fmt.Sprintf(": %d rows, %d created, %d consents recorded, %d existing, %d suppressed, %d suppressions added, %d already suppressed, %d withdrawals, %d refused\n",
		rep.Rows, rep.Created, rep.ConsentsRecorded, rep.Existing, rep.Suppressed, rep.SuppressionsAdded, rep.SuppressionsKnown, rep.Withdrawals, rep.Refused)
	for _, e := range rep.Errors {
		s += "  line " + strconv.Itoa(e.Line) + ": " + e.Reason + "\n"
	}
	return s
}
