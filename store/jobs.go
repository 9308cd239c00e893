package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookd-dev/hookd/store/driver"
)

// River queues: deploy actions may run for minutes, so they get their own
// workers and never hold up turning deliveries into events.
const (
	queueEvents  = "events"
	queueActions = "actions"
)

// jobTimeout bounds a delivery batch or a reconciliation (RunAction has no
// River timeout), and rescueAfter must exceed it.
const (
	jobTimeout  = 2 * time.Minute
	rescueAfter = 5 * time.Minute
)

// maxJobAttempts bounds River's retries (with its exponential backoff, the
// last attempt comes about a day after the first).
const maxJobAttempts = 12

// processDeliveriesArgs names the deliveries one group commit queued; one
// job per batch keeps the queue's cost per delivery small.
type processDeliveriesArgs struct {
	DeliveryIDs []string `json:"delivery_ids"`
}

func (processDeliveriesArgs) Kind() string { return "process_deliveries" }
func (processDeliveriesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueEvents}
}

type reconcileRepositoryArgs struct {
	Repository string `json:"repository"`
}

func (reconcileRepositoryArgs) Kind() string { return "reconcile_repository" }
func (reconcileRepositoryArgs) InsertOpts() river.InsertOpts {
	// Not River-unique: River's uniqueness must include running jobs, and
	// a request made while a listing runs must still list again after it
	// (the running one may have listed before the tags it is asked about).
	// EnqueueReconcile keeps one waiting job per repository instead.
	return river.InsertOpts{Queue: queueEvents}
}

type runActionArgs struct {
	RunID int64 `json:"run_id"`
	// Action names the run's action, so that the job's River timeout (and
	// with it when River's rescuer may take the job for stuck) follows the
	// action's own timeout.
	Action string `json:"action,omitempty"`
}

func (runActionArgs) Kind() string                 { return "run_action" }
func (runActionArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueActions} }

// Workers are the functions that do hookd's jobs. A nil error completes the
// job; an error retries it later with backoff (12 attempts in all);
// a job whose context is cancelled (shutdown) is retried too.
type Workers struct {
	// ProcessDelivery turns a stored delivery (payload included) into
	// events and says what became of it. It is called only for a delivery
	// whose status is queued; the outcomes of a job's deliveries are stored
	// together, in one transaction. An error leaves the delivery queued for
	// the job's retry, and on the last attempt marks it failed with the
	// error as reason. Calls for different deliveries run concurrently.
	ProcessDelivery func(ctx context.Context, d Delivery) (Outcome, error)
	// ReconcileRepository re-lists a repository's tags.
	ReconcileRepository func(ctx context.Context, repository string) error
	// RunAction executes a deploy run (see StartRun). River sets it no
	// time limit: the action's own timeout applies, and the run's lease keeps
	// a rescued duplicate job from running it twice. When its last attempt
	// fails (an error or a panic, not a snooze, a cancel or a shutdown),
	// the run is marked failed, its open attempt closed with the error and
	// its lane released, so that RetryRun can queue it again.
	RunAction func(ctx context.Context, runID int64) error
	// RunTimeout is how long one job of a run of action may take: River
	// cancels it then, and its rescuer leaves it alone until then, so a
	// long deploy is never handed to a second worker while it runs. Zero
	// (or no RunTimeout) means no limit, and rescue after the store's
	// rescue interval.
	RunTimeout func(action string) time.Duration
}

// deliveryConcurrency bounds how many deliveries of one job are processed
// at once; processing mostly waits on git or GitHub.
const deliveryConcurrency = 4

// deliveriesPerJob keeps a job short enough for jobTimeout and lets several
// workers share a large batch.
const deliveriesPerJob = 32

// enqueueDeliveries queues the processing of ids inside tx.
func (s *Store) enqueueDeliveries(ctx context.Context, tx driver.Tx, ids []string) error {
	var jobs []river.InsertManyParams
	for chunk := range slices.Chunk(ids, deliveriesPerJob) {
		jobs = append(jobs, river.InsertManyParams{Args: processDeliveriesArgs{DeliveryIDs: chunk}})
	}
	return s.queue.InsertTx(ctx, tx, jobs)
}

// Outcome is what processing made of a delivery.
type Outcome struct {
	// Status is DeliveryProcessed (also meant by ""), DeliveryIgnored or
	// DeliveryFailed.
	Status DeliveryStatus
	Reason string
}

