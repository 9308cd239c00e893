package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookd-dev/hookd/store/driver"
)

// Lanes.
//
// A lane is one environment: an action deploying one artifact's stage of one
// repository. Deploys are level-triggered: the lane keeps the versions GTO
// shows for the stage (desired) and the versions its last successful run
// delivered (deployed), and its runs converge the second on the first, one
// at a time across every process, the newest desired state first.

var (
	// ErrLaneBusy: another live run holds the lane. Nothing is lost by
	// leaving: the holder wakes the lane's next run when it finishes.
	ErrLaneBusy = errors.New("store: another run is deploying to this lane")
	// ErrNothingDue: the lane has no run left to start.
	ErrNothingDue = errors.New("store: nothing is due in this lane")
)

// Lane is an environment's desired and deployed state.
type Lane struct {
	Repository string
	Artifact   string
	Stage      string
	Action     string
	// Desired is what GTO shows for the stage now, as of DesiredEventID.
	Desired        []string
	DesiredEventID int64
	// Deployed is what the last successful run (DeployedRunID, at
	// DeployedAt) delivered; nil when nothing was deployed yet.
	Deployed      []string
	DeployedRunID int64
	DeployedAt    time.Time
	UpdatedAt     time.Time
}

// InSync reports whether the lane has deployed what GTO shows.
func (l Lane) InSync() bool { return slices.Equal(l.Desired, l.Deployed) }

// LaneFilter selects lanes; empty fields match everything.
type LaneFilter struct {
	Repository string
	Artifact   string
	Stage      string
	Action     string
}

const laneSelect = `SELECT repository, artifact, stage, action, desired, desired_event_id, deployed,
	deployed_run_id, deployed_at, updated_at FROM hookd_lane `

