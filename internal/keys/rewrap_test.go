package keys_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/keys"
)

// memStore is a RotateStore in memory: the key store's wrapped keys, the processes' records and
// the audit events appended. hook, when set, runs at the start of every Update (a concurrent
// writer's turn).
type memStore struct {
	mu      sync.Mutex
	wrapped map[string]keys.StoredKey
	nodes   map[string]keys.Node
	events  []audit.Event
	hook    func(m *memStore)
}

func newMemStore() *memStore {
	return &memStore{wrapped: map[string]keys.StoredKey{}, nodes: map[string]keys.Node{}}
}

func (m *memStore) Update(ctx context.Context, fn func(keys.RotateTx) error) error {
	if m.hook != nil {
		m.hook(m)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(memTx{m})
}

func (m *memStore) View(ctx context.Context, fn func(keys.RotateTx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(memTx{m})
}

type memTx struct{ m *memStore }

func (t memTx) PutKeyNode(_ context.Context, n keys.Node) error { t.m.nodes[n.ID] = n; return nil }
func (t memTx) DeleteKeyNode(_ context.Context, id string) error {
	delete(t.m.nodes, id)
	return nil
}
func (t memTx) KeyNodes(context.Context) ([]keys.Node, error) {
	var out []keys.Node
	for _, n := range t.m.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
func (t memTx) WrappedKeys(_ context.Context, after string, limit int) ([]keys.StoredKey, error) {
	var ids []string
	for id := range t.m.wrapped {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []keys.StoredKey
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, t.m.wrapped[id])
	}
	return out, nil
}
func (t memTx) ReplaceWrappedKey(_ context.Context, k keys.StoredKey, old []byte) (bool, error) {
	cur, ok := t.m.wrapped[k.OwnerID]
	if !ok || cur.Version != k.Version || !bytes.Equal(cur.Wrapped, old) {
		return false, nil
	}
	t.m.wrapped[k.OwnerID] = k
	return true, nil
}
func (t memTx) CountWrappedKeys(context.Context) (int, error) { return len(t.m.wrapped), nil }
func (t memTx) AppendAudit(_ context.Context, e *audit.Event) error {
	t.m.events = append(t.m.events, *e)
	return nil
}

func (m *memStore) put(t *testing.T, kr *keys.Keyring, id string) {
	t.Helper()
	_, w, err := kr.NewDataKey(id, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.wrapped[id] = keys.StoredKey{OwnerID: id, Version: 1, Wrapped: w}
	m.mu.Unlock()
}

func (m *memStore) actions() []string {
	var out []string
	for _, e := range m.events {
		if e.Action != "keys.rewrap" || len(out) == 0 || out[len(out)-1] != "keys.rewrap" {
			out = append(out, e.Action)
		}
	}
	return out
}

// rotation returns a Rotation of dir's wrap keyset over m, with a keyring of its own.
func rotation(t *testing.T, dir string, m *memStore, progress *strings.Builder) *keys.Rotation {
	return &keys.Rotation{
		File: filepath.Join(dir, "keysets.json"), Root: rootOf(t, dir), Keys: openTest(t, dir, false),
		Store: m, Batch: 3, Progress: progress, Poll: time.Millisecond,
	}
}

// TestWrapRotationRewrapsEveryKey: a rotation with no serving process re-wraps every data key in
// batches, audits each step and batch, and deletes the old key; a key erased between the read of
// its batch and the write is left erased.
func TestWrapRotationRewrapsEveryKey(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	old := kr.Info()[keys.KeysetWrap].Primary
	m := newMemStore()
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		m.put(t, kr, id)
	}
	erased := false
	m.hook = func(m *memStore) { // the first batch's write finds "b" erased meanwhile
		if !erased {
			m.mu.Lock()
			delete(m.wrapped, "b")
			m.mu.Unlock()
			erased = true
		}
	}
	var progress strings.Builder
	sum, err := rotation(t, dir, m, &progress).Wrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rewrapped != 6 || sum.Keys != 6 || len(sum.Deleted) != 1 || sum.Deleted[0] != old || sum.Lost != 0 {
		t.Errorf("summary %+v; want 6 re-wrapped of 6 keys, %d deleted", sum, old)
	}
	for id, k := range m.wrapped {
		if got, _ := keys.WrapKeyID(k.Wrapped); got != sum.Added {
			t.Errorf("key of %s under %d; want %d", id, got, sum.Added)
		}
		if _, err := openTest(t, dir, false).OpenDataKey(id, 1, k.Wrapped); err != nil {
			t.Errorf("key of %s does not open after the rotation: %v", id, err)
		}
	}
	want := []string{"keys.add", "keys.primary", "keys.rewrap", "keys.disable", "keys.delete"}
	if got := m.actions(); !slices.Equal(got, want) {
		t.Errorf("audit actions %q; want %q", got, want)
	}
	for _, e := range m.events {
		if e.ObjectKind != "keyset" || !strings.HasPrefix(e.ObjectID, "wrap:") {
			t.Errorf("audit event %s on %s %s; want keyset wrap:<key id>", e.Action, e.ObjectKind, e.ObjectID)
		}
	}
}

// TestWrapRotationTakesBackAStraggler: a data key wrapped under the old key after the re-wrap (a
// process that had not reloaded keysets.json yet) is found once the old key is disabled; the key
// is enabled again and the straggler re-wrapped before the old key is deleted.
func TestWrapRotationTakesBackAStraggler(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	// A process still on the old keysets: its own copy of keysets.json, never updated.
	staleDir := t.TempDir()
	for _, f := range []string{"root.key", "keysets.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(staleDir, f), b, 0o600)
	}
	stale := openTest(t, staleDir, false)
	m := newMemStore()
	m.put(t, kr, "a")
	done := false
	m.hook = func(m *memStore) {
		// After the re-wrap, as the old key is disabled: a straggler under the old key.
		if !done && len(m.events) > 0 && m.events[len(m.events)-1].Action == "keys.rewrap" {
			done = true
			m.put(t, stale, "z")
		}
	}
	var progress strings.Builder
	sum, err := rotation(t, dir, m, &progress).Wrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := keys.WrapKeyID(m.wrapped["z"].Wrapped); !done || got != sum.Added || sum.Rewrapped != 2 {
		t.Errorf("straggler z under %d (summary %+v); want it re-wrapped under %d", got, sum, sum.Added)
	}
	want := []string{"keys.add", "keys.primary", "keys.rewrap", "keys.disable", "keys.enable", "keys.rewrap", "keys.disable", "keys.delete"}
	if got := m.actions(); !slices.Equal(got, want) {
		t.Errorf("audit actions %q; want %q\n%s", got, want, progress.String())
	}
}

// TestWrapRotationKeepsAKeyADamagedRowCarries: a data key that carries the old key's id but
// opens under no key is not re-wrapped; the old key stays (disabled) and the rotation says so.
func TestWrapRotationKeepsAKeyADamagedRowCarries(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	old := kr.Info()[keys.KeysetWrap].Primary
	m := newMemStore()
	m.put(t, kr, "a")
	m.put(t, kr, "b")
	w := bytes.Clone(m.wrapped["b"].Wrapped)
	w[len(w)-1] ^= 1
	m.wrapped["b"] = keys.StoredKey{OwnerID: "b", Version: 1, Wrapped: w}
	var progress strings.Builder
	_, err := rotation(t, dir, m, &progress).Wrap(context.Background())
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Wrap = %v; want the damaged key named", err)
	}
	info, _ := keys.ReadInfo(filepath.Join(dir, "keysets.json"), rootOf(t, dir))
	if k, ok := info[keys.KeysetWrap].Key(old); !ok || k.Status != "disabled" {
		t.Errorf("old key after the stop: %+v, %v; want kept, disabled", k, ok)
	}
}

// TestWrapRotationWaitsForServingProcesses: the key is made primary only once every live
// process has loaded it; a record older than NodeTTL is not waited for; a process that never
// loads it holds the rotation until ctx ends (ErrNodesBehind), and the run after it continues.
func TestWrapRotationWaitsForServingProcesses(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	m := newMemStore()
	m.put(t, kr, "a")
	now := time.Now()
	m.nodes["dead"] = keys.Node{ID: "dead", Keysets: kr.Info(), SeenAt: now.Add(-keys.NodeTTL - time.Second)}
	m.nodes["live"] = keys.Node{ID: "live", Host: "other", PID: 7, Keysets: kr.Info(), SeenAt: now}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var progress strings.Builder
	r := rotation(t, dir, m, &progress)
	if _, err := r.Wrap(ctx); !errors.Is(err, keys.ErrNodesBehind) || !strings.Contains(err.Error(), "other (pid 7)") {
		t.Fatalf("Wrap with a process behind = %v; want ErrNodesBehind naming it", err)
	}
	info, _ := keys.ReadInfo(filepath.Join(dir, "keysets.json"), rootOf(t, dir))
	wrap := info[keys.KeysetWrap]
	if len(wrap.Keys) != 2 || wrap.Primary == wrap.Newest().ID {
		t.Fatalf("wrap keyset while a process is behind: %v; want the new key added, not primary", wrap)
	}

	// The process loads keysets.json (as Keyring.Watch records it), and a run again finishes,
	// waiting for it at each step.
	follower := openTest(t, dir, false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			follower.Refresh()
			m.mu.Lock()
			m.nodes["live"] = keys.Node{ID: "live", Host: "other", PID: 7, Keysets: follower.Info(), SeenAt: time.Now()}
			m.mu.Unlock()
		}
	})
	sum, err := rotation(t, dir, m, &progress).Wrap(context.Background())
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != wrap.Newest().ID || len(sum.Deleted) != 1 {
		t.Errorf("summary %+v; want %d kept and the old key deleted", sum, wrap.Newest().ID)
	}
}