// processDeliveries runs process for each of ids still queued, then stores
// their outcomes in one transaction: a delivery costs the store one shared
// read and one shared commit, not a round of its own. A retried job skips
// what an earlier attempt settled, so each delivery is processed once
// unless the process dies between processing and settling.
func (s *Store) processDeliveries(ctx context.Context, ids []string, lastAttempt bool, process func(context.Context, Delivery) (Outcome, error)) error {
	batch, err := s.queuedDeliveries(ctx, ids)
	if err != nil {
		return err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		settled = make([]settlement, 0, len(batch))
		sem     = make(chan struct{}, deliveryConcurrency)
	)
	for _, d := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o, err := process(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				settled = append(settled, settlement{d, o})
			case lastAttempt && ctx.Err() == nil:
				settled = append(settled, settlement{d, Outcome{Status: DeliveryFailed, Reason: err.Error()}})
			default:
				errs = append(errs, fmt.Errorf("delivery %s: %w", d.ID, err))
			}
		})
	}
	wg.Wait()
	if err := s.settle(ctx, settled); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type settlement struct {
	d       Delivery
	outcome Outcome
}

// settle stores outcomes in one transaction. A delivery that changed since
// its processing began (a Replay queued it again) keeps its new state: its
// updated_at no longer matches.
func (s *Store) settle(ctx context.Context, settled []settlement) error {
	if len(settled) == 0 {
		return nil
	}
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		at := micros(now())
		for _, st := range settled {
			status := cmp.Or(st.outcome.Status, DeliveryProcessed)
			if _, err := tx.Exec(ctx, settleSQL,
				st.d.ID, micros(st.d.UpdatedAt), string(status), st.outcome.Reason, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// settleSQL stores one delivery's outcome: $1 id, $2 its updated_at when
// processing began, $3 status, $4 reason, $5 now.
const settleSQL = `UPDATE hookd_delivery SET status = $3, reason = $4, updated_at = $5
	WHERE id = $1 AND status = 'queued' AND updated_at = $2`

// queuedDeliveries loads those of ids that are still queued, payloads
// included, in one query.
func (s *Store) queuedDeliveries(ctx context.Context, ids []string) ([]Delivery, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.Query(ctx, queuedDeliveriesSQL(len(ids)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var body []byte
		d, err := scanDelivery(rows, &body)
		if err != nil {
			return nil, err
		}
		// The status is checked here, not in SQL: given "status = 'queued'"
		// beside the id list, SQLite reads the status index, that is the
		// whole queued backlog, once a job has four ids or more.
		if d.Status != DeliveryQueued {
			continue
		}
		d.Body = body
		out = append(out, d)
	}
	return out, rows.Err()
}

// queuedDeliveriesSQL selects n deliveries by id ($1…$n), by the id index.
func queuedDeliveriesSQL(n int) string {
	var q strings.Builder
	q.WriteString(deliverySelect + `, body FROM hookd_delivery WHERE id IN (`)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "$%d", i+1)
	}
	q.WriteByte(')')
	return q.String()
}

// runActionWorker is RunAction without River's job timeout. River discards
// a job whose last attempt fails, and then nothing would ever execute its
// run: the run would stay queued or running for good, and with it every
// newer run waiting for its lane. So on the last attempt a failure marks
// the run failed first, and a person can retry it like any failed run.
type runActionWorker struct {
	river.WorkerDefaults[runActionArgs]
	s       *Store
	run     func(context.Context, int64) error
	timeout func(action string) time.Duration
}

func (w *runActionWorker) Work(ctx context.Context, j *river.Job[runActionArgs]) error {
	if j.Attempt < j.MaxAttempts {
		return w.run(ctx, j.Args.RunID)
	}
	defer func() {
		// River turns a panic into a failed attempt too.
		if p := recover(); p != nil {
			w.s.giveUpRun(ctx, j.Args.RunID, j.Attempt, fmt.Errorf("panic: %v", p))
			panic(p)
		}
	}()
	err := w.run(ctx, j.Args.RunID)
	var (
		snooze *river.JobSnoozeError
		cancel *river.JobCancelError
	)
	switch {
	case err == nil, errors.As(err, &snooze), errors.As(err, &cancel):
		// Snoozing spends no attempt; a cancelled job's run is the
		// worker's business.
		return err
	case ctx.Err() != nil:
		// hookd is stopping: the run did not fail on its own. A snooze
		// keeps the job (and its last attempt) for a later start, where
		// an error would have it discarded.
		return river.JobSnooze(0)
	}
	w.s.giveUpRun(ctx, j.Args.RunID, j.Attempt, err)
	return err
}

// giveUpRun marks a run failed because its job failed tries times and is
// about to be discarded. It is best effort, on a context of its own (the
// job's may be cancelled or what failed); when even this fails the run stays
// as it is and only RetryRun can recover it, so it says so at error level.
func (s *Store) giveUpRun(ctx context.Context, runID int64, tries int, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reason := fmt.Sprintf("gave up after %d tries: %v", tries, cause)
	failed, err := s.failRun(ctx, runID, reason)
	switch {
	case err != nil:
		s.logger.ErrorContext(ctx, "a run's job ran out of attempts and the run could not be marked failed; retry it by hand",
			"run", runID, "error", err, "cause", reason)
	case failed:
		s.logger.WarnContext(ctx, "run failed: its job ran out of attempts", "run", runID, "error", reason)
	}
}

// Timeout is the action's (see Workers.RunTimeout); River reads it both to
// cancel the job and to tell a long job from a stuck one.
func (w *runActionWorker) Timeout(j *river.Job[runActionArgs]) time.Duration {
	if w.timeout == nil || j.Args.Action == "" {
		return -1
	}
	if d := w.timeout(j.Args.Action); d > 0 {
		return d
	}
	return -1
}

// StartWorkers starts working jobs with w, in this process, until
// StopWorkers or Close. Every Workers field must be set.
func (s *Store) StartWorkers(ctx context.Context, w Workers) error {
	if w.ProcessDelivery == nil || w.ReconcileRepository == nil || w.RunAction == nil {
		return errors.New("store: every worker function must be set")
	}
	s.workersMu.Lock()
	defer s.workersMu.Unlock()
	if s.workers != nil {
		return errors.New("store: workers already started")
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[processDeliveriesArgs]) error {
		return s.processDeliveries(ctx, j.Args.DeliveryIDs, j.Attempt >= j.MaxAttempts, w.ProcessDelivery)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[reconcileRepositoryArgs]) error {
		return w.ReconcileRepository(ctx, j.Args.Repository)
	}))
	river.AddWorker(workers, &runActionWorker{s: s, run: w.RunAction, timeout: w.RunTimeout})
	queue, err := s.db.NewQueue(s.riverConfig(workers))
	if err != nil {
		return err
	}
	// The heartbeat is live before any job of ours runs, and jobs a
	// crashed predecessor left running are made available first.
	if err := s.beat(ctx); err != nil {
		return err
	}
	if err := queue.Start(ctx); err != nil {
		return err
	}
	beating, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go s.keepBeating(beating, done)
	s.workers, s.stopBeating = queue, func() { cancel(); <-done }
	return nil
}