// Lanes lists lanes by repository, artifact, stage and action.
func (s *Store) Lanes(ctx context.Context, f LaneFilter) ([]Lane, error) {
	var w where
	w.add("repository", f.Repository)
	w.add("artifact", f.Artifact)
	w.add("stage", f.Stage)
	w.add("action", f.Action)
	q := laneSelect
	if len(w.conds) > 0 {
		q += "WHERE " + strings.Join(w.conds, " AND ")
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY repository, artifact, stage, action`, w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lane
	for rows.Next() {
		l, err := scanLane(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func scanLane(row driver.Row) (Lane, error) {
	var (
		l                  Lane
		desired, deployed  string
		deployedAt, update int64
	)
	err := row.Scan(&l.Repository, &l.Artifact, &l.Stage, &l.Action, &desired, &l.DesiredEventID, &deployed,
		&l.DeployedRunID, &deployedAt, &update)
	if err != nil {
		return l, err
	}
	if deployedAt != 0 {
		l.DeployedAt = fromMicros(deployedAt)
	}
	l.UpdatedAt = fromMicros(update)
	if l.Desired, err = versions(desired); err != nil {
		return l, err
	}
	l.Deployed, err = versions(deployed)
	return l, err
}

// LaneChange is what one event did to one stage, for one action.
type LaneChange struct {
	Action string
	Stage  string
	// Before and After are the versions GTO shows for the stage before and
	// after the event.
	Before, After []string
	// Trigger is what a run of the change is to the action
	// (EventAssignment or EventUnassignment), or "" when the change asks
	// nothing of it: the lane's desired state follows all the same.
	Trigger EventType
	// Version is the version the run is about: the one the stage gained
	// (or lost, for an unassignment).
	Version string
	// Redeploy: the event re-assigned the version the stage held.
	Redeploy bool
}

// Converge records what the event did to lanes: each lane's desired state
// follows, unless a later event already set it, and each change with a
// Trigger gets a queued run (one per event, action and stage) with its job,
// all in one transaction. Call it every time the event is seen (it is
// idempotent), like CreateRuns. It returns the event's runs of changes.
func (s *Store) Converge(ctx context.Context, eventID int64, changes []LaneChange) ([]Run, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	if err := s.QueueRuns(ctx, []EventRuns{{EventID: eventID, Changes: changes}}); err != nil {
		return nil, err
	}
	return s.eventRuns(ctx, eventID, func(r Run) bool {
		return slices.ContainsFunc(changes, func(c LaneChange) bool { return c.Trigger != "" && c.Action == r.Action && c.Stage == r.Stage })
	})
}

// LanePolicy is how a lane picks its next run.
type LanePolicy struct {
	// Supersede starts the newest queued run and marks the older ones
	// superseded; without it the oldest queued run goes first.
	Supersede bool
	// Direction names how desired compares with deployed (promotion,
	// rollback, ...); nil leaves it unset.
	Direction func(deployed, desired []string) string
}

// StartLane starts the next attempt in the lane of run runID, which is not
// necessarily that run: a run left running by a stopped process is resumed
// first, then the policy picks among the queued ones. A lane run whose
// desired state the lane has deployed already (and that asks for no
// redeploy) is skipped as superseded, so a change GTO no longer shows
// deploys nothing. It returns ErrLaneBusy when a live run holds the lane (it
// wakes the next run when it finishes), ErrLeaseHeld when the holder died
// and its lease has not expired yet (try again later), and ErrNothingDue.
func (s *Store) StartLane(ctx context.Context, runID int64, ttl time.Duration, policy LanePolicy) (Run, error) {
	var (
		run  Run
		idle bool
	)
	err := s.inSharedTx(ctx, func(ctx context.Context, tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		if err := s.laneFree(ctx, tx, r); err != nil {
			return err
		}
		lane, err := s.lane(ctx, tx, r)
		if err != nil {
			return err
		}
		for {
			next, err := s.pick(ctx, tx, r, policy)
			if errors.Is(err, ErrNothingDue) {
				idle = true // and keep what was skipped on the way
				return nil
			}
			if err != nil {
				return err
			}
			// Runs queued before lanes existed have no trigger and no
			// desired state: they run as they were asked to.
			lanes := next.Status == RunQueued && next.Stage != "" && next.Trigger != ""
			if lanes && !next.Redeploy && slices.Equal(next.Desired, lane.Deployed) {
				if err := s.skip(ctx, tx, next, 0, "already deployed: the lane holds what this run would deploy"); err != nil {
					return err
				}
				continue
			}
			if lanes {
				next.DeployedBefore = lane.Deployed
				if policy.Direction != nil {
					next.Direction = policy.Direction(lane.Deployed, next.Desired)
				}
			}
			run, err = s.begin(ctx, tx, next, ttl)
			return err
		}
	})
	if err == nil && idle {
		err = ErrNothingDue
	}
	return run, err
}

// laneFree returns nil when no live run holds r's lane.
func (s *Store) laneFree(ctx context.Context, tx driver.Tx, r Run) error {
	var holder string
	err := tx.QueryRow(ctx, `SELECT holder FROM hookd_lease WHERE name = $1 AND expires_at > `+s.db.Types().Now,
		laneLease(r)).Scan(&holder)
	switch {
	case errors.Is(err, driver.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	if holder == s.runHolder(r.ID) || strings.HasSuffix(holder, runHolderSuffix(r.ID)) && r.Status == RunRunning {
		// r itself holds the lane: its own job must carry it on, once
		// the lease of a stopped holder expires.
		return ErrLeaseHeld
	}
	process := holder
	if i := strings.LastIndex(holder, "/run/"); i >= 0 {
		process = holder[:i]
	}
	if process == s.holder {
		return ErrLaneBusy
	}
	alive, err := s.processAlive(ctx, tx, process)
	if err != nil {
		return err
	}
	if alive {
		return ErrLaneBusy
	}
	return ErrLeaseHeld
}

// lane reads r's lane (empty when it has none yet, as for runs of events
// without a stage).
func (s *Store) lane(ctx context.Context, tx driver.Tx, r Run) (Lane, error) {
	l, err := scanLane(tx.QueryRow(ctx, laneSelect+`WHERE repository = $1 AND artifact = $2 AND stage = $3 AND action = $4`,
		r.Repository, r.Artifact, r.Stage, r.Action))
	if errors.Is(err, driver.ErrNoRows) {
		return Lane{Repository: r.Repository, Artifact: r.Artifact, Stage: r.Stage, Action: r.Action}, nil
	}
	return l, err
}

// pick chooses the lane's next run: one left running first (its process
// stopped mid-attempt: it resumes with the same idempotency key), then by
// policy among the queued. Superseded runs are marked here.
func (s *Store) pick(ctx context.Context, tx driver.Tx, r Run, policy LanePolicy) (Run, error) {
	rows, err := tx.Query(ctx, runSelect+`WHERE repository = $1 AND artifact = $2 AND stage = $3 AND action = $4
		AND status IN ('queued', 'running') ORDER BY id`, r.Repository, r.Artifact, r.Stage, r.Action)
	if err != nil {
		return Run{}, err
	}
	var due []Run
	for rows.Next() {
		run, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return Run{}, err
		}
		due = append(due, run)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Run{}, err
	}
	if len(due) == 0 {
		return Run{}, ErrNothingDue
	}
	for _, run := range due {
		if run.Status == RunRunning {
			if !s.trustsPeers() {
				// After an outage every lease looks expired: give the
				// holder a heartbeat's time to come back first.
				return Run{}, ErrLeaseHeld
			}
			return run, nil
		}
	}
	if !policy.Supersede || r.Stage == "" {
		if oldest := due[0]; oldest.Attempts > 0 && oldest.ID != r.ID {
			// It waits out its retry backoff, in order, and its own
			// job comes back for it.
			return Run{}, ErrLaneBusy
		}
		return due[0], nil
	}
	newest := due[len(due)-1]
	for _, old := range due[:len(due)-1] {
		if err := s.skip(ctx, tx, old, newest.ID, "superseded: a newer change to the stage came before it started"); err != nil {
			return Run{}, err
		}
	}
	return newest, nil
}

// skip marks a queued run superseded, by run `by` (0 for none).
func (s *Store) skip(ctx context.Context, tx driver.Tx, r Run, by int64, note string) error {
	_, err := tx.Exec(ctx, `UPDATE hookd_run SET status = 'superseded', superseded_by = $2, note = $3, updated_at = $4
		WHERE id = $1 AND status = 'queued'`, r.ID, by, note, micros(now()))
	return err
}

// deployed records that run r delivered its desired state to its lane.
func (s *Store) deployed(ctx context.Context, tx driver.Tx, r Run, at int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO hookd_lane (repository, artifact, stage, action, desired, desired_event_id,
		deployed, deployed_run_id, deployed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8, $8)
		ON CONFLICT (repository, artifact, stage, action) DO UPDATE SET deployed = excluded.deployed,
		deployed_run_id = excluded.deployed_run_id, deployed_at = excluded.deployed_at, updated_at = excluded.updated_at`,
		r.Repository, r.Artifact, r.Stage, r.Action, versionsJSON(r.Desired), r.EventID, r.ID, at)
	return err
}

