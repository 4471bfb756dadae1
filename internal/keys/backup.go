package keys

import (
	"crypto/ed25519"
	"fmt"
)

// backupSigningLabel is the PRF input the backup signing key's seed is derived from.
const backupSigningLabel = "tillit:backup-signing:v1"

// BackupSigningKey returns the installation's backup signing key: an Ed25519 key (RFC 8032)
// whose 32-byte seed is the blind-index PRF (HMAC-SHA256) of the fixed label
// "tillit:backup-signing:v1", as AnchorMAC is under its own label, made with the oldest enabled
// key of the bidx keyset (the installation's first; a rotation, keys rotate --bidx, keeps it
// enabled for lookups, so the signing key operators record stays the same across rotations).
// So it is wrapped by the root key like every keyset (in the token, with a PKCS#11 root), lives
// in no file of its own, is the same for every process of the installation and for an
// installation restored from its backup, and never changes while that key is in the set (tillit
// keys move-root re-wraps the keysets and keeps it). tillit backup signs each backup's manifest
// with it; tillit restore checks the signature against the public half given to it (never one
// read from the backup itself). Never logged.
func (k *Keyring) BackupSigningKey() (ed25519.PrivateKey, error) {
	cur := k.cur.Load()
	seed, err := cur.bidx.PRFs[cur.bidxOldest].ComputePRF([]byte(backupSigningLabel), ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("keys: backup signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
