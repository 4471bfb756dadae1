package governance

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/share"
)

// ROPA is the record of processing activities of a controller (GDPR Art. 30(1)).
type ROPA struct {
	GeneratedAt      time.Time  `json:"generated_at"`
	Controller       Controller `json:"controller"` // Art. 30(1)(a)
	Activities       []Activity `json:"activities"`
	SecurityMeasures []string   `json:"security_measures"` // Art. 30(1)(g), Art. 32(1)
	// RetentionPolicies are the erasure rules the sweep applies (Art. 30(1)(f), with each
	// activity's retention).
	RetentionPolicies []Policy `json:"retention_policies"`
}

// Controller is the name and contact details of the controller and its DPO (Art. 30(1)(a)).
type Controller struct {
	Name    string `json:"name"`
	Contact string `json:"contact,omitempty"`
	Email   string `json:"email,omitempty"`
	Address string `json:"address,omitempty"`
	DPO     string `json:"dpo,omitempty"`
}

// Activity is one purpose of processing with what Art. 30(1)(b)–(f) asks for.
type Activity struct {
	Purpose        string      `json:"purpose"`
	Name           string      `json:"name"`
	Description    string      `json:"description,omitempty"`
	LawfulBasis    string      `json:"lawful_basis"` // W3C DPV term
	Article        string      `json:"article"`      // "GDPR Art. 6(1)(a)"
	DataSubjects   []string    `json:"data_subjects"`
	DataCategories []string    `json:"data_categories"` // contact fields
	Recipients     []Recipient `json:"recipients"`      // Art. 30(1)(d)
	Transfers      []Recipient `json:"transfers"`       // outside the EEA, Art. 30(1)(e)
	// Retention is the envisaged time limit for erasure (Art. 30(1)(f)): the purpose's retention
	// and every retention policy that applies to it (RetentionText).
	Retention     string `json:"retention"`
	RetentionDays int    `json:"retention_days"` // the purpose's; 0 while the lawful basis lasts
	// RetentionPolicies are the ids of the retention policies that apply to the activity: those
	// scoped to its purpose and those scoped to no purpose (they apply to every purpose).
	RetentionPolicies []string `json:"retention_policies"`
}

// Recipient is a processor or controller data goes to for the purpose.
type Recipient struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Role              string   `json:"role"`
	Country           string   `json:"country"`
	TransferMechanism string   `json:"transfer_mechanism"`
	DPAStatus         string   `json:"dpa_status"`
	DataCategories    []string `json:"data_categories"` // the contact fields it may receive
}

var articles = map[string]string{
	consent.BasisConsent: "GDPR Art. 6(1)(a)", consent.BasisContract: "GDPR Art. 6(1)(b)", consent.BasisLegalObligation: "GDPR Art. 6(1)(c)",
	consent.BasisVitalInterest: "GDPR Art. 6(1)(d)", consent.BasisPublicTask: "GDPR Art. 6(1)(e)", consent.BasisLegitimateInterest: "GDPR Art. 6(1)(f)",
}

// securityMeasures is how Tillit keeps the data (Art. 32(1)); see README, How personal data is
// kept. Build adds what the store does with erased rows after the fifth.
var securityMeasures = []string{
	"every personal field encrypted with AES-256-GCM under a per-person data key, bound to table, column, row and key version",
	"data keys wrapped by a Tink keyset under a root key kept outside the database; erasure destroys the person's key",
	"lookups through keyed blind indexes (HMAC-SHA256) of normalized addresses and phone numbers; no plaintext index",
	"every read of personal data and every change audited in the same transaction, in a SHA-256 hash chain anchored in the key store",
	"role-based API tokens (admin, dpo, agent, auditor, processor-scoped), stored only as hashes",
	"consent checked at the moment of use (send, disclose, processor read), never only when a job is queued",
}

