package contact

import (
	"encoding/json"
	"slices"
	"time"
)

// Kind tells a lead from a contact. Converting a lead keeps the id.
type Kind string

// The kinds.
const (
	KindLead    Kind = "lead"
	KindContact Kind = "contact"
)

// Address is a postal address; sealed as one field.
type Address struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country,omitempty"` // ISO 3166-1 alpha-2 when known
}

func (a *Address) empty() bool { return a == nil || *a == Address{} }

// Contact is one person, decrypted.
type Contact struct {
	ID          string            `json:"id"`
	Kind        Kind              `json:"kind"`
	Email       string            `json:"email,omitempty"` // normalized
	FirstName   string            `json:"first_name,omitempty"`
	LastName    string            `json:"last_name,omitempty"`
	Phone       string            `json:"phone,omitempty"` // E.164
	Company     string            `json:"company,omitempty"`
	Title       string            `json:"title,omitempty"`
	Address     *Address          `json:"address,omitempty"`
	Birthday    string            `json:"birthday,omitempty"` // YYYY-MM-DD
	Notes       string            `json:"notes,omitempty"`
	Source      string            `json:"source,omitempty"` // not personal: "api", "import:mailchimp"
	Custom      map[string]string `json:"custom,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	ExternalIDs map[string]string `json:"external_ids,omitempty"`
	Restricted  bool              `json:"restricted"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Version     int               `json:"version"`
}

// Table is the table whose name is bound into every field's associated data.
const Table = "contacts"

// Columns lists the sealed personal fields, by column name, in storage order.
var Columns = []string{"email", "first_name", "last_name", "phone", "company", "title", "address", "birthday", "notes", "custom", "tags", "external_ids"}

// Record is a contact as stored: personal fields sealed, lookups by blind index.
type Record struct {
	ID         string
	Kind       Kind
	KeyVersion int
	EmailIndex []byte // nil when the contact has no e-mail
	PhoneIndex []byte // nil when the contact has no phone
	// SuppressionHash is the keyed suppression-list hash of the e-mail (nil without one), so the
	// consent gate can check the suppression list without decrypting.
	SuppressionHash []byte
	// EmailIndexes and SuppressionHashes are the e-mail's blind index and suppression hash under
	// every enabled key of the blind-index keyset, the stored one (the primary key's) first, as
	// sealing made them (nil for a record read from the store): what a write looks up under
	// (another contact with the address, the erased check, Rekey). Not stored.
	EmailIndexes, SuppressionHashes [][]byte
	Sealed                          map[string][]byte // column name (from Columns) → ciphertext; absent or nil: empty
	Source                          string
	Restricted                      bool
	CreatedAt                       time.Time
	UpdatedAt                       time.Time
	Version                         int
}

// fieldWords names the sealed columns as the person reads them, in the order a sentence lists
// them; first and last name read as one.
var fieldWords = []struct {
	word string
	cols []string
}{
	{"name", []string{"first_name", "last_name"}}, {"e-mail address", []string{"email"}}, {"phone number", []string{"phone"}},
	{"postal address", []string{"address"}}, {"date of birth", []string{"birthday"}}, {"company", []string{"company"}},
	{"job title", []string{"title"}}, {"notes about you", []string{"notes"}}, {"labels on your record", []string{"tags"}},
	{"other details", []string{"custom"}}, {"ids in other systems", []string{"external_ids"}},
}

// FieldWords names the personal fields r holds as the person reads them ("name", "e-mail
// address", …), for an erasure receipt (GDPR Art. 12(1)). It decrypts nothing: a field is held
// when its sealed column is set.
func (r *Record) FieldWords() []string {
	var out []string
	for _, f := range fieldWords {
		if slices.ContainsFunc(f.cols, func(c string) bool { return len(r.Sealed[c]) > 0 }) {
			out = append(out, f.word)
		}
	}
	return out
}

// plainFields returns the personal fields of c by column name, encoded for sealing.
func (c *Contact) plainFields() map[string][]byte {
	m := map[string][]byte{
		"email": []byte(c.Email), "first_name": []byte(c.FirstName), "last_name": []byte(c.LastName),
		"phone": []byte(c.Phone), "company": []byte(c.Company), "title": []byte(c.Title),
		"birthday": []byte(c.Birthday), "notes": []byte(c.Notes),
	}
	if !c.Address.empty() {
		m["address"], _ = json.Marshal(c.Address)
	}
	if len(c.Custom) > 0 {
		m["custom"], _ = json.Marshal(c.Custom)
	}
	if len(c.Tags) > 0 {
		m["tags"], _ = json.Marshal(c.Tags)
	}
	if len(c.ExternalIDs) > 0 {
		m["external_ids"], _ = json.Marshal(c.ExternalIDs)
	}
	return m
}

func (c *Contact) setField(column string, v []byte) error {
	if len(v) == 0 {
		return nil
	}
	switch column {
	case "email":
		c.Email = string(v)
	case "first_name":
		c.FirstName = string(v)
	case "last_name":
		c.LastName = string(v)
	case "phone":
		c.Phone = string(v)
	case "company":
		c.Company = string(v)
	case "title":
		c.Title = string(v)
	case "birthday":
		c.Birthday = string(v)
	case "notes":
		c.Notes = string(v)
	case "address":
		c.Address = new(Address)
		return json.Unmarshal(v, c.Address)
	case "custom":
		return json.Unmarshal(v, &c.Custom)
	case "tags":
		return json.Unmarshal(v, &c.Tags)
	case "external_ids":
		return json.Unmarshal(v, &c.ExternalIDs)
	}
	return nil
}

// WrappedKey is a contact's data key as the key store keeps it.
type WrappedKey struct {
	ContactID string
	Version   int
	Wrapped   []byte
	CreatedAt time.Time
}
