package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"
)

// Reindexer re-indexes one table of the store under the primary key of the bidx keyset in
// batches (contact.Service.Reindex, dsr.Service.Reindex): up to limit rows with id > after, in
// one transaction audited with action on object; it returns the last id read ("" when none was)
// and the counts.
type Reindexer func(ctx context.Context, after string, limit int, action, object string) (next string, read, reindexed, lost int, err error)

// ReindexStep is one table a bidx rotation re-indexes, in the order the steps are given: the
// contacts first, then what is compared with them (the data subject requests).
type ReindexStep struct {
	Table   string    // plural, as the progress names the rows: "contacts", "requests"; kept in the cursor
	Reindex Reindexer // its batches
}

// BidxCounts is what a rotation's re-index did in one table, in rows.
type BidxCounts struct {
	Read      int `json:"read"`      // rows read by this run
	Reindexed int `json:"reindexed"` // rows whose stored indexes this run changed
	Lost      int `json:"lost"`      // rows whose data key did not open (left as they were)
}

// BidxSummary is what a rotation of the bidx keyset did.
type BidxSummary struct {
	Added uint32   `json:"added"` // the new primary key's id
	Kept  []uint32 `json:"kept"`  // the older keys, kept enabled for lookups (never deleted)
	// Read, Reindexed and Lost are the first table's counts (the contacts'), as Tables has them.
	Read      int `json:"read"`
	Reindexed int `json:"reindexed"`
	Lost      int `json:"lost"`
	// Tables has every table's counts by ReindexStep.Table (none for a table this run did not
	// reach: a run resumed in a later table, or that failed before it).
	Tables map[string]BidxCounts `json:"tables"`
}

// bidxCursor is the state of a bidx rotation kept beside keysets.json (File + ".bidx"): the key
// being made primary and the re-index's cursor (the table it is in, and the last id done there),
// so that a killed run continues where it stopped, and a run after a finished one starts a new
// rotation (the older keys stay in the set, so keysets.json alone cannot tell the two apart).
type bidxCursor struct {
	Key   uint32 `json:"key"`
	Table string `json:"table,omitempty"` // ReindexStep.Table; "" is the first step's (a cursor written before the requests were re-indexed too)
	After string `json:"after"`
	Done  bool   `json:"done"`
}

// Bidx rotates the bidx keyset (blind indexes, suppression hashes, the audit anchor's MAC, the
// index key id; README "Rotating keys while serving"): it adds a key (not primary), waits until
// every serving process has loaded it (each then looks up under it: BlindIndexes, AnchorMACs),
// makes it primary, waits until every process uses it as primary (none indexes under an older
// key any more), then re-indexes under it every row of each step's table, in the order the
// steps are given (the contacts, then the data subject requests, whose address indexes are
// compared with the contacts'), in batches of r.Batch, keeping its cursor (the table and the
// last id done there) in File + ".bidx" after each batch. The older keys are never disabled nor
// deleted: the suppression hashes of erased and unsubscribed people's addresses, the erasure
// ledger's and the former addresses' were made with them and cannot be made again (the
// addresses are gone), so every lookup keeps matching under them. Run again after an
// interruption, it continues; after a finished rotation, it starts a new one.
func (r *Rotation) Bidx(ctx context.Context, steps ...ReindexStep) (BidxSummary, error) {
	r.defaults()
	var sum BidxSummary
	cur, err := r.readCursor()
	if err != nil {
		return sum, err
	}
	for {
		all, err := ReadInfo(r.File, r.Root)
		if err != nil {
			return sum, err
		}
		info := all[KeysetBidx]
		newest := info.Newest()
		sum.Added = info.Primary
		switch {
		case info.Primary != newest.ID:
			if newest.Status != "enabled" {
				return sum, fmt.Errorf("keys: the newest key %d of the bidx keyset is disabled and not primary; enable it or delete it first", newest.ID)
			}
			if cur.Key != newest.ID {
				cur = bidxCursor{Key: newest.ID}
				if err := r.writeCursor(cur); err != nil {
					return sum, err
				}
			} else {
				r.say("bidx: resuming: key %d added, not primary yet", newest.ID)
			}
			if err := r.waitNodes(ctx, KeysetBidx, info); err != nil {
				return sum, err
			}
			if err := SetPrimary(r.File, r.Root, KeysetBidx, newest.ID); err != nil {
				return sum, err
			}
			r.say("bidx: key %d is primary: new blind indexes and suppression hashes are made with it; lookups match under every key", newest.ID)
			if err := r.stepOn(ctx, KeysetBidx, "keys.primary", newest.ID); err != nil {
				return sum, err
			}
		case cur.Key == info.Primary && !cur.Done:
			if err := r.waitNodes(ctx, KeysetBidx, info); err != nil {
				return sum, err
			}
			if err := r.reindexAll(ctx, steps, &cur, &sum); err != nil {
				return sum, err
			}
			for _, k := range info.Keys {
				if !k.Primary {
					sum.Kept = append(sum.Kept, k.ID)
				}
			}
			return sum, nil
		default:
			id, err := AddKey(r.File, r.Root, KeysetBidx)
			if err != nil {
				return sum, err
			}
			r.say("bidx: key %d added (not primary yet)", id)
			cur = bidxCursor{Key: id}
			if err := r.writeCursor(cur); err != nil {
				return sum, err
			}
			if err := r.stepOn(ctx, KeysetBidx, "keys.add", id); err != nil {
				return sum, err
			}
		}
	}
}

