package store

import (
	"context"
	"strings"
	"time"
)

// Jobs orphaned by a crash.
//
// River rescues a job that a dead process left "running" only after
// RescueStuckJobsAfter, which must be longer than any job may take: minutes.
// hookd knows much sooner. Each process working jobs keeps a heartbeat
// lease named after its River client; a running job whose last client has
// no live heartbeat belonged to a process that is gone, and every worker
// process makes such jobs available again within seconds. A live replica's
// jobs are never touched, so this is safe with several processes on one
// database.

const (
	heartbeatTTL   = 10 * time.Second
	heartbeatEvery = 3 * time.Second
)

// clientID is the River client ID of this store's workers: its holder, in
// the characters River's IDs use.
func (s *Store) clientID() string { return clientIDOf(s.holder) }

// clientIDOf is the River client ID of the workers of the store whose
// holder is holder.
func clientIDOf(holder string) string {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, holder)
	return id[max(0, len(id)-100):] // River's limit; the unique part is at the end
}

func heartbeatName(clientID string) string { return "worker/" + clientID }

// trustsPeers reports whether this process may take an expired lease or
// heartbeat for a sign that its owner is gone. After an outage of the
// database every lease has expired, the owners' as much as this process's
// own; until this process has reached the database again for a whole
// heartbeat TTL, a live owner may simply not have had its turn to renew.
func (s *Store) trustsPeers() bool {
	since := s.reachableSince.Load()
	return since != 0 && time.Since(time.Unix(0, since)) >= heartbeatTTL
}

// reached records whether the database answered this process just now.
func (s *Store) reached(ok bool) {
	switch {
	case !ok:
		s.reachableSince.Store(0)
	case s.reachableSince.Load() == 0:
		s.reachableSince.Store(time.Now().UnixNano())
	}
}

// beat renews this process's heartbeat and makes orphaned jobs available.
func (s *Store) beat(ctx context.Context) error {
	_, err := s.acquireLease(ctx, s.db, heartbeatName(s.clientID()), s.holder, heartbeatTTL)
	s.reached(err == nil)
	if err != nil {
		return err
	}
	if !s.trustsPeers() {
		return nil
	}
	types := s.db.Types()
	n, err := s.db.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'
		AND NOT EXISTS (SELECT 1 FROM hookd_lease WHERE name = 'worker/' || `+types.LastAttemptedBy+`
		AND expires_at > `+types.Now+`)`)
	if n > 0 {
		s.logger.Warn("jobs left running by a stopped process were made available again", "jobs", n)
	}
	return err
}

// keepBeating calls beat until ctx ends, then gives up the heartbeat, so a
// process stopped cleanly leaves nothing to wait for.
func (s *Store) keepBeating(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.beat(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("worker heartbeat failed; will retry", "error", err)
			}
		case <-sweep.C:
			if err := s.sweepLanes(ctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("looking for lanes left waiting failed; will retry", "error", err)
			}
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := releaseLease(release, s.db, heartbeatName(s.clientID()), s.holder); err != nil {
				s.logger.Warn("could not give up the worker heartbeat; it expires by itself", "error", err)
			}
			return
		}
	}
}
