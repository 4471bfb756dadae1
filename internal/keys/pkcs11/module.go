//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// module is one PKCS#11 module loaded by this process, shared by every Key open on it.
//
// PKCS#11 keeps a module's state per application (process), not per session: C_Initialize and
// C_Finalize initialize and end it for the whole process, and the login is the application's
// with the token, so C_Logout on one session logs every session out, and its private objects'
// handles stop working (PKCS#11 v2.40 §5.4, §5.6 C_Logout, §11.6). Keys on one module therefore
// share one module value: the first Open initializes it, the last Close finalizes it, and a
// Key's Close only closes its own session (the token logs the application out itself when its
// last session closes, §5.6 C_CloseSession).
type module struct {
	path string
	ctx  *p11.Ctx
	refs int // Keys holding the module
	// finalize: this process's first Open initialized the module (another user of the library
	// in the process had not), so the last Close finalizes it.
	finalize bool
}

// modules are the modules loaded, by path. This is the one piece of package-level state: it
// mirrors the module's own, which PKCS#11 keeps per process.
var modules = struct {
	mu sync.Mutex
	m  map[string]*module
}{m: map[string]*module{}}

// acquireModule returns the module at path, loaded and initialized, with one more reference;
// release gives it back.
// Two spellings of one file (a symbolic link, a relative path) are one module: the dynamic
// loader loads it once.
func acquireModule(path string) (*module, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			path = abs
		}
	}
	modules.mu.Lock()
	defer modules.mu.Unlock()
	if m, ok := modules.m[path]; ok {
		m.refs++
		return m, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load the module %s (not a PKCS#11 library?)", path)
	}
	m := &module{path: path, ctx: ctx, refs: 1, finalize: true}
	if err := ctx.Initialize(); errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		m.finalize = false
	} else if err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("pkcs11: initialize %s: %w", path, err)
	}
	modules.m[path] = m
	return m, nil
}

// release drops one reference; the last finalizes the module (when this process initialized
// it) and unloads it.
func (m *module) release() error {
	modules.mu.Lock()
	defer modules.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(modules.m, m.path)
	var err error
	if m.finalize {
		err = m.ctx.Finalize()
	}
	m.ctx.Destroy()
	return err
}
