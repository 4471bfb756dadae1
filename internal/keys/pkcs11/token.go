//go:build cgo

package pkcs11

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/tillit/tillit/internal/keys"
)

// Supported reports whether this build can load a PKCS#11 module (a build with cgo).
const Supported = true

// Key is a keys.Root held in a PKCS#11 token: an AES-256 secret key that was generated inside
// the token (sensitive, never extractable) and encrypts with CKM_AES_GCM inside it. Its
// ciphertext is the 12-byte IV followed by the token's output (ciphertext and 16-byte tag), the
// same layout as the root key file's. It is safe for concurrent use; Close ends it.
type Key struct {
	mu      sync.Mutex
	mod     *module // nil once closed
	ctx     *p11.Ctx
	session p11.SessionHandle
	key     p11.ObjectHandle
	label   string
}

var _ keys.Root = (*Key)(nil)

// Open loads u's module, finds the one token u selects, logs in with u's PIN and finds the AES
// key labelled u.Object. When no such key exists and create is set, it generates one in the
// token (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, encrypt and decrypt only)
// and reports created. It refuses a key that is not a sensitive 256-bit AES key allowed to
// encrypt and decrypt. Errors name the module, token and label, never the PIN.
//
// Keys open at once on one module, in any order of Open and Close, are independent: they
// share the module's initialization and the token's login, which PKCS#11 keeps per process,
// and each has a session of its own (module).
func Open(u URI, create bool) (_ *Key, created bool, err error) {
	if _, err := os.Stat(u.ModulePath); err != nil {
		return nil, false, fmt.Errorf("pkcs11: module %s: %w", u.ModulePath, err)
	}
	mod, err := acquireModule(u.ModulePath)
	if err != nil {
		return nil, false, err
	}
	ctx := mod.ctx
	k := &Key{mod: mod, ctx: ctx, label: u.Object}
	defer func() {
		if err != nil {
			k.Close()
		}
	}()
	slot, tokenName, err := findToken(ctx, u)
	if err != nil {
		return nil, false, err
	}
	flags := uint(p11.CKF_SERIAL_SESSION)
	if create {
		flags |= p11.CKF_RW_SESSION
	}
	k.session, err = ctx.OpenSession(slot, flags)
	if err != nil {
		return nil, false, fmt.Errorf("pkcs11: open a session on token %s: %w", tokenName, err)
	}
	if err := ctx.Login(k.session, p11.CKU_USER, u.pin); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		switch {
		case errors.Is(err, p11.Error(p11.CKR_PIN_INCORRECT)):
			return nil, false, fmt.Errorf("pkcs11: the user PIN of token %s is wrong (CKR_PIN_INCORRECT)", tokenName)
		case errors.Is(err, p11.Error(p11.CKR_PIN_LOCKED)):
			return nil, false, fmt.Errorf("pkcs11: the user PIN of token %s is locked (CKR_PIN_LOCKED)", tokenName)
		}
		return nil, false, fmt.Errorf("pkcs11: log in to token %s: %w", tokenName, err)
	}
	find := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_LABEL, u.Object),
	}
	if len(u.ID) > 0 {
		find = append(find, p11.NewAttribute(p11.CKA_ID, u.ID))
	}
	found, err := findObjects(ctx, k.session, find)
	if err != nil {
		return nil, false, fmt.Errorf("pkcs11: find key %s on token %s: %w", u.Object, tokenName, err)
	}
	switch {
	case len(found) > 1:
		return nil, false, fmt.Errorf("pkcs11: token %s holds %d secret keys labelled %s; want one (give id= too)", tokenName, len(found), u.Object)
	case len(found) == 1:
		k.key = found[0]
	case !create:
		return nil, false, fmt.Errorf("pkcs11: token %s holds no secret key labelled %s (Tillit creates it only on the first start of an empty data directory)", tokenName, u.Object)
	default:
		template := []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, keys.RootKeySize),
			p11.NewAttribute(p11.CKA_LABEL, u.Object),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
			p11.NewAttribute(p11.CKA_SIGN, false),
			p11.NewAttribute(p11.CKA_VERIFY, false),
			p11.NewAttribute(p11.CKA_DERIVE, false),
		}
		if len(u.ID) > 0 {
			template = append(template, p11.NewAttribute(p11.CKA_ID, u.ID))
		}
		k.key, err = ctx.GenerateKey(k.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, template)
		if err != nil {
			return nil, false, fmt.Errorf("pkcs11: generate key %s on token %s: %w", u.Object, tokenName, err)
		}
		created = true
	}
	if err := checkKey(ctx, k.session, k.key); err != nil {
		return nil, false, fmt.Errorf("pkcs11: key %s on token %s: %w", u.Object, tokenName, err)
	}
	return k, created, nil
}