// StopWorkers stops fetching jobs and waits for running ones to finish; when
// ctx ends first, it cancels them (River retries them later). Without
// started workers it does nothing.
func (s *Store) StopWorkers(ctx context.Context) error {
	s.workersMu.Lock()
	defer s.workersMu.Unlock()
	if s.workers == nil {
		return nil
	}
	queue := s.workers
	s.workers = nil
	// The heartbeat goes last: until the jobs have stopped, they are ours.
	defer s.stopBeating()
	err := queue.Stop(ctx)
	if ctx.Err() == nil {
		return err
	}
	// Give cancelled jobs a moment to record their outcome.
	cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return queue.StopAndCancel(cancelCtx)
}

// EnqueueReconcile asks for repository's tags to be re-listed. A request
// made while another is waiting to start is answered by that one; a
// request made while one is running queues one more, since the running one
// may have listed already.
func (s *Store) EnqueueReconcile(ctx context.Context, repository string) error {
	return inTx(ctx, s.db, func(tx driver.Tx) error {
		// A reconciliation that has not started yet will list after this
		// request, so it answers it too; one that is running may not.
		var waiting int
		err := tx.QueryRow(ctx, waitingReconcileSQL(s.db.Types()), repository).Scan(&waiting)
		if err != nil || waiting > 0 {
			return err
		}
		return s.queue.InsertTx(ctx, tx, []river.InsertManyParams{{Args: reconcileRepositoryArgs{Repository: repository}}})
	})
}

// waitingReconcileSQL counts the reconciliations of repository $1 that have
// not started yet.
func waitingReconcileSQL(t driver.Types) string {
	return `SELECT COUNT(*) FROM river_job WHERE kind = 'reconcile_repository'
		AND state IN ('available', 'scheduled', 'pending', 'retryable') AND ` + t.JobRepository + ` = $1`
}

// QueueStats is a snapshot of the job queue for metrics.
type QueueStats struct {
	Available int64 // ready to run now
	Running   int64
	Later     int64 // scheduled or waiting for a retry
	// OldestAvailable is how long the longest-waiting ready job has waited.
	OldestAvailable time.Duration
}

// QueueStats counts jobs by state in the database, so the figures hold
// across replicas.
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	err := s.db.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state = 'available' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN ('scheduled', 'retryable') THEN 1 ELSE 0 END), 0)
		FROM river_job WHERE state IN ('available', 'running', 'scheduled', 'retryable')`).
		Scan(&st.Available, &st.Running, &st.Later)
	if err != nil {
		return st, err
	}
	oldest, err := s.queue.OldestAvailable(ctx)
	if err != nil || oldest == nil {
		return st, err
	}
	st.OldestAvailable = max(time.Since(oldest.ScheduledAt), 0)
	return st, nil
}
