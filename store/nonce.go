package store

import (
	"context"
	"time"

	"github.com/hookd-dev/hookd/store/driver"
)

// ClaimNonce records key as used until expires and reports whether it was
// fresh: false means the key was claimed before and has not expired (a replay).
// Expired keys are deleted as a side effect, so the table stays small.
//
// Expiry is judged by the database's clock, as leases are, so replicas whose
// clocks disagree still agree on which keys are spent; callers should leave
// expires a little beyond the window in which they accept a request. Of
// claims of one key made at the same time, from this process or others
// sharing the database, exactly one is fresh.
func (s *Store) ClaimNonce(ctx context.Context, key string, expires time.Time) (bool, error) {
	types := s.db.Types()
	var fresh bool
	err := inTx(ctx, s.db, func(tx driver.Tx) error {
		// Deleting first lets an expired key be claimed again by the insert
		// below. On PostgreSQL a concurrent claim of the same expired key
		// waits on this delete's row lock, then finds the new row and
		// inserts nothing.
		if _, err := tx.Exec(ctx, `DELETE FROM hookd_nonce WHERE expires_at <= `+types.Now); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `INSERT INTO hookd_nonce (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
			key, micros(expires))
		fresh = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}
