// Package store is the seam between Tillit's domain and its databases: one Store, one Tx (the
// union of every domain package's transaction interface), and Open, the one place that picks a
// backend from the database URL.
//
// Domain packages never import this package: each declares the narrow Tx it needs, and Tx here
// is the implementer's checklist. A backend registers itself (Register, from its init) and
// asserts at compile time that its transaction type implements Tx; the composition root
// (internal/app) narrows a Store to each domain with the functions in scope.go.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/throttle"
	"github.com/tillit/tillit/internal/token"
)

// Tx is one transaction of a backend: every domain package's Tx interface. A method two domains
// both declare has one signature (Go requires it of embedded interfaces).
type Tx interface {
	contact.Tx
	consent.Tx
	consent.PolicyTx
	consent.SuppressTx
	token.Tx
	importer.Tx
	mail.Tx
	mail.ReportTx
	optin.Tx
	optin.UnsubscribeTx
	campaign.Tx
	dsr.Tx
	share.Tx
	share.WebhookTx
	governance.RetentionTx
	governance.DPATx
	governance.BreachTx
	ledger.Tx
	throttle.Tx
	keys.RotateTx
	GaugeTx
}

// GaugeTx reads the installation's state for the gauges of /metrics (internal/metrics), in one
// read-only transaction: counts and times, never a personal field.
type GaugeTx interface {
	// OutboxQueue counts the queued outbox messages by stream (streams without one are absent)
	// and returns when the oldest of them was created (zero when none is queued).
	OutboxQueue(ctx context.Context) (map[mail.Stream]int, time.Time, error)
	// CountRequests counts the data subject requests by state (states without one are absent),
	// and the open ones whose deadline (extended_until, else due_at) is before now: overdue
	// (GDPR Art. 12(3)).
	CountRequests(ctx context.Context, now time.Time) (map[dsr.State]int, int, error)
	// AuditAnchorAt returns the time of the audit event the anchor names: when the anchor was
	// last written. NotFound when there is no anchor, or no event at it.
	AuditAnchorAt(ctx context.Context) (time.Time, error)
}

// Store is an open database.
type Store interface {
	// Update runs fn in one read-write transaction: commit when fn returns nil, roll back and
	// return fn's error unchanged otherwise (a panic rolls back and is re-raised).
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that never waits for the writer; only reading
	// methods may be called in it.
	View(ctx context.Context, fn func(Tx) error) error
	// Purge makes rows deleted by committed transactions unrecoverable from the store's files
	// (SQLite: a TRUNCATE checkpoint of both write-ahead logs over secure-deleted pages), so
	// that an erasure (GDPR Art. 17) leaves nothing behind that a copy of the files would hold.
	Purge(ctx context.Context) error
	// Generation changes with every commit, this process's at once and another process's within
	// GenerationLag (a CLI import beside a running server); caches compare it
	// (consent.Generation).
	Generation(ctx context.Context) (uint64, error)
	// AuditEvents returns audit events in sequence order. It decrypts nothing.
	AuditEvents(ctx context.Context, f AuditFilter) ([]audit.Event, error)
	// VerifyAudit walks the whole audit chain against its keyed anchor.
	VerifyAudit(ctx context.Context) (audit.Verification, error)
	// KeyEvidence returns what the store holds to tell whether the keys it was opened with
	// (Config.AnchorMAC) are the ones it was written under. It decrypts nothing.
	KeyEvidence(ctx context.Context) (KeyEvidence, error)
	// Ready reports, within wait, whether the store reads and writes and its audit head
	// matches the anchor (/readyz).
	Ready(ctx context.Context, wait time.Duration) Readiness
	// MailOwnerLive reports whether the owner of a mail file still exists: the contact (when
	// contactID is set) or the request whose key is not destroyed.
	MailOwnerLive(ctx context.Context, contactID, requestID string) (bool, error)
	// CountSuppressions counts suppressed addresses per reason.
	CountSuppressions(ctx context.Context) (map[string]int, error)
	// Close flushes and closes the store.
	Close() error
}

// GenerationLag bounds how long a commit of another process takes to change Store.Generation,
// in every backend: a cache keyed by the generation (the consent gate's, the token service's)
// answers from before that commit for at most this long.
const GenerationLag = 20 * time.Millisecond

