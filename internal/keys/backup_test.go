package keys_test

import (
	"crypto/ed25519"
	"testing"
)

// TestBackupSigningKeyIsTheInstallations: the same keysets give the same signing key after
// reopening, another installation's another; a signature made with it verifies under its public
// half only.
func TestBackupSigningKeyIsTheInstallations(t *testing.T) {
	dir := t.TempDir()
	a, err := openTest(t, dir, true).BackupSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := openTest(t, dir, false).BackupSigningKey()
	other, _ := openTest(t, t.TempDir(), true).BackupSigningKey()
	if !a.Equal(again) || a.Equal(other) {
		t.Fatal("BackupSigningKey: want the same key for the same keysets only")
	}
	msg := []byte("manifest")
	sig := ed25519.Sign(a, msg)
	if !ed25519.Verify(a.Public().(ed25519.PublicKey), msg, sig) || ed25519.Verify(other.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatal("a signature verifies under the wrong key, or not under its own")
	}
}
