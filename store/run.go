package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/hookd-dev/hookd/store/driver"
)

// RunStatus is where a deploy run stands.
type RunStatus string

const (
	RunQueued     RunStatus = "queued"
	RunRunning    RunStatus = "running"
	RunSucceeded  RunStatus = "succeeded"
	RunFailed     RunStatus = "failed"
	RunSuperseded RunStatus = "superseded" // a newer run for the same stage made it moot
)

var (
	// ErrLeaseHeld: another run of the same action for the same stage is
	// running; try again later.
	ErrLeaseHeld = errors.New("store: another run holds the lease")
	// ErrRunState: the run is not in a state that allows this.
	ErrRunState = errors.New("store: run is not in a state that allows this")
)

// Run is one execution of a deploy action for an event.
type Run struct {
	ID         int64
	EventID    int64
	Action     string
	Repository string
	Artifact   string
	Stage      string
	// IdempotencyKey is stable for (tag object, event type, action, and
	// the stage when it is not the event's own), so a target can recognise
	// a repeated deployment even across databases.
	IdempotencyKey string
	Status         RunStatus
	Attempts       int       // attempts started
	History        []Attempt // filled by Run, not by Runs
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// A lane run (Stage set) converges its lane, the environment
	// (Repository, Artifact, Stage, Action), on what GTO shows for the
	// stage. The fields below are empty for a run of an event without a
	// stage (a registration, a deregistration, a deprecation).

	// Trigger is how the run reads to actions: EventAssignment when the
	// stage holds a version it did not (or a redeploy was asked),
	// EventUnassignment when it lost one.
	Trigger EventType
	// Version is the version the run deploys, or for an unassignment the
	// version the stage lost.
	Version string
	// DesiredBefore and Desired are the stage's versions before and after
	// the change the run converges to.
	DesiredBefore []string
	Desired       []string
	// DeployedBefore is what the lane had deployed when the run started,
	// and Direction how Desired compares with it: promotion, rollback,
	// redeploy or removal.
	DeployedBefore []string
	Direction      string
	// Redeploy: the change re-assigned the version the stage held, an
	// explicit request to deploy it again.
	Redeploy bool
	// SupersededBy is the run that made this one moot (0 when none), and
	// Note says why a run was skipped.
	SupersededBy int64
	Note         string
}

// Attempt is one try at a run.
type Attempt struct {
	Number     int
	Holder     string // the process that ran it
	StartedAt  time.Time
	FinishedAt *time.Time
	ExitCode   *int
	OutputTail string
	Error      string
}

// AttemptResult is how an attempt ended.
type AttemptResult struct {
	// Attempt is the attempt that ended; when set, FinishRun refuses to
	// record it over a later one.
	Attempt    int
	ExitCode   *int // nil when no process ran (e.g. an HTTP action)
	OutputTail string
	Error      string
}

// CreateRuns creates a queued run of each action for the event and enqueues
// their jobs, in one transaction. Runs that already exist are left alone, so
// call it whether or not RecordEvent found the event new: a crash between the
// two is then healed by the retry. It returns the event's runs of actions.
func (s *Store) CreateRuns(ctx context.Context, eventID int64, actions []string) ([]Run, error) {
	if err := s.QueueRuns(ctx, []EventRuns{{EventID: eventID, Actions: actions}}); err != nil {
		return nil, err
	}
	return s.eventRuns(ctx, eventID, func(r Run) bool { return slices.Contains(actions, r.Action) })
}

