package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/audit"
)

// RotateStore runs transactions over RotateTx.
type RotateStore interface {
	Update(ctx context.Context, fn func(RotateTx) error) error
	View(ctx context.Context, fn func(RotateTx) error) error
}

// Rotation rotates a keyset of an installation while it serves, by Tink's procedure (keysets
// design page; research/crypto-design.md §2.4, §8.7):
//
//  1. add a new key, enabled and not primary, to keysets.json;
//  2. wait until every serving process has loaded it (their records in the store, which each
//     writes when it reloads keysets.json: Keyring.Watch), so that each can open what the key
//     makes, then make it primary;
//  3. wait until every process uses it as primary, so that none makes anything under an old key
//     any more, then re-wrap every data key of the key store under it in batches (one
//     transaction and one audit event each; a key erased or changed meanwhile is left to its
//     writer);
//  4. disable the old keys, wait until every process has loaded that, and count the data keys
//     still under them (a straggler written by a process that had not reloaded yet): none, and
//     the old keys are deleted; some, and they are enabled again and step 3 runs again;
//  5. wait until every process has loaded keysets.json without the old keys.
//
// Every step is one atomic replacement of keysets.json, and the state of the rotation is what
// that file holds (the newest key not primary: step 2; primary with older keys beside it: steps
// 3 and 4), so a rotation killed at any point continues where it stopped when run again: a
// batch already re-wrapped is skipped by reading the key id in each wrapped key's Tink prefix
// (WrapKeyID). A key is deleted only when no data key of the store is under it.
//
// With several nodes, each holds its own copy of keysets.json: the rotation runs on one node,
// and at each wait it names the processes that have not loaded the file as it is now; copy it
// to them (they reload it within RefreshInterval) and the rotation goes on by itself.
type Rotation struct {
	File  string      // keysets.json
	Root  Root        // the root key that opens File
	Keys  *Keyring    // this process's keyring on File; refreshed after every step
	Store RotateStore // the installation's store
	// Batch is the number of data keys read and re-wrapped per transaction (default 500).
	Batch int
	// Progress receives one line per step and about one per second of re-wrapping (counts and
	// key ids, nothing personal); nil: nothing.
	Progress io.Writer
	// Now is the clock of audit events and of the processes' records (default time.Now).
	Now func() time.Time
	// Poll is how often the processes' records are read while waiting (default 250 ms).
	Poll time.Duration

	lost map[string]bool // owners whose data key opened under no key of the keyset
}

// WrapSummary is what a rotation of the wrap keyset did.
type WrapSummary struct {
	Added     uint32   `json:"added"`     // the new primary key's id
	Deleted   []uint32 `json:"deleted"`   // the old keys removed from keysets.json
	Rewrapped int      `json:"rewrapped"` // data keys wrapped again by this run
	Keys      int      `json:"keys"`      // data keys in the key store at the end
	Lost      int      `json:"lost"`      // data keys that opened under no key of the keyset (left as they were)
}

func (r *Rotation) defaults() {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Poll <= 0 {
		r.Poll = 250 * time.Millisecond
	}
	if r.Progress == nil {
		r.Progress = io.Discard
	}
}

// Wrap rotates the wrap keyset (Rotation). Run again after an interruption, it continues; run
// on a keyset with a single key, it starts a new rotation.
func (r *Rotation) Wrap(ctx context.Context) (WrapSummary, error) {
	r.defaults()
	var sum WrapSummary
	started := false
	for {
		all, err := ReadInfo(r.File, r.Root)
		if err != nil {
			return sum, err
		}
		info := all[KeysetWrap]
		newest := info.Newest()
		sum.Added = info.Primary
		switch {
		case len(info.Keys) == 1 && started:
			// Done when every serving process has dropped the old key too.
			if err := r.waitNodes(ctx, KeysetWrap, info); err != nil {
				return sum, err
			}
			return sum, r.count(ctx, &sum)
		case len(info.Keys) == 1:
			id, err := AddKey(r.File, r.Root, KeysetWrap)
			if err != nil {
				return sum, err
			}
			started = true
			r.say("wrap: key %d added (not primary yet)", id)
			if err := r.step(ctx, "keys.add", id); err != nil {
				return sum, err
			}
		case info.Primary != newest.ID:
			if newest.Status != "enabled" {
				return sum, fmt.Errorf("keys: the newest key %d of the wrap keyset is disabled and not primary; enable it or delete it first", newest.ID)
			}
			if !started {
				r.say("wrap: resuming: key %d added, not primary yet", newest.ID)
			}
			started = true
			if err := r.waitNodes(ctx, KeysetWrap, info); err != nil {
				return sum, err
			}
			if err := SetPrimary(r.File, r.Root, KeysetWrap, newest.ID); err != nil {
				return sum, err
			}
			r.say("wrap: key %d is primary: new data keys are wrapped under it", newest.ID)
			if err := r.step(ctx, "keys.primary", newest.ID); err != nil {
				return sum, err
			}
		default:
			started = true
			if err := r.retireOld(ctx, info, &sum); err != nil {
				return sum, err
			}
		}
	}
}

