package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// TestBlindIndexesUnderEveryKey: with one key, the candidates are the blind index alone; once a
// second key is added (not primary) they are the primary's first and the new key's next; once the
// new key is primary, its comes first and the old key's still follows, so a value indexed before
// the rotation is still found. A disabled key gives no candidate.
func TestBlindIndexesUnderEveryKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	kr := openTest(t, dir, true)
	root := rootOf(t, dir)
	before, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	one, err := kr.BlindIndexes(keys.IndexEmail, 1, "a@example.com")
	if err != nil || len(one) != 1 || !bytes.Equal(one[0], before) {
		t.Fatalf("BlindIndexes with one key = %x, %v; want [%x]", one, err, before)
	}
	old := kr.Info()[keys.KeysetBidx].Primary
	added, err := keys.AddKey(file, root, keys.KeysetBidx)
	if err != nil {
		t.Fatal(err)
	}
	kr.Refresh()
	two, _ := kr.BlindIndexes(keys.IndexEmail, 1, "a@example.com")
	if now, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com"); len(two) != 2 || !bytes.Equal(two[0], before) || !bytes.Equal(now, before) || bytes.Equal(two[1], before) {
		t.Fatalf("BlindIndexes with a key added, not primary = %x; want [%x, another]", two, before)
	}
	if err := keys.SetPrimary(file, root, keys.KeysetBidx, added); err != nil {
		t.Fatal(err)
	}
	kr.Refresh()
	after, _ := kr.BlindIndexes(keys.IndexEmail, 1, "a@example.com")
	primary, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	if len(after) != 2 || !bytes.Equal(after[0], two[1]) || !bytes.Equal(after[1], before) || !bytes.Equal(primary, two[1]) {
		t.Fatalf("BlindIndexes after the new key is primary = %x; want [%x %x]", after, two[1], before)
	}
	if other, _ := kr.BlindIndexes(keys.IndexSuppression, 1, "a@example.com"); bytes.Equal(other[0], after[0]) || bytes.Equal(other[1], after[1]) {
		t.Fatal("the candidates of another kind equal the e-mail's")
	}
	if err := keys.DisableKey(file, root, keys.KeysetBidx, old); err != nil {
		t.Fatal(err)
	}
	kr.Refresh()
	if got, _ := kr.BlindIndexes(keys.IndexEmail, 1, "a@example.com"); len(got) != 1 || !bytes.Equal(got[0], primary) {
		t.Fatalf("BlindIndexes with the old key disabled = %x; want the primary's alone", got)
	}
}

// TestAnchorMACUnderAnOldKeyVerifies: an anchor MAC made before the bidx key rotated is among
// AnchorMACs after (the audit log of a running server stays writable), AnchorMAC makes it under
// the new primary, and a MAC under no key of the set is not among them.
func TestAnchorMACUnderAnOldKeyVerifies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	kr := openTest(t, dir, true)
	hash := bytes.Repeat([]byte{7}, 32)
	old, _ := kr.AnchorMAC(42, hash)
	idOld, _ := kr.IndexKeyID()
	signOld, _ := kr.BackupSigningKey()
	added, _ := keys.AddKey(file, rootOf(t, dir), keys.KeysetBidx)
	if err := keys.SetPrimary(file, rootOf(t, dir), keys.KeysetBidx, added); err != nil {
		t.Fatal(err)
	}
	kr.Refresh()
	now, _ := kr.AnchorMAC(42, hash)
	macs, err := kr.AnchorMACs(42, hash)
	if err != nil || len(macs) != 2 || !bytes.Equal(macs[0], now) || !bytes.Equal(macs[1], old) || bytes.Equal(now, old) {
		t.Fatalf("AnchorMACs after the rotation = %x, %v; want [new %x, old %x]", macs, err, now, old)
	}
	other, _ := openTest(t, t.TempDir(), true).AnchorMAC(42, hash)
	for _, m := range macs {
		if bytes.Equal(m, other) {
			t.Fatal("another installation's MAC is among AnchorMACs")
		}
	}
	ids, _ := kr.IndexKeyIDs()
	idNow, _ := kr.IndexKeyID()
	if len(ids) != 2 || ids[0] != idNow || ids[1] != idOld || idNow == idOld {
		t.Errorf("IndexKeyIDs = %q; want [%s %s]", ids, idNow, idOld)
	}
	pubs, _ := kr.BackupVerifyKeys()
	signNow, _ := kr.BackupSigningKey()
	if len(pubs) != 2 || !pubs[1].Equal(signOld.Public().(ed25519.PublicKey)) || pubs[0].Equal(pubs[1]) || !signNow.Equal(signOld) {
		t.Errorf("BackupVerifyKeys = %x, signing key kept %v; want the new key's public half, then the old one's, and the signing key the installation's first", pubs, signNow.Equal(signOld))
	}
}