// AuditFilter selects audit events.
type AuditFilter struct {
	ObjectKind, ObjectID string // both empty: every object; only ObjectKind: every object of that kind
	AfterSeq             int64  // cursor: events with seq > AfterSeq
	Limit                int    // at most this many events (0 returns none)
}

// KeyEvidence is the answer of Store.KeyEvidence: whether the audit anchor's keyed MAC verifies
// under Config.AnchorMAC, and one wrapped data key of the key store to try to unwrap. A MAC that
// does not verify means another installation's keys or a rewritten anchor; a data key that
// unwraps tells the second.
type KeyEvidence struct {
	// AnchorVerifies is false only when the store has an anchor, AnchorMAC is set and the
	// anchor's MAC is not AnchorMAC's.
	AnchorVerifies bool
	// OwnerID (a contact, request or processor id), Version and Wrapped are the key store's
	// first data key by owner id; Wrapped is nil when the key store holds none.
	OwnerID string
	Version int
	Wrapped []byte
}

// Readiness is the answer of Store.Ready.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"` // "store_unavailable", "audit_head_mismatch", "anchor_forged"
}

// Repair is what a store did on opening, or on a later write, to finish a transaction that a
// process killed between two commits left half done.
type Repair struct {
	AnchorFrom, AnchorTo int64    // the audit anchor moved from one sequence number to another
	KeysDeleted          int64    // keys of erased contacts, forgotten requests or uncommitted owners
	ContactsDeleted      int64    // contacts whose key never reached the key store
	RequestsDeleted      int64    // requests whose key never reached the key store
	ProcessorsDeleted    int64    // processors whose key never reached the key store
	Kept                 []string // repair statements refused by a foreign key (nothing deleted)
}

func (r Repair) String() string {
	return fmt.Sprintf("audit anchor %d→%d, %d keys deleted, %d contacts, %d requests and %d processors without a key deleted, %d steps kept by a foreign key",
		r.AnchorFrom, r.AnchorTo, r.KeysDeleted, r.ContactsDeleted, r.RequestsDeleted, r.ProcessorsDeleted, len(r.Kept))
}

// Config says which store to open and how.
type Config struct {
	// URL names the database: "sqlite:DIR", a bare directory (SQLite in that directory), or a
	// URL of a registered scheme ("postgres://…"). A libpq key=value connection string is
	// refused (ErrKeyValueURL).
	URL string
	// VFS names a registered SQLite VFS to open the files with ("": the operating system's).
	VFS string
	// DiskKeys are the keys (32 bytes each, keys.Keyring.DiskKeys) a SQLite store's files may be
	// encrypted under, the one new files get first; none: new files are plain. Each file opens
	// under the key it is encrypted with, or plain. Ignored by stores that are not files.
	DiskKeys [][]byte
	// AnchorMAC keys the audit anchor (keys.Keyring.AnchorMAC); nil writes and checks it unkeyed.
	AnchorMAC func(seq int64, hash []byte) ([]byte, error)
	// AnchorMACs, when set, lists every MAC an anchor verifies under (keys.Keyring.AnchorMACs:
	// under each key of the set, after a rotation of the blind-index keyset); nil: AnchorMAC's.
	AnchorMACs func(seq int64, hash []byte) ([][]byte, error)
	// OnRepair, when set, is told of every repair of a half-finished transaction: atOpen for
	// the one Open made, false for one a later write made (another process died mid-commit).
	OnRepair func(r Repair, atOpen bool)
	// Logger receives what a backend's background work reports (PostgreSQL: a failed vacuum, a
	// lost listener), never personal data; nil: slog.Default().
	Logger *slog.Logger
}

// Part is one file (or database object) an installation keeps.
type Part struct {
	Path string // where it is
	What string // what it is, for messages: "the database", "the key store"
}

