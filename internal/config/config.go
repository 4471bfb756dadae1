// Package config builds Tillit's settings from defaults, then TILLIT_* environment variables, then
// command-line flags (DESIGN §6). Secrets come from the environment or *_FILE variables, never from
// flags; String prints the settings with secrets redacted.
package config

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/normalize"
)

// Config is every setting a command may need.
type Config struct {
	Listen      string // host:port for tillit serve (TILLIT_LISTEN, --listen; default 127.0.0.1:8080)
	DataDir     string // data directory (TILLIT_DATA, --data; default ./tillit-data)
	DatabaseURL string // empty: embedded SQLite in DataDir (TILLIT_DATABASE_URL, --database-url)
	RootKeyFile string // TILLIT_ROOT_KEY_FILE; default <data>/root.key unless RootKey is set
	// RootKey is TILLIT_ROOT_KEY: a pkcs11: URI (RFC 7512) naming the root key in a PKCS#11
	// token (keys/pkcs11.ParseURI); empty: the root key file. Secret: it may hold the user PIN
	// (pin-value), so String prints its path part only.
	RootKey       string
	BaseURL       string // public URL for links (TILLIT_BASE_URL; default http://<listen>)
	SMTPURL       string // TILLIT_SMTP_URL or TILLIT_SMTP_URL_FILE; secret
	MailFrom      string // TILLIT_MAIL_FROM
	DefaultRegion string // ISO 3166-1 alpha-2 for national phone numbers (TILLIT_DEFAULT_REGION)
	LogLevel      string // debug, info, warn, error (TILLIT_LOG_LEVEL; default info)
	LogFormat     string // text or json: one JSON object per line (TILLIT_LOG_FORMAT; default text)
	// MetricsListen is the host:port where tillit serve serves GET /metrics, without
	// authentication, apart from the API (TILLIT_METRICS_LISTEN, --metrics-listen; empty, the
	// default: metrics are not served). Metrics hold no personal data, but operational counts are
	// for the operator only: keep the address on loopback or an internal network.
	MetricsListen string
	// SQLiteVFS names a registered SQLite VFS to open the files with (TILLIT_SQLITE_VFS; default
	// the operating system's). Only the crash tests set it, to a VFS that kills the process.
	SQLiteVFS string

	// The data controller, named in consent receipts and notices (TILLIT_CONTROLLER_NAME,
	// _CONTACT, _EMAIL, _PHONE, _STREET, _CITY, _POSTAL_CODE, _COUNTRY; TILLIT_JURISDICTION,
	// default "EU"; TILLIT_DPO_EMAIL).
	ControllerName, ControllerContact, ControllerEmail, ControllerPhone       string
	ControllerStreet, ControllerCity, ControllerPostalCode, ControllerCountry string
	Jurisdiction, DPOEmail                                                    string

	// TrustedProxies are the proxies whose X-Forwarded-For names the client of a public form
	// (TILLIT_TRUSTED_PROXIES, comma-separated addresses or CIDR prefixes).
	TrustedProxies string

	// UnsubscribeMailto is the mailto: address in List-Unsubscribe (TILLIT_UNSUBSCRIBE_MAILTO;
	// none when empty).
	UnsubscribeMailto string

	// BodyTimeout is how long a request body may take beyond one second per 32 KiB received
	// (TILLIT_BODY_TIMEOUT, a Go duration such as "10s"; 0: the default, 10 s). A slower
	// client's connection is closed (slow-body clients hold connections and memory).
	BodyTimeout time.Duration

	// JobLease is how long the outbox and the webhook deliveries claim what a pass reads
	// (TILLIT_JOB_LEASE, a Go duration of at least 10s; 0: the default, 2 min). A pass hands over
	// during the first half; what a node that died had claimed waits for the lease to end.
	JobLease time.Duration

	// DKIM signing of outgoing mail (RFC 6376), on when all three are set: TILLIT_DKIM_DOMAIN,
	// TILLIT_DKIM_SELECTOR and TILLIT_DKIM_KEY_FILE (a PEM RSA or Ed25519 private key).
	DKIMDomain, DKIMSelector, DKIMKeyFile string
}

