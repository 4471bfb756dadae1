package app

import (
	"errors"
	"os"

	gomail "github.com/wneessen/go-mail"

	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/mail"
)

// ErrDKIMIncomplete is Transport's error for a DKIM setting that names some but not all of
// TILLIT_DKIM_DOMAIN, TILLIT_DKIM_SELECTOR and a readable TILLIT_DKIM_KEY_FILE.
var ErrDKIMIncomplete = errors.New("DKIM needs TILLIT_DKIM_DOMAIN, TILLIT_DKIM_SELECTOR and a readable TILLIT_DKIM_KEY_FILE")

// Transport returns the mail transport the settings pick: SMTP when s.SMTPURL is set
// (mail.NewSMTPTransport), else .eml files under MailDir (Files). Either signs with DKIM
// (RFC 6376) when s.DKIMDomain, s.DKIMSelector and s.DKIMKeyFile are all set. Errors:
// ErrDKIMIncomplete for a partial DKIM setting or an unreadable key file; the key's or the SMTP
// URL's error when it does not parse.
func Transport(s config.Config) (mail.Transport, error) {
	var dkim *gomail.DKIMSigner
	if s.DKIMDomain != "" || s.DKIMSelector != "" || s.DKIMKeyFile != "" {
		pemKey, err := os.ReadFile(s.DKIMKeyFile)
		if err != nil || s.DKIMDomain == "" || s.DKIMSelector == "" {
			return nil, ErrDKIMIncomplete
		}
		if dkim, err = mail.NewDKIMSigner(s.DKIMDomain, s.DKIMSelector, pemKey); err != nil {
			return nil, err
		}
	}
	if s.SMTPURL == "" {
		files := Files(s)
		files.DKIM = dkim
		return files, nil
	}
	t, err := mail.NewSMTPTransport(s.SMTPURL, s.MailFromAddress(), s.MailDomain())
	if err != nil {
		return nil, err
	}
	t.DKIM = dkim
	return t, nil
}