// findToken returns the slot of the one initialized token u selects and a name for it in
// messages.
func findToken(ctx *p11.Ctx, u URI) (uint, string, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, "", fmt.Errorf("pkcs11: list the slots of %s: %w", u.ModulePath, err)
	}
	var match []uint
	var names, seen []string
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			return 0, "", fmt.Errorf("pkcs11: read token of slot %d: %w", s, err)
		}
		if ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue // an empty slot such as SoftHSM2's spare one: no keys, no PIN
		}
		label := strings.TrimRight(ti.Label, " \x00")
		seen = append(seen, fmt.Sprintf("%q", label))
		if (u.Token == "" || u.Token == label) &&
			(u.Manufacturer == "" || u.Manufacturer == strings.TrimRight(ti.ManufacturerID, " \x00")) &&
			(u.Model == "" || u.Model == strings.TrimRight(ti.Model, " \x00")) &&
			(u.Serial == "" || u.Serial == strings.TrimRight(ti.SerialNumber, " \x00")) &&
			(!u.HasSlotID || u.SlotID == s) {
			match = append(match, s)
			names = append(names, fmt.Sprintf("%q", label))
		}
	}
	slices.Sort(seen)
	switch len(match) {
	case 1:
		return match[0], names[0], nil
	case 0:
		if len(seen) == 0 {
			return 0, "", fmt.Errorf("pkcs11: module %s has no token", u.ModulePath)
		}
		return 0, "", fmt.Errorf("pkcs11: no token of module %s matches %s (its tokens: %s)", u.ModulePath, u.selector(), strings.Join(seen, ", "))
	default:
		slices.Sort(names)
		return 0, "", fmt.Errorf("pkcs11: %d tokens of module %s match %s (%s); select one by token, serial or slot-id", len(match), u.ModulePath, u.selector(), strings.Join(names, ", "))
	}
}

func findObjects(ctx *p11.Ctx, sh p11.SessionHandle, template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sh, template); err != nil {
		return nil, err
	}
	var out []p11.ObjectHandle
	for {
		objs, _, err := ctx.FindObjects(sh, 16)
		if err != nil {
			ctx.FindObjectsFinal(sh)
			return nil, err
		}
		if len(objs) == 0 {
			break
		}
		out = append(out, objs...)
	}
	return out, ctx.FindObjectsFinal(sh)
}

// checkKey refuses a key that is not a 256-bit AES key, is not sensitive (its value could be
// read out in plain) or may not encrypt and decrypt. An extractable key is accepted: a token
// can export a sensitive key only wrapped under another key, which is how some HSMs back up.
func checkKey(ctx *p11.Ctx, sh p11.SessionHandle, key p11.ObjectHandle) error {
	attrs, err := ctx.GetAttributeValue(sh, key, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_KEY_TYPE, nil),
		p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_ENCRYPT, nil),
		p11.NewAttribute(p11.CKA_DECRYPT, nil),
	})
	if err != nil {
		return fmt.Errorf("read its attributes: %w", err)
	}
	v := map[uint][]byte{}
	for _, a := range attrs {
		v[a.Type] = a.Value
	}
	switch {
	case ulong(v[p11.CKA_KEY_TYPE]) != p11.CKK_AES:
		return errors.New("not an AES key (CKA_KEY_TYPE)")
	case ulong(v[p11.CKA_VALUE_LEN]) != keys.RootKeySize:
		return fmt.Errorf("%d bytes long (CKA_VALUE_LEN); want %d", ulong(v[p11.CKA_VALUE_LEN]), keys.RootKeySize)
	case !boolean(v[p11.CKA_SENSITIVE]):
		return errors.New("its value can be read out of the token (CKA_SENSITIVE is false)")
	case !boolean(v[p11.CKA_ENCRYPT]) || !boolean(v[p11.CKA_DECRYPT]):
		return errors.New("it may not encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)")
	}
	return nil
}

