package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tillit/tillit/internal/keys"
)

// PutKeyNode inserts or replaces the record of a serving process (keys.Node).
func (tx *Tx) PutKeyNode(ctx context.Context, n keys.Node) error {
	sets, err := json.Marshal(n.Keysets)
	if err != nil {
		return fmt.Errorf("store: key node: %w", err)
	}
	_, err = tx.exec(ctx, `INSERT INTO keyset_nodes (id, host, pid, keysets, seen_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, keysets = excluded.keysets, seen_at = excluded.seen_at`,
		n.ID, n.Host, n.PID, string(sets), formatTime(n.SeenAt))
	return err
}

// DeleteKeyNode removes the record of the process id.
func (tx *Tx) DeleteKeyNode(ctx context.Context, id string) error {
	_, err := tx.exec(ctx, "DELETE FROM keyset_nodes WHERE id = ?", id)
	return err
}

// KeyNodes returns every serving process's record, in id order.
func (tx *Tx) KeyNodes(ctx context.Context) ([]keys.Node, error) {
	rows, err := tx.query(ctx, "SELECT id, host, pid, keysets, seen_at FROM keyset_nodes ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keys.Node{}
	for rows.Next() {
		var n keys.Node
		var sets, seen string
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, &sets, &seen); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(sets), &n.Keysets); err != nil {
			return nil, fmt.Errorf("store: key node %s: keysets: %w", n.ID, err)
		}
		if n.SeenAt, err = parseTime(seen); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, tx.base.translate(rows.Err())
}

// WrappedKeys returns up to limit wrapped data keys of the key store whose owner id sorts after
// after, in owner id order (bytewise: the column's collation on PostgreSQL is "C").
func (tx *Tx) WrappedKeys(ctx context.Context, after string, limit int) ([]keys.StoredKey, error) {
	rows, err := tx.query(ctx, "SELECT contact_id, version, wrapped FROM keystore.contact_keys WHERE contact_id > ? ORDER BY contact_id LIMIT ?", after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keys.StoredKey{}
	for rows.Next() {
		var k keys.StoredKey
		if err := rows.Scan(&k.OwnerID, &k.Version, &k.Wrapped); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, tx.base.translate(rows.Err())
}

// ReplaceWrappedKey stores k.Wrapped in place of old for k.OwnerID at k.Version; false when the
// stored key is not old at that version (erased or changed since it was read).
func (tx *Tx) ReplaceWrappedKey(ctx context.Context, k keys.StoredKey, old []byte) (bool, error) {
	res, err := tx.exec(ctx, "UPDATE keystore.contact_keys SET wrapped = ? WHERE contact_id = ? AND version = ? AND wrapped = ?", k.Wrapped, k.OwnerID, k.Version, old)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CountWrappedKeys counts the key store's wrapped data keys.
func (tx *Tx) CountWrappedKeys(ctx context.Context) (int, error) {
	row, err := tx.queryRow(ctx, "SELECT count(*) FROM keystore.contact_keys")
	if err != nil {
		return 0, err
	}
	var n int
	return n, row.Scan(&n)
}