// retireOld is steps 3 and 4 for a wrap keyset whose newest key is primary.
func (r *Rotation) retireOld(ctx context.Context, info KeysetInfo, sum *WrapSummary) error {
	var enabled, disabled []uint32
	for _, k := range info.Keys {
		switch {
		case k.Primary:
		case k.Status == "enabled":
			enabled = append(enabled, k.ID)
		default:
			disabled = append(disabled, k.ID)
		}
	}
	if err := r.waitNodes(ctx, KeysetWrap, info); err != nil {
		return err
	}
	if len(enabled) > 0 {
		if err := r.rewrapAll(ctx, info.Primary, sum); err != nil {
			return err
		}
		// A backup that copied the key store before the re-wrap must store keysets that still
		// open the old key: no disabling while one runs (HoldKeysets).
		release, err := holdOut(ctx, r.File, r.say)
		if err != nil {
			return err
		}
		defer release()
		for _, id := range enabled {
			if err := DisableKey(r.File, r.Root, KeysetWrap, id); err != nil {
				return err
			}
			r.say("wrap: key %d disabled", id)
			if err := r.step(ctx, "keys.disable", id); err != nil {
				return err
			}
		}
		return nil
	}
	release, err := holdOut(ctx, r.File, r.say)
	if err != nil {
		return err
	}
	defer release()
	under, damaged, err := r.countUnder(ctx, disabled)
	if err != nil {
		return err
	}
	if under > 0 && under == damaged {
		return fmt.Errorf("keys: %d data keys carry the id of an old wrap key but open under no key (damaged, unreadable before the rotation): the old keys %v are kept, disabled, and the rotation stops here; erase their owners or restore them, then run it again", damaged, disabled)
	}
	if under > 0 {
		// Written by a process that had not reloaded keysets.json yet: enable the keys again
		// (every process can open them again once it reloads) and re-wrap once more.
		r.say("wrap: %d data keys were wrapped under a disabled key meanwhile: enabling it again to re-wrap them", under)
		for _, id := range disabled {
			if err := EnableKey(r.File, r.Root, KeysetWrap, id); err != nil {
				return err
			}
			if err := r.step(ctx, "keys.enable", id); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range disabled {
		if err := DeleteKey(r.File, r.Root, KeysetWrap, id); err != nil {
			return err
		}
		sum.Deleted = append(sum.Deleted, id)
		r.say("wrap: key %d deleted: no data key is under it", id)
		if err := r.step(ctx, "keys.delete", id); err != nil {
			return err
		}
	}
	return nil
}

// step refreshes this process's keyring after a change of keysets.json and records the change
// in the audit log: action on object keyset "<name>:<key id>" (key ids are no secret).
func (r *Rotation) step(ctx context.Context, action string, id uint32) error {
	return r.stepOn(ctx, KeysetWrap, action, id)
}

// stepOn is step for the keyset name.
func (r *Rotation) stepOn(ctx context.Context, name, action string, id uint32) error {
	if _, err := r.Keys.Refresh(); err != nil {
		return err
	}
	return r.Store.Update(ctx, func(tx RotateTx) error {
		ev := audit.New(ctx, r.Now(), action, "keyset", name+":"+strconv.FormatUint(uint64(id), 10))
		return tx.AppendAudit(ctx, &ev)
	})
}

func (r *Rotation) say(format string, args ...any) {
	fmt.Fprintf(r.Progress, format+"\n", args...)
}

// rewrapAll re-wraps every data key of the store that is not under primary, in batches of
// r.Batch: each read in a read-only transaction, unwrapped and wrapped again here, and written
// in one transaction with an audit event "keys.rewrap" (the number of keys is not in it: one
// event per batch). A key that opens under no key of the keyset is counted in sum.Lost and left.
func (r *Rotation) rewrapAll(ctx context.Context, primary uint32, sum *WrapSummary) error {
	var total int
	if err := r.Store.View(ctx, func(tx RotateTx) error {
		var err error
		total, err = tx.CountWrappedKeys(ctx)
		return err
	}); err != nil {
		return err
	}
	r.say("wrap: re-wrapping the key store's %d data keys under key %d", total, primary)
	seen, done, lost, lastSaid, lastPct := 0, 0, 0, time.Now(), 0
	for after := ""; ; {
		var page []StoredKey
		if err := r.Store.View(ctx, func(tx RotateTx) error {
			var err error
			page, err = tx.WrappedKeys(ctx, after, r.Batch)
			return err
		}); err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].OwnerID
		seen += len(page)
		var news []StoredKey
		var olds [][]byte
		for _, k := range page {
			out, changed, err := r.Keys.Rewrap(k.OwnerID, k.Version, k.Wrapped)
			if err != nil {
				lost++
				if r.lost == nil {
					r.lost = map[string]bool{}
				}
				r.lost[k.OwnerID] = true
				continue
			}
			if changed {
				news = append(news, StoredKey{OwnerID: k.OwnerID, Version: k.Version, Wrapped: out})
				olds = append(olds, k.Wrapped)
			}
		}
		if len(news) > 0 {
			n, err := r.replace(ctx, news, olds, primary)
			if err != nil {
				return err
			}
			done += n
		}
		if pct := seen * 100 / max(total, 1); time.Since(lastSaid) >= time.Second || pct/10 > lastPct/10 {
			r.say("wrap: %d of %d data keys read (%d%%), %d re-wrapped", seen, total, min(pct, 100), done)
			lastSaid, lastPct = time.Now(), pct
		}
	}
	sum.Rewrapped += done
	sum.Lost = lost
	r.say("wrap: %d data keys read, %d re-wrapped under key %d", seen, done, primary)
	if lost > 0 {
		r.say("wrap: %d data keys open under no key of the wrap keyset (they were unreadable before): left as they are", lost)
	}
	return nil
}

// replace writes one batch of re-wrapped keys, each only while the stored key is still the one
// read, and the batch's audit event; it returns how many were replaced.
func (r *Rotation) replace(ctx context.Context, news []StoredKey, olds [][]byte, primary uint32) (int, error) {
	n := 0
	err := r.Store.Update(ctx, func(tx RotateTx) error {
		n = 0
		for i, k := range news {
			ok, err := tx.ReplaceWrappedKey(ctx, k, olds[i])
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		ev := audit.New(ctx, r.Now(), "keys.rewrap", "keyset", KeysetWrap+":"+strconv.FormatUint(uint64(primary), 10), "contact_keys.wrapped")
		return tx.AppendAudit(ctx, &ev)
	})
	return n, err
}

// countUnder counts the data keys of the store wrapped under one of ids, and of those the ones
// a re-wrap found damaged (r.lost: they open under no key).
func (r *Rotation) countUnder(ctx context.Context, ids []uint32) (under, damaged int, err error) {
	for after := ""; ; {
		var page []StoredKey
		if err := r.Store.View(ctx, func(tx RotateTx) error {
			var err error
			page, err = tx.WrappedKeys(ctx, after, max(r.Batch, 1000))
			return err
		}); err != nil {
			return 0, 0, err
		}
		if len(page) == 0 {
			return under, damaged, nil
		}
		after = page[len(page)-1].OwnerID
		for _, k := range page {
			if id, ok := WrapKeyID(k.Wrapped); ok && slices.Contains(ids, id) {
				under++
				if r.lost[k.OwnerID] {
					damaged++
				}
			}
		}
	}
}

func (r *Rotation) count(ctx context.Context, sum *WrapSummary) error {
	return r.Store.View(ctx, func(tx RotateTx) error {
		var err error
		sum.Keys, err = tx.CountWrappedKeys(ctx)
		return err
	})
}

// ErrNodesBehind is wrapped by waitNodes' error when ctx ended while processes had not loaded
// the keysets.
var ErrNodesBehind = errors.New("keys: serving processes have not loaded keysets.json as it is now")

// waitNodes waits until every live serving process (a record seen within NodeTTL) reports the
// keyset name as want, saying every 5 s which ones it waits for. Records of processes that
// stopped without removing theirs are ignored once NodeTTL has passed.
func (r *Rotation) waitNodes(ctx context.Context, name string, want KeysetInfo) error {
	lastSaid := time.Now().Add(-3 * time.Second) // the first word after 2 s of waiting
	for {
		var nodes []Node
		if err := r.Store.View(ctx, func(tx RotateTx) error {
			var err error
			nodes, err = tx.KeyNodes(ctx)
			return err
		}); err != nil {
			return err
		}
		now := r.Now()
		var behind []string
		for _, n := range nodes {
			if now.Sub(n.SeenAt) > NodeTTL {
				continue
			}
			if got := n.Keysets[name]; !got.Equal(want) {
				behind = append(behind, fmt.Sprintf("%s (pid %d)", n.Host, n.PID))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Since(lastSaid) >= 5*time.Second {
			r.say("%s: waiting for %d serving process(es) to load keysets.json as it is now: %s (copy it to their data directories; each reloads it within a second)",
				name, len(behind), strings.Join(behind, ", "))
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrNodesBehind, strings.Join(behind, ", "))
		case <-time.After(r.Poll):
		}
	}
}
