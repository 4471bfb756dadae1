package app_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
)

const module = "github.com/tillit/tillit/"

// service reports whether t is a type of Tillit's own outside the store (the store's backends
// are adapters with their own options, not services).
func service(t reflect.Type) bool {
	return strings.HasPrefix(t.PkgPath(), module) && !strings.HasPrefix(t.PkgPath(), module+"internal/store")
}

// TestNoServiceHookIsNil walks everything an App holds (every field, exported or not, and the
// structs they point to, through interfaces, in Tillit's own packages outside the store) and fails for every
// exported function-typed field left nil: New wires every hook, so no erasure, address change
// or notice depends on which command built the services.
func TestNoServiceHookIsNil(t *testing.T) {
	a := apptest.New(t)
	seen := map[uintptr]bool{}
	var structs int
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Pointer:
			if v.IsNil() || v.Elem().Kind() != reflect.Struct || !service(v.Elem().Type()) {
				return
			}
			if seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem(), path)
		case reflect.Struct:
			if !service(v.Type()) {
				return
			}
			structs++
			for i := range v.NumField() {
				f, fv := v.Type().Field(i), v.Field(i)
				name := path + "." + f.Name
				if f.Type.Kind() == reflect.Func {
					if f.IsExported() && fv.IsNil() {
						t.Errorf("%s (%s) is nil after app.New", name, f.Type)
					}
					continue
				}
				// An interface field is a port the service calls (a store, a transport, a
				// webhook sender): one left nil fails only when first used.
				if f.Type.Kind() == reflect.Interface && f.IsExported() && fv.IsNil() {
					t.Errorf("%s (%s) is nil after app.New", name, f.Type)
					continue
				}
				walk(fv, name)
			}
		}
	}
	walk(reflect.ValueOf(a), "App")
	// The walk must reach the services, not stop at the App: at least one struct per field.
	if n := reflect.TypeFor[app.App]().NumField(); structs < n {
		t.Fatalf("walked %d structs; want at least %d", structs, n)
	}
	for _, name := range []string{"Contacts", "Requests", "Outbox", "Optin", "Campaigns", "HTTP", "Portal", "Console", "Ledger"} {
		if v := reflect.ValueOf(a).Elem().FieldByName(name); !v.IsValid() || v.IsNil() {
			t.Errorf("App.%s is not set", name)
		}
	}
}

// TestNewNamesWhatIsMissing: New refuses an incomplete input and says which parts are missing.
func TestNewNamesWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	_, err := app.New(ctx, app.Config{}, nil, nil)
	if err == nil {
		t.Fatal("New with nothing: no error")
	}
	for _, want := range []string{"the store", "the keyring", "Config.Transport", "Config.Logger", "Config.Settings.DataDir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}

	// One part missing at a time: the error names that part and no other.
	whole := apptest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	complete := app.Config{Settings: whole.Settings, Transport: app.Files(whole.Settings), Logger: logger}
	for _, tc := range []struct {
		name string
		edit func(*app.Config, **keys.Keyring)
	}{
		{"Config.Transport", func(c *app.Config, _ **keys.Keyring) { c.Transport = nil }},
		{"Config.Logger", func(c *app.Config, _ **keys.Keyring) { c.Logger = nil }},
		{"Config.Settings.DataDir", func(c *app.Config, _ **keys.Keyring) { c.Settings = config.Config{} }},
		{"the keyring", func(_ *app.Config, kr **keys.Keyring) { *kr = nil }},
	} {
		cfg, kr := complete, whole.Keys
		tc.edit(&cfg, &kr)
		_, err := app.New(ctx, cfg, whole.Store, kr)
		if err == nil || err.Error() != "app: missing "+tc.name {
			t.Errorf("without %s: %v; want app: missing %s", tc.name, err, tc.name)
		}
	}
}