// MinJobLease is the shortest TILLIT_JOB_LEASE: its first half must outlast a hand-off and the
// second a leader that lost its lock noticing it (about a second, store.Cluster).
const MinJobLease = 10 * time.Second

// Default returns the built-in defaults.
func Default() Config {
	return Config{Listen: "127.0.0.1:8080", DataDir: "tillit-data", LogLevel: "info", LogFormat: "text", Jurisdiction: "EU"}
}

// FromEnv applies TILLIT_* variables from getenv over c.
func (c *Config) FromEnv(getenv func(string) string) error {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Listen, "TILLIT_LISTEN")
	set(&c.DataDir, "TILLIT_DATA")
	set(&c.DatabaseURL, "TILLIT_DATABASE_URL")
	set(&c.RootKeyFile, "TILLIT_ROOT_KEY_FILE")
	set(&c.RootKey, "TILLIT_ROOT_KEY")
	set(&c.BaseURL, "TILLIT_BASE_URL")
	set(&c.SMTPURL, "TILLIT_SMTP_URL")
	set(&c.MailFrom, "TILLIT_MAIL_FROM")
	set(&c.DefaultRegion, "TILLIT_DEFAULT_REGION")
	set(&c.LogLevel, "TILLIT_LOG_LEVEL")
	set(&c.LogFormat, "TILLIT_LOG_FORMAT")
	set(&c.MetricsListen, "TILLIT_METRICS_LISTEN")
	set(&c.SQLiteVFS, "TILLIT_SQLITE_VFS")
	set(&c.ControllerName, "TILLIT_CONTROLLER_NAME")
	set(&c.ControllerContact, "TILLIT_CONTROLLER_CONTACT")
	set(&c.ControllerEmail, "TILLIT_CONTROLLER_EMAIL")
	set(&c.ControllerPhone, "TILLIT_CONTROLLER_PHONE")
	set(&c.ControllerStreet, "TILLIT_CONTROLLER_STREET")
	set(&c.ControllerCity, "TILLIT_CONTROLLER_CITY")
	set(&c.ControllerPostalCode, "TILLIT_CONTROLLER_POSTAL_CODE")
	set(&c.ControllerCountry, "TILLIT_CONTROLLER_COUNTRY")
	set(&c.Jurisdiction, "TILLIT_JURISDICTION")
	set(&c.DPOEmail, "TILLIT_DPO_EMAIL")
	set(&c.TrustedProxies, "TILLIT_TRUSTED_PROXIES")
	set(&c.UnsubscribeMailto, "TILLIT_UNSUBSCRIBE_MAILTO")
	set(&c.DKIMDomain, "TILLIT_DKIM_DOMAIN")
	set(&c.DKIMSelector, "TILLIT_DKIM_SELECTOR")
	set(&c.DKIMKeyFile, "TILLIT_DKIM_KEY_FILE")
	if v := getenv("TILLIT_BODY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("config: TILLIT_BODY_TIMEOUT %q: want a positive duration such as 10s", v)
		}
		c.BodyTimeout = d
	}
	if v := getenv("TILLIT_JOB_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinJobLease {
			return fmt.Errorf("config: TILLIT_JOB_LEASE %q: want a duration of at least %s, such as 2m", v, MinJobLease)
		}
		c.JobLease = d
	}
	if f := getenv("TILLIT_SMTP_URL_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("config: TILLIT_SMTP_URL_FILE: %w", err)
		}
		c.SMTPURL = strings.TrimSpace(string(b))
	}
	return nil
}

// StoreURL is the database URL store.Open is given: DatabaseURL when set, else the embedded
// SQLite store in DataDir ("sqlite:" + DataDir, so that a directory whose name holds a colon is
// never read as a URL scheme).
func (c Config) StoreURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return "sqlite:" + c.DataDir
}

// Flags registers the flags every command takes (--data, --database-url) on fs.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data `directory` (TILLIT_DATA)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "database `URL`; empty for the embedded SQLite in the data directory (TILLIT_DATABASE_URL)")
}

// ServeFlags registers the flags of tillit serve.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	c.Flags(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "`host:port` to serve on (TILLIT_LISTEN)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public `URL` used in links (TILLIT_BASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (TILLIT_LOG_LEVEL)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "`host:port` to serve GET /metrics on, without authentication; empty: none (TILLIT_METRICS_LISTEN)")
}