// Driver is a backend.
type Driver struct {
	// Open opens (creating when absent) the store at location (the URL without its scheme,
	// or the whole URL for network databases), applies migrations, seals the audit anchor and
	// finishes a transaction a crash left half done.
	Open func(ctx context.Context, location string, cfg Config) (Store, error)
	// Parts lists what an installation at location keeps, so that a caller can tell a fresh
	// installation from one that lost a part.
	Parts func(location string) []Part
	// Exists, for a database that is not files of the installation (a server's), reports
	// whether a Tillit store is there already, so that a caller never makes new keys for it.
	// Nil when Parts tells.
	Exists func(ctx context.Context, location string) (bool, error)
	// Scratch, for a database that is not files of the installation, notes which of the
	// containers the store at location lives in (PostgreSQL: its two schemas) are there already
	// and returns a function that removes the others, with everything a store opened there since
	// put in them, for a run that must leave nothing behind (tillit bench). Nil when Parts tells:
	// the caller removes the files it made.
	Scratch func(ctx context.Context, location string) (remove func(context.Context) error, err error)
	// Reseal, for a backend whose store is files it encrypts (SQLite), copies the store at
	// location into new files encrypted under to and swaps them in (see Reseal). Nil otherwise.
	Reseal func(ctx context.Context, location string, cfg Config, to []byte, progress Progress) error
	// Unencrypted, with Reseal, lists the files of the store at location that are not
	// encrypted (under any of keys).
	Unencrypted func(location string, keys [][]byte) ([]string, error)
	// Snapshot, for a backend whose store is files (SQLite), copies the store at location, in
	// use or not, at one commit into scratch files under the directory scratch (see
	// TakeSnapshot). Nil otherwise.
	Snapshot func(ctx context.Context, location string, cfg Config, scratch string, progress Progress) (*Snapshot, error)
	// Restore, with Snapshot, writes a store at location, where there is none, from the files
	// of a Snapshot (see Restore).
	Restore func(ctx context.Context, location string, cfg Config, files map[string]io.Reader) error
}

// Snapshot is a copy of a store's files at one commit (TakeSnapshot), read back as the backend
// wrote them, independent of any disk key.
type Snapshot struct {
	// Files names the files in the order Restore reads them: the data file, then the key store
	// (SQLite: "tillit.db", "keys.db").
	Files []string
	// Open returns one of Files and its size in bytes.
	Open func(name string) (io.ReadCloser, int64, error)
	// Remove removes the copy.
	Remove func() error
	// Schema is the highest migration applied.
	Schema int
	// DataMarker and KeysMarker are the two files' commit markers: equal, unless a process died
	// between the two files' commits (the next open of the restored store repairs it as any open
	// does).
	DataMarker, KeysMarker int64
	// AuditSeq and AuditHash are the head of the audit log the copy holds (0, nil: none).
	AuditSeq  int64
	AuditHash []byte
}

// Progress is told how far a copy is: the file, and the pages of it copied and in all.
type Progress func(file string, done, total int)

// ErrInUse is returned when a command that needs the store to itself (Reseal) finds another
// process using it (a running tillit serve).
var ErrInUse = errors.New("store: the store is in use by another process")

// ErrNoDiskKey is returned by Open when a file of the store is encrypted under none of
// Config.DiskKeys: another installation's keys, or a disk key dropped since the file was made.
var ErrNoDiskKey = errors.New("store: a file of the store is encrypted under none of the disk keys of the keysets")

// ErrNotFiles is returned by Reseal and Unencrypted for a store that is not files this
// program encrypts (a PostgreSQL server's: encrypt its volume).
var ErrNotFiles = errors.New("store: the store is not files Tillit encrypts (a database server's); encrypt the server's volume instead")

var (
	driversMu sync.Mutex
	drivers   = map[string]Driver{}
)

// Register makes a backend available under a URL scheme ("sqlite", "postgres"). It panics when
// the scheme is taken, as database/sql does.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, dup := drivers[scheme]; dup {
		panic("store: Register called twice for " + scheme)
	}
	drivers[scheme] = d
}

// libpqKeyword matches a keyword of a libpq key=value connection string ("host=db dbname=crm",
// PostgreSQL 15 §34.1.2) at the start of the string or after a space.
var libpqKeyword = regexp.MustCompile(`(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|options|` +
	`application_name|fallback_application_name|client_encoding|connect_timeout|channel_binding|` +
	`keepalives(?:_idle|_interval|_count)?|tcp_user_timeout|replication|gssencmode|gsslib|krbsrvname|` +
	`sslmode|requiressl|sslcompression|sslcert|sslkey|sslpassword|sslrootcert|sslcrl|sslcrldir|sslsni|` +
	`ssl_min_protocol_version|ssl_max_protocol_version|requirepeer|target_session_attrs|` +
	`load_balance_hosts|require_auth|sslcertmode|sslnegotiation)\s*=`)

