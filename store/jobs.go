package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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

// jobTimeout bounds a delivery batch or a reconciliation (RunAction's
// timeout is its action's, Workers.RunTimeout), and rescueAfter must exceed
// it.
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
	// the job's retry, recording the attempt, its error and when the next
	// is due, and on the last attempt marks it failed with the error as
	// reason; an attempt cut short because hookd is stopping spends none.
	// An error with a RetryAt() time.Time method (GitHub's rate limit,
	// see source.WithoutWaiting) says when trying again can succeed: the
	// delivery waits until then, shown as above, on any attempt, and the
	// wait spends none unless another delivery of the job failed.
	// Calls for different deliveries run concurrently.
	ProcessDelivery func(ctx context.Context, d Delivery) (Outcome, error)
	// ReconcileRepository re-lists a repository's tags. An error with a
	// RetryAt method puts the listing off until then, spending no attempt.
	ReconcileRepository func(ctx context.Context, repository string) error
	// RunAction executes the next attempt in a deploy run's lane (see
	// StartLane). Its River timeout is RunTimeout's; a second job for a
	// lane that is being deployed to finds the lane's lease held and
	// leaves the lane to its holder. When its last attempt
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
	// RunConcurrency is how many RunAction jobs execute at once in this
	// process (default DefaultRunConcurrency).
	RunConcurrency int
}

// DefaultRunConcurrency is how many deploy runs a process executes at once
// unless told otherwise. Deploys mostly wait (on a program, an HTTP
// endpoint, GitHub), so many run at once (one per lane at most): a burst of
// 1,000 lanes started its last command in 5.3 s with 16, 4.3 s with 32 and
// 3.8 s with 64.
const DefaultRunConcurrency = 64

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

// deliveriesWorker works the jobs that process deliveries. It schedules a
// failed job's next attempt itself, as River's default policy would
// (attempt⁴ seconds, ±10%), so that each delivery can say when that is.
type deliveriesWorker struct {
	river.WorkerDefaults[processDeliveriesArgs]
	s       *Store
	process func(context.Context, Delivery) (Outcome, error)
	// retries holds, by job id, the next attempt its deliveries were told
	// of, until River asks for it (NextRetry).
	retries sync.Map
}

func (w *deliveriesWorker) Work(ctx context.Context, j *river.Job[processDeliveriesArgs]) error {
	at := &deliveryAttempt{number: j.Attempt, last: j.Attempt >= j.MaxAttempts, retryIn: retryDelay(j.Attempt)}
	err := w.s.processDeliveries(ctx, j.Args.DeliveryIDs, at, w.process)
	var snooze *river.JobSnoozeError
	if err != nil && !at.last && !errors.As(err, &snooze) {
		w.retries.Store(j.ID, at.next)
	}
	return err
}

// NextRetry is when the deliveries of a failed job were told they would be
// tried again; a job rescued from a stopped process gets a new time.
func (w *deliveriesWorker) NextRetry(j *river.Job[processDeliveriesArgs]) time.Time {
	if t, ok := w.retries.LoadAndDelete(j.ID); ok {
		return t.(time.Time)
	}
	return now().Add(retryDelay(j.Attempt))
}

// retryDelay is how long after its attempt-th failure a job is tried
// again: River's default schedule.
func retryDelay(attempt int) time.Duration {
	d := math.Pow(float64(attempt), 4) * float64(time.Second)
	return time.Duration(d + d*(rand.Float64()*0.2-0.1))
}

// deliveryAttempt is one attempt of a job at its deliveries.
type deliveryAttempt struct {
	number  int           // 1 for the first
	last    bool          // when it fails, River discards the job
	retryIn time.Duration // how long after a failure the next one starts
	next    time.Time     // when it does, set once this one has failed
}

// limited is an error that says when trying again can succeed, such as
// GitHub's rate limit (source/github's RateLimitError).
type limited interface {
	error
	RetryAt() time.Time
}

// interruptedRetry is how soon a last attempt cut short by something other
// than its deliveries (hookd stopping, the database failing its outcomes)
// is made again: it keeps the job, which failing would discard with its
// deliveries still queued.
const interruptedRetry = time.Minute

