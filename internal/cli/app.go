package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite" // the default backend
	"github.com/tillit/tillit/internal/token"
)

// app is one wired Tillit: keys, store and services.
type app struct {
	cfg      config.Config
	st       store.Store
	keys     *keys.Keyring
	contacts *contact.Service
	consent  *consent.Service
	policies *consent.Policies
	tokens   *token.Service
	importer *importer.Importer
	created  bool // the keys were created by this start
}

// newID returns a UUIDv7: time-ordered, so ids sort by creation for cursor paging.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// openApp opens the data directory. create allows creating the directory, root key, keysets and
// database (tillit serve, tillit import and bench); other commands need them to exist.
func openApp(ctx context.Context, cfg config.Config, create bool) (*app, error) {
	return openAppWith(ctx, cfg, create, nil)
}

// openAppWith is openApp with onRepair told of every repair of a transaction a crash left half
// done (see store.Config.OnRepair).
func openAppWith(ctx context.Context, cfg config.Config, create bool, onRepair func(store.Repair, bool)) (*app, error) {
	if create {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	keysetFile := filepath.Join(cfg.DataDir, "keysets.json")
	// Keys are created only for a data directory that holds nothing yet. A database without its
	// keys is unreadable; making new keys for it would hide the loss and let the same people be
	// stored twice, so every missing piece of an existing directory is an error.
	parts, err := store.Parts(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	parts = append(parts, store.Part{Path: keysetFile, What: "the keysets"})
	var present, missing []string
	for _, p := range parts {
		if _, err := os.Stat(p.Path); err == nil {
			present = append(present, p.What+" ("+filepath.Base(p.Path)+")")
		} else {
			missing = append(missing, p.What+" ("+filepath.Base(p.Path)+")")
		}
	}
	fresh := len(present) == 0
	if !fresh && len(missing) > 0 {
		return nil, fmt.Errorf("%s holds %s but not %s: restore the missing files from a backup (Tillit never makes new keys for existing data)",
			cfg.DataDir, strings.Join(present, ", "), strings.Join(missing, ", "))
	}
	if fresh && !create {
		return nil, fmt.Errorf("no Tillit database in %s (start tillit serve once, or pass --data)", cfg.DataDir)
	}
	if !fresh {
		if _, err := os.Stat(cfg.RootKeyFile); err != nil {
			return nil, fmt.Errorf("the root key %s is missing: if it was moved, set TILLIT_ROOT_KEY_FILE to where it is; otherwise restore it from its backup (Tillit never makes a new root key for existing data)", cfg.RootKeyFile)
		}
	}
	kr, created, err := keys.Open(keys.Config{RootKeyFile: cfg.RootKeyFile, KeysetFile: keysetFile, Create: fresh})
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, store.Config{URL: cfg.DataDir, VFS: cfg.SQLiteVFS, AnchorMAC: kr.AnchorMAC, OnRepair: onRepair})
	if err != nil {
		return nil, err
	}
	now := func() time.Time { return time.Now().UTC() }
	a := &app{cfg: cfg, st: db, keys: kr, created: created}
	a.contacts = &contact.Service{Store: store.Contacts(db), Keys: kr, Now: now, NewID: newID, DefaultRegion: cfg.DefaultRegion}
	a.consent = &consent.Service{Store: store.Consent(db), Keys: kr, Now: now, NewID: newID, Cache: &consent.GateCache{}, Gen: db}
	a.policies = &consent.Policies{Store: store.Policies(db), Now: now, NewID: newID, Check: governance.CheckTemplate}
	a.tokens = &token.Service{Store: store.Tokens(db), Now: now, NewID: newID, Gen: db}
	a.importer = &importer.Importer{Store: store.Importer(db), Contacts: a.contacts, Consent: a.consent, Keys: kr, Now: now, NewID: newID}
	if err := a.consent.EnsureDefaultPurpose(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.st.Close() }

// auditLog adapts the store's audit reader to api.AuditLog.
type auditLog struct{ db store.Store }

func (l auditLog) AuditEvents(ctx context.Context, kind, id string, after int64, limit int) ([]audit.Event, error) {
	return l.db.AuditEvents(ctx, store.AuditFilter{ObjectKind: kind, ObjectID: id, AfterSeq: after, Limit: limit})
}

func (l auditLog) VerifyAudit(ctx context.Context) (audit.Verification, error) {
	return l.db.VerifyAudit(ctx)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// share returns the processor register and disclosure gate on the app's store.
func (a *app) share() *share.Service {
	return &share.Service{Store: store.Share(a.st), Contacts: a.contacts, Keys: a.keys, Now: time.Now, NewID: newID}
}

// retention returns the retention policies and sweep on the app's store.
func (a *app) retention() *governance.Retention {
	return &governance.Retention{Store: store.Retention(a.st), Contacts: a.contacts, Now: time.Now}
}

// erasureHooks makes the app's erasures do what they do in tillit serve: remove the person's
// mail files and close and forget their data subject requests. It returns the request service
// the hooks use.
func (a *app) erasureHooks() *dsr.Service {
	files := mail.FileTransport{Dir: filepath.Join(a.cfg.DataDir, "mail")}
	req := &dsr.Service{Store: store.Requests(a.st), Keys: a.keys, Now: time.Now, NewID: newID, AfterForget: files.RemoveRequest}
	a.contacts.AfterErase = func(ctx context.Context, id string) error { return files.RemoveContact(id) }
	a.contacts.Erasing = req.ErasingIn
	return req
}