// Build assembles the record from the controller's details, the purposes, the register and the
// retention policies. Each purpose is one activity; its recipients are the processors engaged for
// it, those outside the EEA are its transfers, and its retention names the policies that apply
// to it (Art. 30(1)(f)).
//
// erasure says how the store makes an erased person's rows unrecoverable from its files (the
// backend's words: store.ErasureMeasure); empty leaves it out.
func Build(ctrl consent.Controller, purposes []consent.Purpose, processors []share.Processor, policies []Policy, erasure string, now time.Time) ROPA {
	if policies == nil {
		policies = []Policy{}
	}
	measures := slices.Clone(securityMeasures)
	if erasure != "" {
		measures = slices.Insert(measures, 5, erasure)
	}
	r := ROPA{GeneratedAt: now.UTC(), SecurityMeasures: measures, Activities: []Activity{}, RetentionPolicies: policies,
		Controller: Controller{Name: ctrl.Name, Contact: ctrl.Contact, Email: ctrl.Email, DPO: ctrl.DPOEmail,
			Address: strings.Join(nonEmpty(ctrl.Street, strings.TrimSpace(ctrl.PostalCode+" "+ctrl.Locality), ctrl.Country), ", ")}}
	for _, p := range purposes {
		a := Activity{Purpose: p.ID, Name: p.Name, Description: p.Description, LawfulBasis: p.LawfulBasis, Article: articles[p.LawfulBasis],
			DataSubjects:   []string{"leads (prospective customers)", "contacts (customers and their staff)"},
			DataCategories: slices.Clone(contact.Columns), Recipients: []Recipient{}, Transfers: []Recipient{}, RetentionDays: p.RetentionDays}
		a.Retention = RetentionText(p, policies)
		a.RetentionPolicies = []string{}
		for _, rp := range PoliciesFor(p.ID, policies) {
			a.RetentionPolicies = append(a.RetentionPolicies, rp.ID)
		}
		for _, pr := range processors {
			if !slices.Contains(pr.Purposes, p.ID) || pr.EndedAt != nil {
				continue
			}
			rc := Recipient{ID: pr.ID, Name: pr.Name, Role: string(pr.Role), Country: pr.Country, TransferMechanism: pr.TransferMechanism,
				DPAStatus: pr.EffectiveDPAStatus(now), DataCategories: slices.Clone(pr.DataCategories)}
			if rc.DataCategories == nil {
				rc.DataCategories = []string{}
			}
			a.Recipients = append(a.Recipients, rc)
			if !share.InEEA(pr.Country) {
				a.Transfers = append(a.Transfers, rc)
			}
		}
		r.Activities = append(r.Activities, a)
	}
	return r
}

// CSV renders the record as RFC 4180 CSV, one row per activity; lists are joined with "; ".
// Columns: purpose, name, lawful_basis, article, data_subjects, data_categories, recipients,
// transfers, retention (the activity's Retention, policies included), controller, dpo,
// security_measures, then description and retention_policies (each applying policy described,
// as in Retention), added last so that the earlier columns keep their places.
func (r ROPA) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	w.Write([]string{"purpose", "name", "lawful_basis", "article", "data_subjects", "data_categories", "recipients", "transfers", "retention", "controller", "dpo", "security_measures",
		"description", "retention_policies"})
	for _, a := range r.Activities {
		var applying []string
		for _, p := range r.RetentionPolicies {
			if slices.Contains(a.RetentionPolicies, p.ID) {
				applying = append(applying, p.Describe())
			}
		}
		row := []string{a.Purpose, a.Name, a.LawfulBasis, a.Article, strings.Join(a.DataSubjects, "; "), strings.Join(a.DataCategories, "; "),
			names(a.Recipients), transfers(a.Transfers), a.Retention, r.Controller.Name, r.Controller.DPO, strings.Join(r.SecurityMeasures, "; "),
			a.Description, strings.Join(applying, "; ")}
		for i := range row {
			row[i] = defuse(row[i])
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// defuse prefixes a cell a spreadsheet would run as a formula with a single quote (OWASP, CSV
// injection): one starting with =, +, -, @, a tab or a carriage return.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func names(rs []Recipient) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name + " (" + r.Role + ", " + r.Country + ", DPA " + r.DPAStatus + "; receives " + strings.Join(r.DataCategories, ", ") + ")"
	}
	return strings.Join(out, "; ")
}

func transfers(rs []Recipient) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name + " (" + r.Country + ", " + r.TransferMechanism + ")"
	}
	return strings.Join(out, "; ")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// PoliciesFor returns the retention policies that apply to data collected for purpose: those
// scoped to it and those scoped to no purpose, which erase contacts of their kind whatever they
// were collected for.
func PoliciesFor(purpose string, policies []Policy) []Policy {
	var out []Policy
	for _, p := range policies {
		if p.Purpose == "" || p.Purpose == purpose {
			out = append(out, p)
		}
	}
	return out
}

// Describe says in one line what the policy erases, for the record of processing activities and
// the privacy notice: "leads collected for newsletter: erased 7 days after their last consent
// event or change, with no consent in force (retention policy newsletter-unconfirmed)".
func (p Policy) Describe() string {
	who := string(p.Kind) + "s"
	if p.Purpose != "" {
		who += " collected for " + p.Purpose
	}
	return fmt.Sprintf("%s: erased %d days after their last consent event or change, with no consent in force (retention policy %s)", who, p.AfterDays, p.ID)
}

// RetentionText is how long data collected for purpose p is kept (GDPR Art. 30(1)(f), Art.
// 13(2)(a)): "N days" for a purpose with a retention period, else "while the lawful basis
// lasts", then, after "; ", each retention policy that applies (PoliciesFor) as Describe says.
func RetentionText(p consent.Purpose, policies []Policy) string {
	text := "while the lawful basis lasts"
	if p.RetentionDays > 0 {
		text = fmt.Sprintf("%d days", p.RetentionDays)
	}
	for _, rp := range PoliciesFor(p.ID, policies) {
		text += "; " + rp.Describe()
	}
	return text
}