// eventRuns are the runs of the event that want accepts.
func (s *Store) eventRuns(ctx context.Context, eventID int64, want func(Run) bool) ([]Run, error) {
	runs, err := s.Runs(ctx, RunFilter{EventID: eventID, Page: Page{Limit: 500}})
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, r := range runs {
		if want(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// EventRuns is what dispatching one event asks of the store: a run of each
// of Actions, which act on the event itself (CreateRuns), and its lane
// changes (Converge).
type EventRuns struct {
	EventID int64
	Actions []string
	Changes []LaneChange
}

// QueueRuns is CreateRuns and Converge of many events, in order, in one
// transaction with their jobs: a burst of events costs one commit.
func (s *Store) QueueRuns(ctx context.Context, all []EventRuns) error {
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		var jobs []river.InsertManyParams
		for _, er := range all {
			made, err := queueEventRuns(ctx, tx, er)
			if err != nil {
				return err
			}
			jobs = append(jobs, made...)
		}
		return s.queue.InsertTx(ctx, tx, jobs)
	})
}

// queueEventRuns writes one event's runs and lane changes and returns the
// jobs of the runs it created.
func queueEventRuns(ctx context.Context, tx driver.Tx, er EventRuns) ([]river.InsertManyParams, error) {
	var repository, artifact, stage, object, typ string
	err := tx.QueryRow(ctx, `SELECT repository, artifact, stage, tag_object_sha, type FROM hookd_event WHERE id = $1`, er.EventID).
		Scan(&repository, &artifact, &stage, &object, &typ)
	if err != nil {
		return nil, notFound(err)
	}
	t := micros(now())
	var jobs []river.InsertManyParams
	created := func(action string, err error, id int64) error {
		switch {
		case errors.Is(err, driver.ErrNoRows): // it exists already
			return nil
		case err != nil:
			return err
		}
		jobs = append(jobs, river.InsertManyParams{Args: runActionArgs{RunID: id, Action: action}})
		return nil
	}
	for _, action := range er.Actions {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO hookd_run (event_id, action, repository, artifact, stage,
			idempotency_key, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7)
			ON CONFLICT (event_id, action, stage) DO NOTHING RETURNING id`,
			er.EventID, action, repository, artifact, stage, idempotencyKey(repository, object, typ, action), t).Scan(&id)
		if err := created(action, err, id); err != nil {
			return nil, err
		}
	}
	for _, c := range er.Changes {
		if _, err := tx.Exec(ctx, `INSERT INTO hookd_lane (repository, artifact, stage, action, desired, desired_event_id, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (repository, artifact, stage, action) DO UPDATE SET desired = excluded.desired,
			desired_event_id = excluded.desired_event_id, updated_at = excluded.updated_at
			WHERE hookd_lane.desired_event_id <= excluded.desired_event_id`,
			repository, artifact, c.Stage, c.Action, versionsJSON(c.After), er.EventID, t); err != nil {
			return nil, err
		}
		if c.Trigger == "" {
			continue
		}
		key := idempotencyKey(repository, object, typ, c.Action)
		if c.Stage != stage {
			key = idempotencyKey(repository, object, typ, c.Action, c.Stage)
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO hookd_run (event_id, action, repository, artifact, stage,
			idempotency_key, status, created_at, updated_at, trigger_type, version, desired_before, desired, redeploy)
			VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (event_id, action, stage) DO NOTHING RETURNING id`,
			er.EventID, c.Action, repository, artifact, c.Stage, key, t, string(c.Trigger), c.Version,
			versionsJSON(c.Before), versionsJSON(c.After), c.Redeploy).Scan(&id)
		if err := created(c.Action, err, id); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

func idempotencyKey(repository, object, typ, action string, extra ...string) string {
	parts := append([]string{repository, object, typ, action}, extra...)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// laneLease names the lease that keeps one run at a time per
// (repository, artifact, stage, action), across processes.
func laneLease(r Run) string {
	return fmt.Sprintf("run %q %q %q %q", r.Repository, r.Artifact, r.Stage, r.Action)
}

// runHolder is unique per run and process, so two runs in the same process
// still exclude each other.
func (s *Store) runHolder(runID int64) string { return s.holder + runHolderSuffix(runID) }

func runHolderSuffix(runID int64) string { return fmt.Sprintf("/run/%d", runID) }

// StartRun claims a queued run (or a running one whose holder's lease
// expired, i.e. a crashed process) and starts its next attempt. It holds the
// run's lane for ttl; extend it with ExtendRun for long runs. It returns
// ErrLeaseHeld when another run holds the lane, and ErrRunState when the run
// is finished or superseded.
func (s *Store) StartRun(ctx context.Context, runID int64, ttl time.Duration) (Run, error) {
	var run Run
	err := inTx(ctx, s.db, func(tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		if r.Status != RunQueued && r.Status != RunRunning {
			return ErrRunState
		}
		run, err = s.begin(ctx, tx, r, ttl)
		return err
	})
	return run, err
}

// begin takes r's lane for ttl and starts r's next attempt, inside tx.
func (s *Store) begin(ctx context.Context, tx driver.Tx, r Run, ttl time.Duration) (Run, error) {
	ok, err := s.acquireLease(ctx, tx, laneLease(r), s.runHolder(r.ID), ttl)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, ErrLeaseHeld
	}
	t := micros(now())
	// An attempt still open belonged to a holder that stopped.
	if _, err := tx.Exec(ctx, `UPDATE hookd_run_attempt SET finished_at = $2, error = 'abandoned: its process stopped'
		WHERE run_id = $1 AND finished_at IS NULL`, r.ID, t); err != nil {
		return r, err
	}
	r.Attempts++
	r.Status = RunRunning
	if _, err := tx.Exec(ctx, `UPDATE hookd_run SET status = 'running', attempts = $2, updated_at = $3,
		deployed_before = $4, direction = $5 WHERE id = $1`,
		r.ID, r.Attempts, t, versionsJSON(r.DeployedBefore), r.Direction); err != nil {
		return r, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO hookd_run_attempt (run_id, attempt, holder, started_at) VALUES ($1, $2, $3, $4)`,
		r.ID, r.Attempts, s.holder, t)
	r.UpdatedAt = fromMicros(t)
	return r, err
}

// ExtendRun keeps a started run's lane for another ttl; ErrLeaseHeld means
// the lease was lost (it expired and another run took it).
func (s *Store) ExtendRun(ctx context.Context, runID int64, ttl time.Duration) error {
	r, err := s.Run(ctx, runID)
	if err != nil {
		return err
	}
	ok, err := s.acquireLease(ctx, s.db, laneLease(r), s.runHolder(runID), ttl)
	if err == nil && !ok {
		err = ErrLeaseHeld
	}
	return err
}

// FinishRun ends a started run's current attempt and releases its lane.
// status is RunSucceeded, RunFailed, or RunQueued for an attempt that failed
// but will be tried again. It is fenced: only the process that started the
// attempt may finish it, and with res.Attempt set only that attempt, so an
// attempt that lost its lane cannot overwrite the one that took it
// (ErrRunState). A lane run that succeeded becomes what its lane has
// deployed, and the lane's next queued run, if any, is woken at once.
func (s *Store) FinishRun(ctx context.Context, runID int64, status RunStatus, res AttemptResult) error {
	if status != RunSucceeded && status != RunFailed && status != RunQueued {
		return fmt.Errorf("store: cannot finish a run as %q", status)
	}
	return s.inSharedTx(ctx, func(ctx context.Context, tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		if r.Status != RunRunning || res.Attempt != 0 && res.Attempt != r.Attempts {
			return ErrRunState
		}
		t := micros(now())
		var exit sql.NullInt64
		if res.ExitCode != nil {
			exit = sql.NullInt64{Int64: int64(*res.ExitCode), Valid: true}
		}
		n, err := tx.Exec(ctx, `UPDATE hookd_run_attempt SET finished_at = $4, exit_code = $5, output_tail = $6, error = $7
			WHERE run_id = $1 AND attempt = $2 AND holder = $3 AND finished_at IS NULL`,
			runID, r.Attempts, s.holder, t, exit, res.OutputTail, res.Error)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrRunState // another process's attempt, or one already closed
		}
		if _, err := tx.Exec(ctx, `UPDATE hookd_run SET status = $2, updated_at = $3 WHERE id = $1`, runID, string(status), t); err != nil {
			return err
		}
		if status == RunSucceeded && r.Stage != "" && r.Trigger != "" {
			if err := s.deployed(ctx, tx, r, t); err != nil {
				return err
			}
		}
		// Release first, then look for the next run: a run queued
		// meanwhile either sees the lane free or is seen here.
		if err := releaseLease(ctx, tx, laneLease(r), s.runHolder(runID)); err != nil {
			return err
		}
		return s.wakeLane(ctx, tx, r, r.ID)
	})
}

// RetryRun queues a run again, by hand: a finished or superseded one, or a
// queued or running one that nothing will execute any more (its job is gone
// and no process holds its lane for it), such as a run stranded by a job
// River discarded. Any other run is refused with ErrRunState: its job will
// execute it.
func (s *Store) RetryRun(ctx context.Context, runID int64) error {
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		switch r.Status {
		case RunSucceeded, RunFailed, RunSuperseded:
		case RunQueued, RunRunning:
			live, err := s.hasLiveJob(ctx, tx, runID)
			if err != nil {
				return err
			}
			holder, err := s.laneHolder(ctx, tx, r)
			if err != nil {
				return err
			}
			if live || holder != "" {
				return ErrRunState
			}
		default:
			return ErrRunState
		}
		// Unless the run changed since it was read: two retries at once
		// queue it once.
		n, err := tx.Exec(ctx, `UPDATE hookd_run SET status = 'queued', updated_at = $2
			WHERE id = $1 AND status = $3 AND updated_at = $4`, runID, micros(now()), string(r.Status), micros(r.UpdatedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrRunState
		}
		return s.queue.InsertTx(ctx, tx, []river.InsertManyParams{{Args: runActionArgs{RunID: runID, Action: r.Action}}})
	})
}

// hasLiveJob reports whether a job that will execute the run is in the
// queue: waiting, scheduled, running or due for a retry.
func (s *Store) hasLiveJob(ctx context.Context, q driver.Querier, runID int64) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1
		AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled') AND `+s.db.Types().JobRunID+` = $2`,
		runActionArgs{}.Kind(), runID).Scan(&n)
	return n > 0, err
}

// laneHolder returns who holds r's lane for r itself, as its lease says,
// or "" when nobody does (or the lease expired): a process executing the
// run right now.
func (s *Store) laneHolder(ctx context.Context, q driver.Querier, r Run) (string, error) {
	var holder string
	err := q.QueryRow(ctx, `SELECT holder FROM hookd_lease WHERE name = $1 AND expires_at > `+s.db.Types().Now,
		laneLease(r)).Scan(&holder)
	switch {
	case errors.Is(err, driver.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	case !strings.HasSuffix(holder, runHolderSuffix(r.ID)):
		return "", nil // another run's
	}
	return holder, nil
}

// failRun marks a queued or running run failed for reason: its open attempt
// is finished with reason as error (when none is open, an attempt recording
// reason is added, so that the run's history tells why it failed) and its
// lane released if this process holds it. A run already finished is left
// alone, and so is one another live process is executing right now (a
// duplicate job, as River's rescue of a long job makes): that process's own
// job settles it. It reports whether it marked the run failed.
func (s *Store) failRun(ctx context.Context, runID int64, reason string) (bool, error) {
	failed := false
	err := inTx(ctx, s.db, func(tx driver.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, runSelect+`WHERE id = $1`, runID))
		if err != nil {
			return notFound(err)
		}
		if r.Status != RunQueued && r.Status != RunRunning {
			return nil
		}
		holder, err := s.laneHolder(ctx, tx, r)
		if err != nil {
			return err
		}
		if holder != "" && holder != s.runHolder(runID) {
			alive, err := s.processAlive(ctx, tx, strings.TrimSuffix(holder, runHolderSuffix(runID)))
			if err != nil || alive {
				return err
			}
		}
		t := micros(now())
		n, err := tx.Exec(ctx, `UPDATE hookd_run_attempt SET finished_at = $2, error = $3 WHERE run_id = $1 AND finished_at IS NULL`,
			runID, t, reason)
		if err != nil {
			return err
		}
		if n == 0 {
			r.Attempts++
			if _, err := tx.Exec(ctx, `INSERT INTO hookd_run_attempt (run_id, attempt, holder, started_at, finished_at, error)
				VALUES ($1, $2, $3, $4, $4, $5)`, runID, r.Attempts, s.holder, t, reason); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE hookd_run SET status = 'failed', attempts = $2, updated_at = $3 WHERE id = $1`,
			runID, r.Attempts, t); err != nil {
			return err
		}
		failed = true
		return releaseLease(ctx, tx, laneLease(r), s.runHolder(runID))
	})
	return failed, err
}

// processAlive reports whether the process holder (a Store's holder) keeps
// a live worker heartbeat.
func (s *Store) processAlive(ctx context.Context, q driver.Querier, holder string) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM hookd_lease WHERE name = $1 AND holder = $2 AND expires_at > `+s.db.Types().Now,
		heartbeatName(clientIDOf(holder)), holder).Scan(&n)
	return n > 0, err
}

// RunFilter selects runs; empty fields match everything.
type RunFilter struct {
	ID         int64 // one run, without its history (see Run)
	EventID    int64
	Repository string
	Artifact   string
	Stage      string
	Action     string
	Status     RunStatus
	// SupersededBy selects the runs a run made moot.
	SupersededBy int64
	Page         // by ID, newest first
}

const runSelect = `SELECT id, event_id, action, repository, artifact, stage, idempotency_key, status, attempts,
	created_at, updated_at, trigger_type, version, desired_before, desired, deployed_before, direction, redeploy,
	superseded_by, note FROM hookd_run `

// Runs lists runs newest first, without their attempt history.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	var w where
	if f.ID != 0 {
		w.add("id", f.ID)
	}
	if f.EventID != 0 {
		w.add("event_id", f.EventID)
	}
	w.add("repository", f.Repository)
	w.add("artifact", f.Artifact)
	w.add("stage", f.Stage)
	w.add("action", f.Action)
	w.add("status", string(f.Status))
	if f.SupersededBy != 0 {
		w.add("superseded_by", f.SupersededBy)
	}
	return s.queryRuns(ctx, runSelect+w.page("id", f.Page), w.args...)
}

// queryRuns reads the runs a query selects with runSelect's columns.
func (s *Store) queryRuns(ctx context.Context, query string, args ...any) ([]Run, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run returns one run with its attempts, oldest first.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.db.QueryRow(ctx, runSelect+`WHERE id = $1`, id))
	if err != nil {
		return r, notFound(err)
	}
	rows, err := s.db.Query(ctx, `SELECT attempt, holder, started_at, finished_at, exit_code, output_tail, error
		FROM hookd_run_attempt WHERE run_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a        Attempt
			started  int64
			finished sql.NullInt64
			exit     sql.NullInt64
		)
		if err := rows.Scan(&a.Number, &a.Holder, &started, &finished, &exit, &a.OutputTail, &a.Error); err != nil {
			return r, err
		}
		a.StartedAt = fromMicros(started)
		if finished.Valid {
			f := fromMicros(finished.Int64)
			a.FinishedAt = &f
		}
		if exit.Valid {
			code := int(exit.Int64)
			a.ExitCode = &code
		}
		r.History = append(r.History, a)
	}
	return r, rows.Err()
}

func scanRun(row driver.Row) (Run, error) {
	var (
		r                                Run
		status, trigger                  string
		created, updated                 int64
		desiredBefore, desired, deployed string
	)
	err := row.Scan(&r.ID, &r.EventID, &r.Action, &r.Repository, &r.Artifact, &r.Stage, &r.IdempotencyKey,
		&status, &r.Attempts, &created, &updated, &trigger, &r.Version, &desiredBefore, &desired, &deployed,
		&r.Direction, &r.Redeploy, &r.SupersededBy, &r.Note)
	if err != nil {
		return r, err
	}
	r.Status, r.Trigger = RunStatus(status), EventType(trigger)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	r.DesiredBefore, err = versions(desiredBefore)
	if err == nil {
		r.Desired, err = versions(desired)
	}
	if err == nil {
		r.DeployedBefore, err = versions(deployed)
	}
	return r, err
}

// versions decodes a JSON list of versions; an empty list is nil. Lists of
// none or one version without escapes, nearly all of them, are read
// without encoding/json: a run is read a few times per attempt, with three
// such lists each.
func versions(text string) ([]string, error) {
	if text == "[]" {
		return nil, nil
	}
	if v, ok := strings.CutPrefix(text, `["`); ok {
		if v, ok = strings.CutSuffix(v, `"]`); ok && v != "" && !strings.ContainsAny(v, `"\`) && plainText(v) {
			return []string{v}, nil
		}
	}
	var out []string
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// plainText reports whether s has no control characters and is valid
// UTF-8, so that as a JSON string without escapes it is its own value.
func plainText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// versionsJSON encodes versions for a TEXT column.
func versionsJSON(v []string) string {
	b, _ := json.Marshal(nonNil(v))
	return string(b)
}

// acquireLease takes or renews the lease name for holder, for ttl, as the
// database's clock tells time.
func (s *Store) acquireLease(ctx context.Context, q driver.Querier, name, holder string, ttl time.Duration) (bool, error) {
	types := s.db.Types()
	n, err := q.Exec(ctx, `INSERT INTO hookd_lease (name, holder, expires_at) VALUES ($1, $2, `+types.Now+` + $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE hookd_lease.holder = excluded.holder OR hookd_lease.expires_at <= `+types.Now,
		name, holder, ttl.Microseconds())
	return n == 1, err
}

func releaseLease(ctx context.Context, q driver.Querier, name, holder string) error {
	_, err := q.Exec(ctx, `DELETE FROM hookd_lease WHERE name = $1 AND holder = $2`, name, holder)
	return err
}
