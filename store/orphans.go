package store

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river/rivertype"
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

// Jobs stranded by a database outage.
//
// A job that ends while the database is unreachable cannot be marked
// completed or retryable: River's completer retries for a few seconds, then
// gives up, and the job stays "running" under a live process, which the
// heartbeat protects, until River's rescuer steps in after rescueAfter
// (minutes). Each process knows which of its jobs it is still executing, so
// the heartbeat also makes available again a job the database says this
// process runs but which it ended at least unrecordedAfter ago (or never
// started: a fetch whose answer was lost). A job ending is idempotent here
// (a delivery already settled is skipped, a finished run is not started
// again), so a job whose completion merely arrives late costs nothing.
const unrecordedAfter = 15 * time.Second

// working is the set of jobs this process's workers are executing, and
// when each of the others ended lately.
type working struct {
	mu      sync.Mutex
	running map[int64]bool
	ended   map[int64]time.Time
	suspect map[int64]time.Time // running in the database, not here, since
}

// track is River worker middleware around every job.
func (w *working) track(ctx context.Context, job *rivertype.JobRow, work func(context.Context) error) error {
	w.mu.Lock()
	w.running[job.ID] = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, job.ID)
		w.ended[job.ID] = time.Now()
		w.mu.Unlock()
	}()
	return work(ctx)
}

// stranded returns which of ids (jobs the database says this process is
// running) have not been executing here for unrecordedAfter, and forgets
// what it no longer needs to remember.
func (w *working) stranded(ids []int64, now time.Time) []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	inDB := make(map[int64]bool, len(ids))
	var out []int64
	for _, id := range ids {
		inDB[id] = true
		if w.running[id] {
			delete(w.suspect, id)
			continue
		}
		since, ok := w.ended[id]
		if !ok { // never started here, or ended before this process remembers
			if since, ok = w.suspect[id]; !ok {
				since = now
				w.suspect[id] = now
			}
		}
		if now.Sub(since) >= unrecordedAfter {
			out = append(out, id)
		}
	}
	for id, at := range w.ended {
		if !inDB[id] && now.Sub(at) >= unrecordedAfter {
			delete(w.ended, id)
		}
	}
	for id := range w.suspect {
		if !inDB[id] {
			delete(w.suspect, id)
		}
	}
	return out
}

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
	if err != nil {
		return err
	}
	return s.releaseStranded(ctx)
}

// releaseStranded makes available again the jobs of this process that the
// database still calls running although they ended here (see unrecordedAfter).
func (s *Store) releaseStranded(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id FROM river_job WHERE state = 'running' AND `+s.db.Types().LastAttemptedBy+` = $1`, s.clientID())
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	released := 0
	for _, id := range s.working.stranded(ids, time.Now()) {
		n, err := s.db.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id = $1 AND state = 'running'`, id)
		if err != nil {
			return err
		}
		released += int(n)
	}
	if released > 0 {
		s.logger.Warn("jobs whose end the database missed (it was unreachable) were made available again", "jobs", released)
	}
	return nil
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