// WakeLane queues a job for the lane of run runID when runs wait in it.
func (s *Store) WakeLane(ctx context.Context, runID int64) error {
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		return s.wakeLane(ctx, tx, r, 0)
	})
}

// wakeLane queues a job for r's lane when runs other than except wait in
// it, so that the next one starts as soon as r's attempt is recorded.
func (s *Store) wakeLane(ctx context.Context, tx driver.Tx, r Run, except int64) error {
	var next int64
	err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM hookd_run WHERE repository = $1 AND artifact = $2
		AND stage = $3 AND action = $4 AND status = 'queued' AND id <> $5`,
		r.Repository, r.Artifact, r.Stage, r.Action, except).Scan(&next)
	if err != nil || next == 0 {
		return err
	}
	return s.queue.InsertTx(ctx, tx, []river.InsertManyParams{{Args: runActionArgs{RunID: next, Action: r.Action}}})
}

// strandedAfter is how long a waiting run must have gone unchanged before
// sweepLanes looks at its lane, and sweepEvery how often it looks.
const (
	strandedAfter = 30 * time.Second
	sweepEvery    = 15 * time.Second
)

// sweepLanes wakes lanes whose runs wait with nothing to start them: no
// live lease and no job left for any of their runs (a holder that died
// between its attempt and its wake-up, a job River gave up on). It is the
// safety net under wakeLane, run with the heartbeat.
func (s *Store) sweepLanes(ctx context.Context) error {
	if !s.trustsPeers() {
		return nil
	}
	// Lanes that moved lately are in hand; a stranded one stays put.
	rows, err := s.db.Query(ctx, `SELECT MAX(id) FROM hookd_run WHERE status IN ('queued', 'running')
		AND updated_at < $1 GROUP BY repository, artifact, stage, action LIMIT 100`, micros(now().Add(-strandedAfter)))
	if err != nil {
		return err
	}
	var newest []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		newest = append(newest, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range newest {
		if err := inTx(ctx, s.db, func(tx driver.Tx) error { return s.wakeIfStranded(ctx, tx, id) }); err != nil {
			return err
		}
	}
	return nil
}

// wakeIfStranded queues a job for the lane of run id when no live lease
// holds the lane and no job is left for any of its waiting runs.
func (s *Store) wakeIfStranded(ctx context.Context, tx driver.Tx, id int64) error {
	r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, id))
	if err != nil || r.Status != RunQueued && r.Status != RunRunning {
		return notFound(err) // gone, or it moved on since the sweep looked
	}
	var leases int
	err = tx.QueryRow(ctx, `SELECT count(*) FROM hookd_lease WHERE name = $1 AND expires_at > `+s.db.Types().Now,
		laneLease(r)).Scan(&leases)
	if err != nil || leases > 0 {
		return err
	}
	var jobs int
	err = tx.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1
		AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled') AND `+s.db.Types().JobRunID+` IN
		(SELECT id FROM hookd_run WHERE repository = $2 AND artifact = $3 AND stage = $4 AND action = $5
		AND status IN ('queued', 'running'))`,
		runActionArgs{}.Kind(), r.Repository, r.Artifact, r.Stage, r.Action).Scan(&jobs)
	if err != nil || jobs > 0 {
		return err
	}
	s.logger.Warn("a lane's runs had nothing left to start them; waking the lane", "run", r.ID, "action", r.Action,
		"repository", r.Repository, "artifact", r.Artifact, "stage", r.Stage)
	return s.queue.InsertTx(ctx, tx, []river.InsertManyParams{{Args: runActionArgs{RunID: r.ID, Action: r.Action}}})
}
