package mail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Report kinds.
const (
	ReportBounce    = "bounce"    // a delivery status notification (RFC 3464) with permanent failures
	ReportComplaint = "complaint" // an abuse feedback report (ARF, RFC 5965)
)

// Report is what a bounce or complaint says: its kind and the recipients it concerns (for a
// bounce only those that failed permanently: Action failed with a 5.x.x status).
type Report struct {
	Kind       string
	Recipients []string
	// MessageIDs are the Message-IDs of the original message the report quotes, without angle
	// brackets: a redacted complaint names no recipient, but still the message it is about.
	MessageIDs []string
}

// ErrNotAReport is returned for a message that is neither a delivery status notification nor an
// abuse feedback report.
var ErrNotAReport = errors.New("mail: not a delivery status notification or feedback report")

// maxReport bounds the size of a report read (RFC 3464 and 5965 reports are small; the original
// message part is only skimmed).
const maxReport = 10 << 20

// ParseReport reads one message and returns the bounce (RFC 3464 multipart/report;
// report-type=delivery-status) or complaint (RFC 5965 multipart/report;
// report-type=feedback-report) it carries.
func ParseReport(r io.Reader) (Report, error) {
	m, err := mail.ReadMessage(io.LimitReader(r, maxReport))
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrNotAReport, err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return Report{}, ErrNotAReport
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	// One buffer serves every part: a report of many tiny parts must not cost 4 KiB each.
	br := bufio.NewReader(nil)
	var rep Report
	var originalTo []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("%w: %v", ErrNotAReport, err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch {
		case (pt == "message/delivery-status" || pt == "message/global-delivery-status") && (params["report-type"] == "delivery-status" || params["report-type"] == "global-delivery-status"):
			rep.Kind = ReportBounce
			br.Reset(io.LimitReader(part, 1<<20))
			blocks, err := headerBlocks(br)
			if err != nil {
				return Report{}, err
			}
			for _, b := range blocks[min(1, len(blocks)):] { // the first block is per-message
				status := strings.TrimSpace(b.Get("Status"))
				if !strings.EqualFold(strings.TrimSpace(b.Get("Action")), "failed") || !strings.HasPrefix(status, "5.") {
					continue // delayed, relayed or a temporary failure: not a hard bounce
				}
				if a := typedAddress(b.Get("Final-Recipient")); a != "" {
					rep.Recipients = append(rep.Recipients, a)
				} else if a := typedAddress(b.Get("Original-Recipient")); a != "" {
					rep.Recipients = append(rep.Recipients, a)
				}
			}
		case pt == "message/feedback-report" && params["report-type"] == "feedback-report":
			rep.Kind = ReportComplaint
			br.Reset(io.LimitReader(part, 1<<20))
			blocks, err := headerBlocks(br)
			if err != nil {
				return Report{}, err
			}
			if len(blocks) > 0 {
				for _, v := range blocks[0].Values("Original-Rcpt-To") {
					if a := strings.Trim(strings.TrimSpace(v), "<>"); a != "" {
						rep.Recipients = append(rep.Recipients, a)
					}
				}
			}
		case pt == "message/rfc822" || pt == "text/rfc822-headers" || pt == "message/global" || pt == "message/global-headers":
			br.Reset(io.LimitReader(part, 1<<20))
			hr := textproto.NewReader(br)
			h, err := hr.ReadMIMEHeader()
			if err != nil && !errors.Is(err, io.EOF) {
				continue
			}
			if id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"); id != "" {
				rep.MessageIDs = append(rep.MessageIDs, id)
			}
			if list, err := mail.ParseAddressList(h.Get("To")); err == nil {
				for _, a := range list {
					originalTo = append(originalTo, a.Address)
				}
			}
		}
	}
	if rep.Kind == "" {
		return Report{}, ErrNotAReport
	}
	if rep.Kind == ReportComplaint && len(rep.Recipients) == 0 {
		rep.Recipients = originalTo // RFC 5965 §3.2: Original-Rcpt-To is optional
	}
	return rep, nil
}

// headerBlocks reads a body made of header blocks separated by blank lines (RFC 3464 §2.1,
// RFC 5965 §3.1).
func headerBlocks(br *bufio.Reader) ([]textproto.MIMEHeader, error) {
	var out []textproto.MIMEHeader
	for {
		// Skip blank lines between blocks.
		for {
			b, err := br.Peek(1)
			if err != nil {
				return out, nil
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			br.ReadByte()
		}
		h, err := textproto.NewReader(br).ReadMIMEHeader()
		if len(h) > 0 {
			out = append(out, h)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAReport, err)
		}
	}
}

// typedAddress reads "rfc822; someone@example.com" (RFC 3464 §2.3.2) and "utf-8;
// björn@exämple.se" (RFC 6533 §3, where \x{HEX} stands for a character).
func typedAddress(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return ""
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "rfc822":
		return addr
	case "utf-8":
		return unescapeUTF8Address(addr)
	}
	return ""
}

