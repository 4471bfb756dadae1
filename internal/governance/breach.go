package governance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// NotifyWithin is the time the supervisory authority must be notified in after the controller
// became aware of a breach (GDPR Art. 33(1)).
const NotifyWithin = 72 * time.Hour

// Risk levels of a breach (Art. 33(1): unlikely to result in a risk needs no notification;
// Art. 34(1): a high risk means the people are informed too).
const (
	RiskUnlikely = "unlikely"
	RiskRisk     = "risk"
	RiskHigh     = "high"
)

// Decisions on informing the people affected (Art. 34).
const (
	InformPending     = "pending"
	InformRequired    = "required"
	InformNotRequired = "not_required" // with the reason in measures (Art. 34(3))
)

// Breach is one personal data breach in the register, with the API's field names.
type Breach struct {
	ID                  string     `json:"id"`
	Title               string     `json:"title"`
	Description         string     `json:"description"`
	DetectedAt          time.Time  `json:"detected_at"`
	WindowFrom          *time.Time `json:"window_from,omitempty"` // when the incident may have started
	WindowTo            *time.Time `json:"window_to,omitempty"`
	ActorID             string     `json:"actor_id,omitempty"` // the token or command it went through
	Categories          []string   `json:"categories"`         // contact fields concerned
	PeopleAffected      int        `json:"people_affected"`    // approximate (Art. 33(3)(a))
	RecordsAffected     int        `json:"records_affected"`
	Risk                string     `json:"risk"`
	AuthorityNotifiedAt *time.Time `json:"authority_notified_at,omitempty"`
	InformPeople        string     `json:"inform_people"`
	PeopleInformedAt    *time.Time `json:"people_informed_at,omitempty"`
	Measures            string     `json:"measures"` // taken or proposed (Art. 33(3)(d))
	// LikelyConsequences describes the likely consequences of the breach (Art. 33(3)(c)), for
	// the authority and, in the notice, for the people (Art. 34(2)); "" until described.
	LikelyConsequences string    `json:"likely_consequences"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	Version            int       `json:"version"`
	// NotifyBy is DetectedAt + 72 h (GDPR Art. 33(1)). HoursLeft is the time from now (or, once
	// the authority is notified, from the notification) to NotifyBy in whole hours, truncated
	// toward zero: 1 h 59 m left is 1, 8 h 0 m 30 s late is -8, and less than an hour late is 0;
	// 0 for a breach unlikely to result in a risk. Late says whether NotifyBy has passed (or
	// passed before the notification); it is the flag to read, as HoursLeft 0 can be late.
	NotifyBy  time.Time `json:"notify_by"`
	HoursLeft int       `json:"hours_left"`
	Late      bool      `json:"late"`
}

// BreachInput is the body of POST /api/v1/breaches; a PATCH sends the fields to change.
type BreachInput struct {
	Title       *string    `json:"title"`
	Description *string    `json:"description"`
	DetectedAt  *time.Time `json:"detected_at"`
	WindowFrom  *time.Time `json:"window_from"`
	WindowTo    *time.Time `json:"window_to"`
	// ActorID is a token id (revoked tokens too), another actor id of the audit log (a command
	// such as "import", a public page such as "subscribe"), or "processor:<id>" of a registered
	// processor (ended ones too) for a breach at a processor; "" for every actor.
	ActorID             *string    `json:"actor_id"`
	Categories          *[]string  `json:"categories"`
	PeopleAffected      *int       `json:"people_affected"` // default: counted from the audit log for the window
	RecordsAffected     *int       `json:"records_affected"`
	Risk                *string    `json:"risk"`
	AuthorityNotifiedAt *time.Time `json:"authority_notified_at"`
	InformPeople        *string    `json:"inform_people"`
	PeopleInformedAt    *time.Time `json:"people_informed_at"`
	Measures            *string    `json:"measures"`
	LikelyConsequences  *string    `json:"likely_consequences"` // at most 10,000 characters
	// Clear lists the fields a PATCH sent as null (JSON Merge Patch, RFC 7396): a notification
	// recorded by mistake is undone this way. window_from, window_to, authority_notified_at and
	// people_informed_at can be cleared.
	Clear []string `json:"-"`
}

// BreachTx is what the register needs from one store transaction.
type BreachTx interface {
	InsertBreach(ctx context.Context, b *Breach) error
	UpdateBreach(ctx context.Context, b *Breach) error // NotFound when absent
	BreachByID(ctx context.Context, id string) (*Breach, error)
	ListBreaches(ctx context.Context) ([]*Breach, error)
	// CountAffected counts, from the audit log, the distinct contacts and the events about
	// contacts between from and to (inclusive), by one actor id when actorID is not "".
	CountAffected(ctx context.Context, from, to time.Time, actorID string) (people, records int, err error)
	// ActorKnown reports whether id is the id of a token (revoked ones too) or the actor id of
	// any audit event (a command such as "import", a job such as "retention", a public page such
	// as "subscribe").
	ActorKnown(ctx context.Context, id string) (bool, error)
	// ProcessorKnown reports whether a processor with this id is registered (ended ones too).
	ProcessorKnown(ctx context.Context, id string) (bool, error)
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// BreachStore runs serialized transactions.
type BreachStore interface {
	Update(ctx context.Context, fn func(BreachTx) error) error
}

// Breaches keeps the breach register. Fields are set once by internal/app.
type Breaches struct {
	Store      BreachStore
	Now        func() time.Time
	NewID      func() string
	Controller consent.Controller
	// Policies, when set, supplies the published breach_notice_template that Notice drafts from.
	Policies *consent.Policies
}

// Create records a breach ("breach.create"). When a window is given and no counts are, the
// people and records affected are counted from the audit log (reads and changes of contacts in
// the window, by the actor when given). Invalid naming the field for an empty title, a
// detection time in the future, a window that ends before it starts, an unknown category or
// risk or decision, negative counts, or an actor_id that names no token, processor or audit log
// actor (reason unknown_actor: a mistyped id would otherwise count 0 people).
func (s *Breaches) Create(ctx context.Context, in BreachInput) (Breach, error) {
	now := s.Now().UTC()
	b := &Breach{ID: s.NewID(), Risk: RiskRisk, InformPeople: InformPending, Categories: []string{}, CreatedAt: now, UpdatedAt: now, Version: 1, DetectedAt: now}
	var out Breach
	err := s.Store.Update(ctx, func(tx BreachTx) error {
		if err := s.apply(ctx, tx, b, in, now); err != nil {
			return err
		}
		if err := tx.InsertBreach(ctx, b); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "breach.create", "breach", b.ID, "risk", "people_affected", "records_affected")
		out = s.view(*b, now)
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// Update changes the fields sent ("breach.update"): typically the notification of the authority,
// the decision on informing people and when they were. Errors as Create; NotFound for an unknown
// breach.
func (s *Breaches) Update(ctx context.Context, id string, in BreachInput) (Breach, error) {
	now := s.Now().UTC()
	var out Breach
	err := s.Store.Update(ctx, func(tx BreachTx) error {
		b, err := tx.BreachByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.apply(ctx, tx, b, in, now); err != nil {
			return err
		}
		b.UpdatedAt, b.Version = now, b.Version+1
		if err := tx.UpdateBreach(ctx, b); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "breach.update", "breach", b.ID)
		out = s.view(*b, now)
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// Get returns one breach with its deadline; NotFound when absent.
func (s *Breaches) Get(ctx context.Context, id string) (Breach, error) {
	var out Breach
	err := s.Store.Update(ctx, func(tx BreachTx) error {
		b, err := tx.BreachByID(ctx, id)
		if err == nil {
			out = s.view(*b, s.Now())
		}
		return err
	})
	return out, err
}

// List returns the register, most recently detected first.
func (s *Breaches) List(ctx context.Context) ([]Breach, error) {
	out := []Breach{}
	err := s.Store.Update(ctx, func(tx BreachTx) error {
		bs, err := tx.ListBreaches(ctx)
		for _, b := range bs {
			out = append(out, s.view(*b, s.Now()))
		}
		return err
	})
	return out, err
}

// view adds the deadline fields at now.
func (s *Breaches) view(b Breach, now time.Time) Breach {
	b.NotifyBy = b.DetectedAt.Add(NotifyWithin)
	until := now
	if b.AuthorityNotifiedAt != nil {
		until = *b.AuthorityNotifiedAt
	}
	d := b.NotifyBy.Sub(until)
	b.HoursLeft = int(d / time.Hour) // truncated toward zero
	b.Late = d < 0 && b.Risk != RiskUnlikely
	if b.AuthorityNotifiedAt == nil && b.Risk == RiskUnlikely {
		b.HoursLeft = 0 // no notification is due (Art. 33(1))
	}
	return b
}

func (s *Breaches) apply(ctx context.Context, tx BreachTx, b *Breach, in BreachInput, now time.Time) error {
	for _, f := range in.Clear {
		switch f {
		case "window_from":
			b.WindowFrom = nil
		case "window_to":
			b.WindowTo = nil
		case "authority_notified_at":
			b.AuthorityNotifiedAt = nil
		case "people_informed_at":
			b.PeopleInformedAt = nil
		default:
			return apperr.Invalidf(f, "not_clearable", "%s: cannot be cleared", f)
		}
	}
	text := func(field string, v *string, dst *string, required bool, max int) error {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
		if required && *dst == "" {
			return apperr.Invalidf(field, "required", "%s: required", field)
		}
		if utf8.RuneCountInString(*dst) > max {
			return apperr.Invalidf(field, "too_long", "%s: at most %d characters", field, max)
		}
		return nil
	}
	if err := text("title", in.Title, &b.Title, true, 200); err != nil {
		return err
	}
	if err := text("description", in.Description, &b.Description, false, 10000); err != nil {
		return err
	}
	if err := text("measures", in.Measures, &b.Measures, false, 10000); err != nil {
		return err
	}
	if err := text("likely_consequences", in.LikelyConsequences, &b.LikelyConsequences, false, 10000); err != nil {
		return err
	}
	if err := text("actor_id", in.ActorID, &b.ActorID, false, 100); err != nil {
		return err
	}
	if in.ActorID != nil && b.ActorID != "" {
		var known bool
		var err error
		if pid, ok := strings.CutPrefix(b.ActorID, "processor:"); ok {
			known, err = tx.ProcessorKnown(ctx, pid)
		} else {
			known, err = tx.ActorKnown(ctx, b.ActorID)
		}
		if err != nil {
			return err
		}
		if !known {
			return apperr.Invalidf("actor_id", "unknown_actor", "actor_id: no token, audit log actor or processor:<id> of a registered processor has this id")
		}
	}
	at := func(field string, v *time.Time, dst **time.Time) error {
		if v == nil {
			return nil
		}
		t := v.UTC()
		if t.After(now) {
			return apperr.Invalidf(field, "in_future", "%s: may not lie in the future", field)
		}
		*dst = &t
		return nil
	}
	if in.DetectedAt != nil {
		var d *time.Time
		if err := at("detected_at", in.DetectedAt, &d); err != nil {
			return err
		}
		b.DetectedAt = *d
	}
	for _, f := range []struct {
		name string
		v    *time.Time
		dst  **time.Time
	}{{"window_from", in.WindowFrom, &b.WindowFrom}, {"window_to", in.WindowTo, &b.WindowTo},
		{"authority_notified_at", in.AuthorityNotifiedAt, &b.AuthorityNotifiedAt}, {"people_informed_at", in.PeopleInformedAt, &b.PeopleInformedAt}} {
		if err := at(f.name, f.v, f.dst); err != nil {
			return err
		}
	}
	if b.AuthorityNotifiedAt != nil && b.AuthorityNotifiedAt.Before(b.DetectedAt) {
		return apperr.Invalidf("authority_notified_at", "before_detection", "authority_notified_at: before detected_at")
	}
	if b.WindowFrom != nil && b.WindowTo != nil && b.WindowTo.Before(*b.WindowFrom) {
		return apperr.Invalidf("window_to", "before_start", "window_to: the window ends before it starts")
	}
	if in.Categories != nil {
		b.Categories = []string{}
		for _, c := range *in.Categories {
			if !slices.Contains(contact.Columns, c) {
				return apperr.Invalidf("categories", "unknown_field", "categories: %q is not a contact field (%s)", c, strings.Join(contact.Columns, ", "))
			}
			b.Categories = append(b.Categories, c)
		}
	}
	if in.Risk != nil {
		if !slices.Contains([]string{RiskUnlikely, RiskRisk, RiskHigh}, *in.Risk) {
			return apperr.Invalidf("risk", "invalid_risk", "risk: unlikely, risk or high")
		}
		b.Risk = *in.Risk
	}
	if in.InformPeople != nil {
		if !slices.Contains([]string{InformPending, InformRequired, InformNotRequired}, *in.InformPeople) {
			return apperr.Invalidf("inform_people", "invalid_decision", "inform_people: pending, required or not_required")
		}
		b.InformPeople = *in.InformPeople
	}
	for _, n := range []struct {
		name string
		v    *int
		dst  *int
	}{{"people_affected", in.PeopleAffected, &b.PeopleAffected}, {"records_affected", in.RecordsAffected, &b.RecordsAffected}} {
		if n.v != nil {
			if *n.v < 0 {
				return apperr.Invalidf(n.name, "negative", "%s: 0 or more", n.name)
			}
			*n.dst = *n.v
		}
	}
	windowSet := in.WindowFrom != nil || in.WindowTo != nil || in.ActorID != nil
	if windowSet && b.WindowFrom != nil && in.PeopleAffected == nil && in.RecordsAffected == nil {
		to := now
		if b.WindowTo != nil {
			to = *b.WindowTo
		}
		people, records, err := tx.CountAffected(ctx, *b.WindowFrom, to, b.ActorID)
		if err != nil {
			return err
		}
		b.PeopleAffected, b.RecordsAffected = people, records
	}
	return nil
}

// BreachPlaceholders are the placeholders Notice fills in a breach_notice_template, each
// written as {{name}}; CheckTemplate refuses any other. {{breach.detected_at}} is the date the
// breach was detected ("2 January 2006", UTC); {{breach.categories}} the contact fields
// concerned, comma-separated; {{dpo}} the DPO's address, or the controller's without one.
var BreachPlaceholders = []string{"breach.title", "breach.description", "breach.detected_at", "breach.categories",
	"breach.likely_consequences", "breach.measures", "dpo", "controller.name", "controller.email"}

// Notice drafts the communication to the people affected (GDPR Art. 34(2), referring to Art.
// 33(3)(b)–(d)): what happened, which data, the contact point, the likely consequences and the
// measures, as plain text. It is drafted from the published breach_notice_template in force,
// with the BreachPlaceholders filled in, or else from the built-in text; a likely consequence or
// measure not yet described reads as a bracketed note to write it. The controller reviews the
// draft before sending. Errors only from reading the policies.
func (s *Breaches) Notice(ctx context.Context, b Breach) (string, error) {
	contact := s.Controller.DPOEmail
	if contact == "" {
		contact = s.Controller.Email
	}
	consequences := b.LikelyConsequences
	if consequences == "" {
		consequences = "[describe the likely consequences for the people affected]"
	}
	measures := b.Measures
	if measures == "" {
		measures = "[describe the measures taken and what people can do to protect themselves]"
	}
	if s.Policies != nil {
		cur, err := s.Policies.Current(ctx)
		if err != nil {
			return "", err
		}
		if tmpl, ok := cur[consent.DocBreachNoticeTemplate]; ok {
			values := map[string]string{
				"breach.title": b.Title, "breach.description": b.Description, "breach.detected_at": b.DetectedAt.UTC().Format("2 January 2006"),
				"breach.categories": strings.Join(b.Categories, ", "), "breach.likely_consequences": consequences, "breach.measures": measures,
				"dpo": contact, "controller.name": s.Controller.Name, "controller.email": s.Controller.Email,
			}
			pairs := make([]string, 0, 2*len(BreachPlaceholders))
			for _, name := range BreachPlaceholders {
				pairs = append(pairs, "{{"+name+"}}", values[name])
			}
			return strings.NewReplacer(pairs...).Replace(tmpl.Body), nil
		}
	}
	var w strings.Builder
	fmt.Fprintf(&w, "Subject: A security incident concerning your personal data at %s\n\n", s.Controller.Name)
	fmt.Fprintf(&w, "On %s we found a security incident: %s.\n\n", b.DetectedAt.UTC().Format("2 January 2006"), b.Title)
	if b.Description != "" {
		w.WriteString(b.Description + "\n\n")
	}
	if len(b.Categories) > 0 {
		fmt.Fprintf(&w, "The data concerned: %s.\n\n", strings.Join(b.Categories, ", "))
	}
	w.WriteString("What this may mean for you: " + consequences + "\n\n")
	w.WriteString("What we have done and what we advise: " + measures + "\n\n")
	fmt.Fprintf(&w, "For questions, contact our data protection officer at %s. You may also lodge a complaint with a data protection supervisory authority (GDPR Art. 77).\n", contact)
	return w.String(), nil
}
