package store

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// River queues: deploy actions may run for minutes, so they get their own
// workers and never hold up turning deliveries into events.
const (
	queueEvents  = "events"
	queueActions = "actions"
)

// maxJobAttempts bounds River's retries (with its exponential backoff, the
// last attempt comes about a day after the first).
const maxJobAttempts = 12

type processDeliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (processDeliveryArgs) Kind() string { return "process_delivery" }
func (processDeliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueEvents}
}

type reconcileRepositoryArgs struct {
	Repository string `json:"repository"`
}

func (reconcileRepositoryArgs) Kind() string { return "reconcile_repository" }
func (reconcileRepositoryArgs) InsertOpts() river.InsertOpts {
	// One unfinished reconciliation per repository is enough (River
	// requires "running" among the unique states).
	return river.InsertOpts{Queue: queueEvents, UniqueOpts: river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
	}}
}

type runActionArgs struct {
	RunID int64 `json:"run_id"`
}

func (runActionArgs) Kind() string                 { return "run_action" }
func (runActionArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueActions} }

// Workers are the functions that do hookd's jobs. A nil error completes the
// job; an error retries it later with backoff; a job whose context is
// cancelled (shutdown) is retried too.
type Workers struct {
	// ProcessDelivery turns a stored delivery into events (and marks it).
	ProcessDelivery func(ctx context.Context, deliveryID string) error
	// ReconcileRepository re-lists a repository's tags.
	ReconcileRepository func(ctx context.Context, repository string) error
	// RunAction executes a deploy run.
	RunAction func(ctx context.Context, runID int64) error
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
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[processDeliveryArgs]) error {
		return w.ProcessDelivery(ctx, j.Args.DeliveryID)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[reconcileRepositoryArgs]) error {
		return w.ReconcileRepository(ctx, j.Args.Repository)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[runActionArgs]) error {
		return w.RunAction(ctx, j.Args.RunID)
	}))
	queue, err := s.db.NewQueue(s.riverConfig(workers))
	if err != nil {
		return err
	}
	if err := queue.Start(ctx); err != nil {
		return err
	}
	s.workers = queue
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
	err := queue.Stop(ctx)
	if ctx.Err() == nil {
		return err
	}
	// Give cancelled jobs a moment to record their outcome.
	cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return queue.StopAndCancel(cancelCtx)
}

// EnqueueReconcile asks for repository's tags to be re-listed. While one
// request is waiting or running, further ones are dropped.
func (s *Store) EnqueueReconcile(ctx context.Context, repository string) error {
	return s.queue.Insert(ctx, reconcileRepositoryArgs{Repository: repository}, nil)
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