// ulong decodes a CK_ULONG attribute value (native byte order, 8 or 4 bytes); 0 for another
// length.
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return 0
}

func boolean(b []byte) bool { return len(b) == 1 && b[0] != 0 }

const (
	gcmIVSize  = 12
	gcmTagBits = 128
)

// errClosed is the error of a Key used after Close.
var errClosed = errors.New("the key was closed")

// Kind is keys.RootPKCS11.
func (*Key) Kind() string { return keys.RootPKCS11 }

// Encrypt seals plaintext with associated data in the token (CKM_AES_GCM, a random 96-bit IV
// from crypto/rand, or the one the token chose when it ignores the given one) and returns the
// IV followed by the token's ciphertext and tag.
func (k *Key) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	iv := make([]byte, gcmIVSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mod == nil {
		return nil, fmt.Errorf("pkcs11: encrypt with key %s: %w", k.label, errClosed)
	}
	params := p11.NewGCMParams(iv, associatedData, gcmTagBits)
	defer params.Free()
	if err := k.ctx.EncryptInit(k.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k.key); err != nil {
		return nil, fmt.Errorf("pkcs11: encrypt with key %s: %w", k.label, err)
	}
	ct, err := k.ctx.Encrypt(k.session, plaintext)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: encrypt with key %s: %w", k.label, err)
	}
	if used := params.IV(); len(used) == gcmIVSize {
		iv = used
	}
	return append(iv, ct...), nil
}

// Decrypt opens a ciphertext of Encrypt with the same associated data in the token.
func (k *Key) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	if len(ciphertext) < gcmIVSize+gcmTagBits/8 {
		return nil, errors.New("pkcs11: the root key does not open this keyset (ciphertext too short)")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mod == nil {
		return nil, fmt.Errorf("pkcs11: decrypt with key %s: %w", k.label, errClosed)
	}
	params := p11.NewGCMParams(slices.Clone(ciphertext[:gcmIVSize]), associatedData, gcmTagBits)
	defer params.Free()
	if err := k.ctx.DecryptInit(k.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k.key); err != nil {
		return nil, fmt.Errorf("pkcs11: decrypt with key %s: %w", k.label, err)
	}
	pt, err := k.ctx.Decrypt(k.session, ciphertext[gcmIVSize:])
	if err != nil {
		return nil, fmt.Errorf("pkcs11: the root key %s does not open this keyset (wrong key or damaged file): %w", k.label, err)
	}
	return pt, nil
}

// Close closes the Key's session and gives back its hold on the module: the last Key on a
// module finalizes and unloads it (when this process initialized it). It does not log out
// (C_Logout): the login is the process's with the token, shared by every other Key open on
// it; the token logs the process out when its last session closes. The Key is unusable
// afterwards; a second Close does nothing.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mod == nil {
		return nil
	}
	var err error
	if k.session != 0 {
		err = k.ctx.CloseSession(k.session)
	}
	if rerr := k.mod.release(); err == nil {
		err = rerr
	}
	k.mod, k.ctx = nil, nil
	return err
}

// selector describes the token attributes u selects by, for messages.
func (u URI) selector() string {
	var s []string
	add := func(name, v string) {
		if v != "" {
			s = append(s, fmt.Sprintf("%s=%q", name, v))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("model", u.Model)
	add("serial", u.Serial)
	if u.HasSlotID {
		s = append(s, fmt.Sprintf("slot-id=%d", u.SlotID))
	}
	if len(s) == 0 {
		return "(any token)"
	}
	return strings.Join(s, " ")
}