// unescapeUTF8Address replaces each \x{HEX} in a utf-8-address (RFC 6533 §3) by the character
// it names; a malformed escape is left as it is (the address then fails to normalize).
func unescapeUTF8Address(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, `\x{`)
		if i < 0 {
			return b.String() + s
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return b.String() + s
		}
		n, err := strconv.ParseUint(s[i+3:i+j], 16, 32)
		if err != nil || n > utf8.MaxRune {
			b.WriteString(s[:i+j+1])
		} else {
			b.WriteString(s[:i])
			b.WriteRune(rune(n))
		}
		s = s[i+j+1:]
	}
}

// ReportTx is what recording a report needs from a store transaction.
type ReportTx interface {
	AddSuppression(ctx context.Context, s consent.Suppression) error
	// ContactBySuppressionHash returns the id of a contact whose current address has one of
	// these suppression hashes, and the hash it stores ("" and nil when none).
	ContactBySuppressionHash(ctx context.Context, hashes ...[]byte) (id string, stored []byte, err error)
	AppendConsentChanges(ctx context.Context, cs []consent.Change) error
	OutboxEntry(ctx context.Context, id string) (Entry, error) // NotFound when absent
	DataKey(ctx context.Context, contactID string) (version int, wrapped []byte, err error)
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// ReportStore runs serialized transactions.
type ReportStore interface {
	Update(ctx context.Context, fn func(ReportTx) error) error
}

// Reports turns bounces and complaints into suppressions. Fields are set once by internal/app.
type Reports struct {
	Store ReportStore
	Keys  *keys.Keyring
	Now   func() time.Time
	NewID func() string
	// Domain is the right-hand side of the Message-IDs we send ("<id>@Domain"): a report quoting
	// one of them names the message's recipient even when the report itself is redacted.
	Domain string
}

// Outcome says what a report changed.
type Outcome struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`       // bounce or complaint
	Suppressed int    `json:"suppressed"` // addresses put on the suppression list
}

// Record parses a bounce (RFC 3464) or complaint (RFC 5965) and suppresses every address it names
// (reasons bounced and complained), in one transaction with an audit event "mail.report" that
// names no address. Invalid for a message that is neither.
func (r *Reports) Record(ctx context.Context, body io.Reader) (Outcome, error) {
	rep, err := ParseReport(body)
	if errors.Is(err, ErrNotAReport) {
		return Outcome{}, apperr.Invalidf("body", "not_a_report", "body: not a delivery status notification (RFC 3464) or an abuse feedback report (RFC 5965)")
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{ID: r.NewID(), Kind: rep.Kind}
	reason := consent.SuppressionBounced
	if rep.Kind == ReportComplaint {
		reason = consent.SuppressionComplained
	}
	now := r.Now().UTC()
	err = r.Store.Update(ctx, func(tx ReportTx) error {
		recipients := rep.Recipients
		for _, mid := range rep.MessageIDs {
			a, err := r.recipientOf(ctx, tx, mid, now)
			if err != nil {
				return err
			}
			if a != "" {
				recipients = append(recipients, a)
			}
		}
		seen := map[string]bool{}
		for _, a := range recipients {
			norm, err := normalize.Email(a)
			if err != nil {
				continue // not an address we could have written to
			}
			if seen[norm] {
				continue
			}
			seen[norm] = true
			hs, err := r.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, norm)
			if err != nil {
				return err
			}
			// The entry goes under the hash the address's contact stores (made with the key
			// that was primary when it was indexed, keys rotate --bidx), where the consent
			// gate matches it; without a contact, under the primary key's.
			id, h, err := tx.ContactBySuppressionHash(ctx, hs...)
			if err != nil {
				return err
			}
			if h == nil {
				h = hs[0]
			}
			if err := tx.AddSuppression(ctx, consent.Suppression{Hash: h, Reason: reason, CreatedAt: now}); err != nil {
				return err
			}
			// Processors that hold the contact stop mailing the address too (GDPR Art. 19).
			if id != "" {
				if err := tx.AppendConsentChanges(ctx, []consent.Change{{ContactID: id, Change: "suppressed", OccurredAt: now, RecordedAt: now}}); err != nil {
					return err
				}
			}
			out.Suppressed++
		}
		ev := audit.New(ctx, now, "mail.report", "report", out.ID, "suppression")
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// recipientOf returns the recipient of the message we sent with Message-ID mid, or "" when mid is
// not ours or the message is gone (erased). Reading it is audited ("mail.read", as when sending).
func (r *Reports) recipientOf(ctx context.Context, tx ReportTx, mid string, now time.Time) (string, error) {
	id, domain, ok := strings.Cut(mid, "@")
	if !ok || r.Domain == "" || !strings.EqualFold(domain, r.Domain) {
		return "", nil
	}
	e, err := tx.OutboxEntry(ctx, id)
	if apperr.Is(err, apperr.NotFound) || (err == nil && len(e.Sealed) == 0) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	version, wrapped, err := tx.DataKey(ctx, e.ContactID)
	if apperr.Is(err, apperr.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	dk, err := r.Keys.OpenDataKey(e.ContactID, version, wrapped)
	if err != nil {
		return "", err
	}
	plain, err := dk.Open(Table, "message", e.ID, e.Sealed)
	if err != nil {
		return "", err
	}
	var m Message
	if err := json.Unmarshal(plain, &m); err != nil {
		return "", err
	}
	ev := audit.New(ctx, now, "mail.read", "contact", e.ContactID, "email", "message."+e.Kind)
	return m.To, tx.AppendAudit(ctx, &ev)
}