// reindexAll runs steps in order from the cursor (its table, after its id) to the end, saving
// the cursor after each batch and at the start of each table, and marks the rotation done.
func (r *Rotation) reindexAll(ctx context.Context, steps []ReindexStep, cur *bidxCursor, sum *BidxSummary) error {
	start := 0
	if cur.Table != "" {
		start = slices.IndexFunc(steps, func(s ReindexStep) bool { return s.Table == cur.Table })
		if start < 0 {
			return fmt.Errorf("keys: %s: the re-index stopped in %q, which this version does not re-index", r.cursorFile(), cur.Table)
		}
	}
	sum.Tables = map[string]BidxCounts{}
	for i := start; i < len(steps); i++ {
		st := steps[i]
		if i > start || cur.Table == "" {
			if i > start {
				cur.After = ""
			}
			cur.Table = st.Table
			if err := r.writeCursor(*cur); err != nil {
				return err
			}
		}
		n, err := r.reindexTable(ctx, st, cur)
		sum.Tables[st.Table] = n
		if i == 0 {
			sum.Read, sum.Reindexed, sum.Lost = n.Read, n.Reindexed, n.Lost
		}
		if err != nil {
			return err
		}
	}
	cur.Done = true
	if err := r.writeCursor(*cur); err != nil {
		return err
	}
	return r.stepOn(ctx, KeysetBidx, "keys.reindexed", cur.Key)
}

// reindexTable runs st from cur.After to the end of its table, saving the cursor after each
// batch, and returns its counts.
func (r *Rotation) reindexTable(ctx context.Context, st ReindexStep, cur *bidxCursor) (BidxCounts, error) {
	var n BidxCounts
	object := KeysetBidx + ":" + strconv.FormatUint(uint64(cur.Key), 10)
	if cur.After == "" {
		r.say("bidx: re-indexing the %s under key %d", st.Table, cur.Key)
	} else {
		r.say("bidx: resuming the re-index of the %s under key %d after those done", st.Table, cur.Key)
	}
	lastSaid := time.Time{} // the first batch is said at once
	for {
		next, read, done, lost, err := st.Reindex(ctx, cur.After, r.Batch, "keys.reindex", object)
		if err != nil {
			return n, err
		}
		if read == 0 {
			break
		}
		n.Read, n.Reindexed, n.Lost = n.Read+read, n.Reindexed+done, n.Lost+lost
		cur.After = next
		if err := r.writeCursor(*cur); err != nil {
			return n, err
		}
		if time.Since(lastSaid) >= time.Second {
			r.say("bidx: %d %s read (%d re-indexed) by this run", n.Read, st.Table, n.Reindexed)
			lastSaid = time.Now()
		}
	}
	r.say("bidx: %d %s read, %d re-indexed under key %d", n.Read, st.Table, n.Reindexed, cur.Key)
	if n.Lost > 0 {
		r.say("bidx: %d %s did not open (they were unreadable before): left as they are", n.Lost, st.Table)
	}
	return n, nil
}

func (r *Rotation) cursorFile() string { return r.File + ".bidx" }

func (r *Rotation) readCursor() (bidxCursor, error) {
	var c bidxCursor
	b, err := os.ReadFile(r.cursorFile())
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("keys: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("keys: %s: %w", r.cursorFile(), err)
	}
	return c, nil
}

// writeCursor replaces File + ".bidx" atomically (replaceFile): ids of keys and of a contact,
// nothing personal.
func (r *Rotation) writeCursor(c bidxCursor) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return replaceFile(r.cursorFile(), b)
}
