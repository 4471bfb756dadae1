// Package pkcs11 keeps Tillit's root key in a PKCS#11 token (an HSM, a smart card, SoftHSM2):
// an AES-256 key generated inside the token that encrypts and decrypts the keysets there
// (CKM_AES_GCM), named by a pkcs11: URI (RFC 7512). Key implements keys.Root.
//
// Invariants:
//   - The key never leaves the token: Tillit generates it with CKA_SENSITIVE true and
//     CKA_EXTRACTABLE false and refuses one whose value could be read out (CKA_SENSITIVE false).
//   - The user PIN never appears in an error, a log line or URI.String.
//   - The module is loaded (dlopen, through github.com/miekg/pkcs11) only by Open, so a tillit
//     that is not given a pkcs11: URI never loads one. The package needs cgo; built without it
//     (CGO_ENABLED=0, a static binary) Open says so and nothing else changes.
//   - The token is used only while the keysets are opened, created or re-wrapped, never per
//     field: the caller closes the Key once keys.Open returns.
//   - Keys open at once on one module never end each other: the module is initialized by the
//     first Open and finalized by the last Close of the process, and no Close logs out (the
//     login is the process's, shared by every session on the token).
package pkcs11
