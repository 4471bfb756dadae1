package mail

import (
	"bytes"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Stream separates mail that serves the person (transactional) from marketing.
type Stream string

// The streams.
const (
	Transactional Stream = "transactional"
	Marketing     Stream = "marketing"
)

// Message is one rendered e-mail to one recipient.
type Message struct {
	ID        string            `json:"id"`                   // also the Message-ID's local part
	ContactID string            `json:"contact_id"`           // the recipient contact ("" for none)
	RequestID string            `json:"request_id,omitempty"` // a notice about this data subject request (then ContactID is "")
	Stream    Stream            `json:"stream"`
	Kind      string            `json:"kind"` // "optin.confirm", "campaign", …
	To        string            `json:"to"`   // normalized address
	Subject   string            `json:"subject"`
	Text      string            `json:"text"`
	HTML      string            `json:"html,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"` // extra headers, such as List-Unsubscribe
	CreatedAt time.Time         `json:"created_at"`
	// Purpose is the purpose a marketing message serves: the consent gate is asked for it when
	// the message is handed to the transport.
	Purpose    string `json:"purpose,omitempty"`
	CampaignID string `json:"campaign_id,omitempty"`
	// Last marks the last notice about a data subject request (an erasure receipt): once it is
	// handed over, the request's key and mail are destroyed.
	Last bool `json:"last,omitempty"`
}

// Bytes renders the message as RFC 5322 bytes from the address from, with a Message-ID
// <ID@domain> and a Date header.
func (m Message) Bytes(from, domain string) ([]byte, error) {
	msg, err := m.gomail(from, domain, nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("mail: render message %s: %w", m.ID, err)
	}
	return buf.Bytes(), nil
}

// gomail builds the go-mail message, DKIM-signed (RFC 6376) when signer is not nil.
func (m Message) gomail(from, domain string, signer *gomail.DKIMSigner) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if signer != nil {
		msg.SetDKIM(signer)
	}
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: message %s: the sender address is not valid", m.ID)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: message %s: the recipient address is not valid", m.ID)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID + "@" + domain)
	msg.SetDateWithValue(m.CreatedAt)
	for k, v := range m.Headers {
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// NewDKIMSigner reads a PEM private key (RSA or Ed25519) and returns a signer for domain and
// selector that signs From, To, Subject, Date, Message-ID, List-Unsubscribe and
// List-Unsubscribe-Post (RFC 8058 §4: the signature must cover both unsubscribe headers).
//
// The list is kept short on purpose: go-mail v0.8.1 folds a longer h= tag inside a header name,
// and such signatures do not verify (seen with emersion/go-msgauth).
func NewDKIMSigner(domain, selector string, pemKey []byte) (*gomail.DKIMSigner, error) {
	key, err := gomail.PrivKeyFromPEM(pemKey)
	if err != nil {
		return nil, fmt.Errorf("mail: DKIM key: %w", err)
	}
	s := gomail.NewDKIMSigner(domain, selector, key)
	s.SignHeaders("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")
	return s, nil
}