// ErrKeyValueURL refuses a libpq key=value connection string given as the database URL: it has
// no scheme, so it would be read as the name of a SQLite directory. The message holds nothing of
// the string, which may carry a password.
var ErrKeyValueURL = errors.New("store: the database URL is a key=value connection string (host=… dbname=…), which Tillit does not read: " +
	"give a URL, postgres://user@host:port/db?schema=NAME, or sqlite:DIR for a SQLite directory")

// resolve picks the driver for url and returns it with the location it is given.
func resolve(url string) (Driver, string, error) {
	if !strings.HasPrefix(url, "sqlite:") && !strings.Contains(url, "://") && libpqKeyword.MatchString(url) {
		return Driver{}, "", ErrKeyValueURL
	}
	scheme, location := "sqlite", url
	if i := strings.Index(url, ":"); i > 1 && !strings.ContainsAny(url[:i], `/\`) {
		scheme = url[:i]
		location = url
		if scheme == "sqlite" {
			location = strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		}
	}
	driversMu.Lock()
	d, ok := drivers[scheme]
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	driversMu.Unlock()
	if !ok {
		sort.Strings(names)
		return Driver{}, "", fmt.Errorf("store: no backend for %q URLs (have: %s)", scheme, strings.Join(names, ", "))
	}
	if location == "" {
		return Driver{}, "", fmt.Errorf("store: the database URL %q names no location", url)
	}
	return d, location, nil
}

// Open opens the store cfg.URL names.
func Open(ctx context.Context, cfg Config) (Store, error) {
	d, location, err := resolve(cfg.URL)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx, location, cfg)
}

// Parts lists what the installation at url keeps (see Driver.Parts).
func Parts(url string) ([]Part, error) {
	d, location, err := resolve(url)
	if err != nil {
		return nil, err
	}
	return d.Parts(location), nil
}

// Exists reports whether the database url names holds a Tillit store already, for backends
// whose store is not files (Driver.Exists); false for the others, whose Parts tell.
func Exists(ctx context.Context, url string) (bool, error) {
	d, location, err := resolve(url)
	if err != nil || d.Exists == nil {
		return false, err
	}
	return d.Exists(ctx, location)
}

// Scratch notes what of the store url names is there already and returns a function that
// removes what a store opened on url made since (see Driver.Scratch); for a backend whose store
// is files, a function that removes nothing.
func Scratch(ctx context.Context, url string) (func(context.Context) error, error) {
	d, location, err := resolve(url)
	if err != nil {
		return nil, err
	}
	if d.Scratch == nil {
		return func(context.Context) error { return nil }, nil
	}
	return d.Scratch(ctx, location)
}

// Reseal copies the store cfg.URL names, which must be closed, into new files encrypted under
// the disk key to and swaps them in: tillit keys encrypt-disk (plain files) and tillit keys
// rotate --disk (files under another key). cfg.DiskKeys are the keys the files may be under
// now, cfg.VFS the VFS to write through. progress (may be nil) hears of every step of the copy.
// A store in use by another process is refused (ErrInUse); a kill at any moment leaves the old
// files or the new ones, whole. ErrNotFiles for a backend without files.
func Reseal(ctx context.Context, cfg Config, to []byte, progress Progress) error {
	d, location, err := resolve(cfg.URL)
	if err != nil {
		return err
	}
	if d.Reseal == nil {
		return ErrNotFiles
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	return d.Reseal(ctx, location, cfg, to, progress)
}

// Unencrypted lists the files of the store at url that are not encrypted under one of keys
// (for a store not yet made: none when keys are given). ErrNotFiles for a backend without files.
func Unencrypted(url string, keys [][]byte) ([]string, error) {
	d, location, err := resolve(url)
	if err != nil {
		return nil, err
	}
	if d.Unencrypted == nil {
		return nil, ErrNotFiles
	}
	return d.Unencrypted(location, keys)
}

// TakeSnapshot copies the store cfg.URL names, which other processes may be reading and writing
// (tillit serve), into scratch files in a new directory under scratch: the data file and the key
// store at the same commit, so that the key store's audit anchor matches the data file's log.
// cfg.DiskKeys and cfg.VFS are the store's. The scratch files hold nothing in plain; remove them
// with Snapshot.Remove. ErrNotFiles for a backend whose store is not files (PostgreSQL: pg_dump
// both schemas from one snapshot).
func TakeSnapshot(ctx context.Context, cfg Config, scratch string, progress Progress) (*Snapshot, error) {
	d, location, err := resolve(cfg.URL)
	if err != nil {
		return nil, err
	}
	if d.Snapshot == nil {
		return nil, ErrNotFiles
	}
	return d.Snapshot(ctx, location, cfg, scratch, progress)
}

// Restore writes a store where cfg.URL names none, from files (by Snapshot.Files name) as a
// Snapshot read them, encrypted under cfg.DiskKeys[0] (plain without keys), checked before they
// are put in place. Nothing is changed where a store exists. ErrNotFiles for a backend whose
// store is not files.
func Restore(ctx context.Context, cfg Config, files map[string]io.Reader) error {
	d, location, err := resolve(cfg.URL)
	if err != nil {
		return err
	}
	if d.Restore == nil {
		return ErrNotFiles
	}
	return d.Restore(ctx, location, cfg, files)
}

// Cluster is implemented by a store that several Tillit processes share (PostgreSQL): the
// background jobs (the outbox, webhook deliveries, campaign walks, sweeps) run in one process
// of the cluster at a time, and the others hear of its commits.
type Cluster interface {
	// Lead blocks until this process holds the cluster's job lock (or ctx ends), then returns
	// a context that ends when the lock is lost (its connection fails) or ctx ends; the lock
	// is released then. A process that dies releases it with its connection.
	Lead(ctx context.Context) (context.Context, error)
	// TryLead is one attempt of Lead: the lead and true when this process took the lock now.
	TryLead(ctx context.Context) (context.Context, bool)
	// Changed receives, coalesced, after a process of the cluster (this one included) commits
	// a write, so that the leader's outbox and campaign walker need not wait for their poll.
	Changed() <-chan struct{}
}

// Gone names the owners of mail files (internal/mail.FileTransport) that committed transactions
// made gone, so that every process of a cluster can remove their files: the contacts deleted (an
// erasure) and the data subject requests whose key was destroyed. All: some may be missing (a
// process did not hear every commit, or a transaction made too many gone to name): every file's
// owner must be looked up (MailOwnerLive).
type Gone struct {
	Contacts []string `json:"c,omitempty"`
	Requests []string `json:"r,omitempty"`
	All      bool     `json:"all,omitempty"`
}

// Empty reports whether g names no owner and is not All.
func (g Gone) Empty() bool { return !g.All && len(g.Contacts) == 0 && len(g.Requests) == 0 }

// Add merges h into g; past max owners in all, g becomes All (and names none).
func (g *Gone) Add(h Gone, max int) {
	if g.All || h.All || len(g.Contacts)+len(g.Requests)+len(h.Contacts)+len(h.Requests) > max {
		*g = Gone{All: true}
		return
	}
	g.Contacts = append(g.Contacts, h.Contacts...)
	g.Requests = append(g.Requests, h.Requests...)
}

// PlainFiles lists the files of s that hold its data unencrypted on disk, when its backend
// encrypts files (a method PlainFiles() []string: SQLite); none otherwise.
func PlainFiles(s Store) []string {
	if d, ok := s.(interface{ PlainFiles() []string }); ok {
		return d.PlainFiles()
	}
	return nil
}

// ErasureMeasure is how s makes an erased person's rows unrecoverable from its files, in words for
// the record of processing (GDPR Art. 30(1)(g), 32(1)), when its backend says (a method
// ErasureMeasure() string); "" otherwise.
func ErasureMeasure(s Store) string {
	if d, ok := s.(interface{ ErasureMeasure() string }); ok {
		return d.ErasureMeasure()
	}
	return ""
}