// Finish fills derived defaults and checks the result.
func (c *Config) Finish() error {
	if c.DataDir == "" {
		return fmt.Errorf("config: the data directory must not be empty")
	}
	switch {
	case c.RootKey != "" && c.RootKeyFile != "":
		return fmt.Errorf("config: TILLIT_ROOT_KEY and TILLIT_ROOT_KEY_FILE are both set; set the one that names the root key")
	case c.RootKey != "":
		if scheme, _, _ := strings.Cut(c.RootKey, ":"); !strings.EqualFold(scheme, "pkcs11") {
			return fmt.Errorf("config: TILLIT_ROOT_KEY: want a pkcs11: URI (RFC 7512) of a key in a PKCS#11 token; for a root key file set TILLIT_ROOT_KEY_FILE")
		}
	case c.RootKeyFile == "":
		c.RootKeyFile = filepath.Join(c.DataDir, "root.key")
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
	}
	if _, err := url.Parse(c.BaseURL); err != nil {
		return fmt.Errorf("config: TILLIT_BASE_URL: %w", err)
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	if c.DefaultRegion != "" {
		c.DefaultRegion = strings.ToUpper(c.DefaultRegion)
		if !normalize.ValidRegion(c.DefaultRegion) {
			return fmt.Errorf("config: TILLIT_DEFAULT_REGION %q is not an ISO 3166-1 alpha-2 region with phone numbers (for example DE, SE, US)", c.DefaultRegion)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: TILLIT_LOG_FORMAT %q: want text or json", c.LogFormat)
	}
	return nil
}

// String prints the configuration with secrets redacted.
func (c Config) String() string {
	smtp := "file transport"
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err == nil {
			smtp = u.Redacted()
		} else {
			smtp = "(set, unparseable)"
		}
	}
	db := "embedded SQLite"
	if c.DatabaseURL != "" {
		db = RedactURL(c.DatabaseURL)
	}
	root := "file " + c.RootKeyFile
	if c.RootKey != "" {
		root = RedactKeyURI(c.RootKey)
	}
	return fmt.Sprintf("listen=%s data=%s database=%s root_key=%s base_url=%s smtp=%s mail_from=%s default_region=%s log_level=%s log_format=%s metrics_listen=%s",
		c.Listen, c.DataDir, db, root, c.BaseURL, smtp, c.MailFrom, c.DefaultRegion, c.LogLevel, c.LogFormat, c.MetricsListen)
}

// RedactKeyURI is a root key URI (TILLIT_ROOT_KEY) fit for logs and messages: its path part
// (which token, which key) without the query, which holds the module and the PIN; a pin-value
// misplaced in the path is replaced by xxxxx.
func RedactKeyURI(raw string) string {
	path, _, _ := strings.Cut(raw, "?")
	parts := strings.Split(path, ";")
	for i, p := range parts {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if strings.EqualFold(name[strings.LastIndex(name, ":")+1:], "pin-value") {
			parts[i] = name + "=xxxxx"
		}
	}
	return strings.Join(parts, ";")
}

// Proxies parses TrustedProxies.
func (c Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("config: TILLIT_TRUSTED_PROXIES: %q is not an address or prefix", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("config: TILLIT_TRUSTED_PROXIES: %q is not an address or prefix", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// MailFromAddress is TILLIT_MAIL_FROM, or tillit@ the base URL's host.
func (c Config) MailFromAddress() string {
	if c.MailFrom != "" {
		return c.MailFrom
	}
	return "tillit@" + c.MailDomain()
}

// MailDomain is the host of the base URL, for Message-IDs.
func (c Config) MailDomain() string {
	if u, err := url.Parse(c.BaseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// RedactURL is a database URL fit for logs and messages: the password of its user part and
// every parameter whose name holds "password" (password, sslpassword: the passphrase of a
// client key) replaced by xxxxx; "(set, unparseable)" when it does not parse.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(set, unparseable)"
	}
	q := u.Query()
	hid := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			hid = true
		}
	}
	if hid {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