// processDeliveries runs process for each of ids still queued, then stores
// their outcomes in one transaction: a delivery costs the store one shared
// read and one shared commit, not a round of its own. A retried job skips
// what an earlier attempt settled, so each delivery is processed once
// unless the process dies between processing and settling.
//
// A delivery whose processing fails is told so, with the error, the
// attempt's number and when the next is due; on the job's last attempt it
// is failed instead. One cut short because hookd is stopping did not fail
// on its own: the job is snoozed, which spends none of its attempts. One
// held up by a limit (limited) waits until it lifts, on any attempt: the
// job is snoozed until then when nothing else failed, and otherwise
// retried no earlier.
func (s *Store) processDeliveries(ctx context.Context, ids []string, at *deliveryAttempt, process func(context.Context, Delivery) (Outcome, error)) error {
	batch, err := s.queuedDeliveries(ctx, ids)
	if err != nil {
		return err
	}
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		errs        []error
		interrupted bool
		waitUntil   time.Time // when the latest limit met lifts
		waitErr     error     // and what it was
		waits       int       // deliveries held up by limits
		settled     = make([]settlement, 0, len(batch))
		sem         = make(chan struct{}, deliveryConcurrency)
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
				settled = append(settled, settlement{d: d, outcome: o})
			case stopping(ctx):
				interrupted = true
			default:
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					err = fmt.Errorf("not done within %s: %w", jobTimeout, err)
				}
				st := settlement{d: d, outcome: Outcome{Status: DeliveryQueued}, lastError: err.Error()}
				var l limited
				switch {
				case errors.As(err, &l):
					waits++
					if until := l.RetryAt(); until.After(waitUntil) {
						waitUntil, waitErr = until, err
					}
				case at.last:
					st.outcome = Outcome{Status: DeliveryFailed, Reason: err.Error()}
				default:
					errs = append(errs, fmt.Errorf("delivery %s: %w", d.ID, err))
				}
				settled = append(settled, st)
			}
		})
	}
	wg.Wait()
	at.next = now().Add(at.retryIn)
	waiting := waits > 0
	if waiting && (len(errs) == 0 || waitUntil.After(at.next)) {
		at.next = waitUntil
	}
	// What was done is recorded even when the job's context has ended.
	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	settleErr := s.settle(settleCtx, at, settled)
	switch {
	case interrupted:
		s.logger.InfoContext(ctx, "processing of deliveries interrupted: hookd is stopping; they will be processed again", "deliveries", len(batch))
		return river.JobSnooze(0)
	case settleErr != nil && at.last:
		s.logger.ErrorContext(ctx, "the outcomes of a job's last attempt could not be stored; it will be made again", "error", settleErr)
		return river.JobSnooze(interruptedRetry)
	case settleErr != nil:
		errs = append(errs, settleErr)
	case waiting && len(errs) == 0:
		s.logger.WarnContext(ctx, "deliveries wait for a limit of their source to lift (GitHub's rate limit)",
			"deliveries", waits, "attempt", at.number, "next_attempt_at", at.next, "error", waitErr)
		return river.JobSnooze(max(time.Until(at.next), 0))
	case len(errs) > 0:
		s.logger.WarnContext(ctx, "deliveries could not be processed; they wait for the next attempt",
			"failed", len(errs), "attempt", at.number, "next_attempt_at", at.next, "error", errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// stopping reports whether ctx ended because the workers are stopping
// (cancelled), not because the job ran out of time.
func stopping(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)
}

type settlement struct {
	d         Delivery
	outcome   Outcome
	lastError string // the attempt's error, when it failed
}

// settle stores the outcomes of attempt at in one transaction: a delivery
// settled, or (Status DeliveryQueued) waiting for the next attempt, with
// its error. A delivery that changed since its processing began (a Replay
// queued it again) keeps its new state: its updated_at no longer matches.
func (s *Store) settle(ctx context.Context, at *deliveryAttempt, settled []settlement) error {
	if len(settled) == 0 {
		return nil
	}
	// A shared commit: on SQLite a job's outcomes are a few small UPDATEs,
	// and a commit of their own held the one writer as long as the run
	// starts and finishes of a whole group (a burst of 1,000 tags spent
	// 0.5 s of the writer's time in 131 of them).
	return s.inSharedTx(ctx, func(ctx context.Context, tx driver.Tx) error {
		t := micros(now())
		for _, st := range settled {
			var err error
			status := cmp.Or(st.outcome.Status, DeliveryProcessed)
			if status == DeliveryQueued {
				_, err = tx.Exec(ctx, `UPDATE hookd_delivery SET attempts = $3, last_error = $4, next_attempt_at = $5, updated_at = $6
					WHERE id = $1 AND status = 'queued' AND updated_at = $2`,
					st.d.ID, micros(st.d.UpdatedAt), at.number, toText(st.lastError), micros(at.next), t)
			} else {
				_, err = tx.Exec(ctx, `UPDATE hookd_delivery SET status = $3, reason = $4, attempts = $5,
					last_error = CASE WHEN $6 = '' THEN last_error ELSE $6 END, next_attempt_at = NULL, updated_at = $7
					WHERE id = $1 AND status = 'queued' AND updated_at = $2`,
					st.d.ID, micros(st.d.UpdatedAt), string(status), toText(st.outcome.Reason), at.number, toText(st.lastError), t)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

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

// runActionWorker is RunAction with its action's timeout. River discards
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
	river.AddWorker(workers, &deliveriesWorker{s: s, process: w.ProcessDelivery})
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[reconcileRepositoryArgs]) error {
		return s.listAlone(ctx, j.Args.Repository, j.ID, w.ReconcileRepository)
	}))
	river.AddWorker(workers, &runActionWorker{s: s, run: w.RunAction, timeout: w.RunTimeout})
	queue, err := s.db.NewQueue(s.riverConfig(workers, w.RunConcurrency))
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
	// WaitingDeliveries are queued deliveries whose last attempt failed
	// (GitHub unreachable, rate limited, ...): they wait for the next one.
	WaitingDeliveries int64
	// OldestWaiting is how long ago the longest-waiting of them arrived.
	OldestWaiting time.Duration
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
	var received sql.NullInt64
	err = s.db.QueryRow(ctx, `SELECT COUNT(*), MIN(received_at) FROM hookd_delivery WHERE status = 'queued' AND attempts > 0`).
		Scan(&st.WaitingDeliveries, &received)
	if err != nil {
		return st, err
	}
	if received.Valid {
		st.OldestWaiting = max(time.Since(fromMicros(received.Int64)), 0)
	}
	oldest, err := s.queue.OldestAvailable(ctx)
	if err != nil || oldest == nil {
		return st, err
	}
	st.OldestAvailable = max(time.Since(oldest.ScheduledAt), 0)
	return st, nil
}
