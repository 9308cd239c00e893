package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// newRun records an event for tag object obj and creates its "deploy" run;
// every such run shares one lane.
func newRun(t *testing.T, s *Store, obj string) int64 {
	t.Helper()
	e, _, err := s.RecordEvent(ctxT(t), event(obj, EventAssignment))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.CreateRuns(ctxT(t), e.ID, []string{"deploy"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("CreateRuns: %+v %v", runs, err)
	}
	return runs[0].ID
}

func runStatus(t *testing.T, s *Store, id int64) RunStatus {
	t.Helper()
	r, err := s.Run(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// jobStates lists the states of the run's jobs.
func jobStates(t *testing.T, s *Store, id int64) []string {
	t.Helper()
	rows, err := s.db.Query(ctxT(t), `SELECT state FROM river_job WHERE kind = 'run_action' AND `+s.db.Types().JobRunID+` = $1
		ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var states []string
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return states
}

// A run whose job keeps failing is marked failed on the job's last attempt,
// with the error and its lane released, instead of staying running for
// good; retried by hand, it runs again.
func TestRunFailsWhenItsJobGivesUp(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		id := newRun(t, s, "obj1")
		if _, err := s.db.Exec(ctx, `UPDATE river_job SET max_attempts = 2 WHERE kind = 'run_action'`); err != nil {
			t.Fatal(err)
		}
		var failing atomic.Bool
		var calls atomic.Int32
		failing.Store(true)
		w := Workers{
			ProcessDelivery:     func(context.Context, Delivery) (Outcome, error) { return Outcome{}, nil },
			ReconcileRepository: func(context.Context, string) error { return nil },
			RunAction: func(ctx context.Context, runID int64) error {
				if runID != id {
					return nil // other runs are started by the test itself
				}
				calls.Add(1)
				// As the deploy engine does when recording an attempt
				// fails: the run is started and its lane held.
				if _, err := s.StartRun(ctx, runID, time.Minute); err != nil {
					return err
				}
				if failing.Load() {
					return errors.New("store unreachable")
				}
				return s.FinishRun(ctx, runID, RunSucceeded, AttemptResult{OutputTail: "deployed"})
			},
		}
		if err := s.StartWorkers(ctx, w); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the run failed", func() bool { return runStatus(t, s, id) == RunFailed })
		waitFor(t, "the job discarded", func() bool {
			st := jobStates(t, s, id)
			return len(st) == 1 && st[0] == "discarded"
		})
		if n := calls.Load(); n != 2 {
			t.Errorf("RunAction called %d times, want 2 (one per job attempt)", n)
		}
		r, err := s.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Attempts != 2 || len(r.History) != 2 {
			t.Fatalf("run after giving up: %+v", r)
		}
		if last := r.History[1]; last.FinishedAt == nil || last.Error != "gave up after 2 tries: store unreachable" {
			t.Errorf("last attempt: %+v", last)
		}

		// The lane is free for the next run.
		next := newRun(t, s, "obj2")
		waitFor(t, "the next run's job done", func() bool {
			st := jobStates(t, s, next)
			return len(st) == 1 && st[0] == "completed"
		})
		if _, err := s.StartRun(ctx, next, time.Minute); err != nil {
			t.Fatalf("a newer run of the lane cannot start: %v", err)
		}
		if err := s.FinishRun(ctx, next, RunSucceeded, AttemptResult{}); err != nil {
			t.Fatal(err)
		}

		failing.Store(false)
		if err := s.RetryRun(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the retried run succeeded", func() bool { return runStatus(t, s, id) == RunSucceeded })
		if r, err := s.Run(ctx, id); err != nil || r.Attempts != 3 || r.History[2].OutputTail != "deployed" {
			t.Errorf("retried run: %+v %v", r, err)
		}
	})
}

// A queued or running run that no job will execute can be retried by hand;
// one that a job or a live process will still execute cannot.
func TestRetryStrandedRun(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		queued := newRun(t, s, "obj1")
		if err := s.RetryRun(ctx, queued); !errors.Is(err, ErrRunState) {
			t.Errorf("retry of a queued run with its job waiting: %v", err)
		}
		if _, err := s.db.Exec(ctx, `DELETE FROM river_job WHERE kind = 'run_action'`); err != nil {
			t.Fatal(err)
		}
		if err := s.RetryRun(ctx, queued); err != nil {
			t.Fatalf("retry of a queued run without a job: %v", err)
		}
		if st := runStatus(t, s, queued); st != RunQueued {
			t.Errorf("retried run is %s", st)
		}
		if st := jobStates(t, s, queued); len(st) != 1 || st[0] != "available" {
			t.Errorf("retried run's jobs: %v", st)
		}
		if err := s.RetryRun(ctx, queued); !errors.Is(err, ErrRunState) {
			t.Errorf("second retry while the first's job waits: %v", err)
		}

		// A running run whose job is gone, still leased by its process.
		running := newRun(t, s, "obj2")
		if _, err := s.StartRun(ctx, running, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(ctx, `DELETE FROM river_job WHERE kind = 'run_action'`); err != nil {
			t.Fatal(err)
		}
		if err := s.RetryRun(ctx, running); !errors.Is(err, ErrRunState) {
			t.Errorf("retry of a run a process holds the lane for: %v", err)
		}
		// Its process stopped: the lease runs out.
		if err := s.ExtendRun(ctx, running, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if err := s.RetryRun(ctx, running); err != nil {
			t.Fatalf("retry of a running run without a job or a lease: %v", err)
		}
		if st := runStatus(t, s, running); st != RunQueued {
			t.Errorf("retried run is %s", st)
		}
		if err := s.RetryRun(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("retry of an unknown run: %v", err)
		}
	})
}

// Giving up on a run that was never started still tells why it failed; a
// run another live process is executing is left to that process.
func TestGiveUpRun(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		a, b := open(t, url), open(t, url)
		queued := newRun(t, a, "obj1")
		a.giveUpRun(ctx, queued, 12, errors.New("database is locked"))
		r, err := a.Run(ctx, queued)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != RunFailed || r.Attempts != 1 || len(r.History) != 1 ||
			r.History[0].Error != "gave up after 12 tries: database is locked" || r.History[0].FinishedAt == nil {
			t.Errorf("run given up before it started: %+v", r)
		}
		if err := a.RetryRun(ctx, queued); err != nil {
			t.Errorf("retry of a given-up run: %v", err)
		}

		// a executes a run (its workers keep its heartbeat); b's duplicate
		// job gives up on it.
		if err := a.StartWorkers(ctx, (&recorder{s: a, processed: map[string]int{}}).workers()); err != nil {
			t.Fatal(err)
		}
		running := newRun(t, a, "obj2")
		if _, err := a.StartRun(ctx, running, time.Minute); err != nil {
			t.Fatal(err)
		}
		if failed, err := b.failRun(ctx, running, "gave up"); err != nil || failed {
			t.Errorf("failRun of a run a live process executes: %v %v", failed, err)
		}
		if st := runStatus(t, a, running); st != RunRunning {
			t.Errorf("run executed elsewhere is %s", st)
		}
		// a stops (as good as dead): b may fail the run.
		if err := a.StopWorkers(ctx); err != nil {
			t.Fatal(err)
		}
		if failed, err := b.failRun(ctx, running, "gave up"); err != nil || !failed {
			t.Errorf("failRun of a run whose process stopped: %v %v", failed, err)
		}
		r, err = b.Run(ctx, running)
		if err != nil || r.Status != RunFailed || len(r.History) != 1 || r.History[0].Error != "gave up" {
			t.Errorf("run failed by b: %+v %v", r, err)
		}
		if failed, err := b.failRun(ctx, running, "again"); err != nil || failed {
			t.Errorf("failRun of a failed run: %v %v", failed, err)
		}
	})
}

// On its last attempt the worker gives the run up only for a real failure:
// a snooze or a shutdown keeps the run and its job; a panic fails it too.
func TestRunActionWorkerLastAttempt(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		id := newRun(t, s, "obj1")
		job := func(attempt int) *river.Job[runActionArgs] {
			return &river.Job[runActionArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: 3}, Args: runActionArgs{RunID: id}}
		}
		fail := func(context.Context, int64) error { return errors.New("boom") }

		if err := (&runActionWorker{s: s, run: fail}).Work(ctx, job(2)); err == nil || runStatus(t, s, id) != RunQueued {
			t.Errorf("an attempt before the last: %v, run %s", err, runStatus(t, s, id))
		}
		snooze := func(context.Context, int64) error { return river.JobSnooze(time.Second) }
		if err := (&runActionWorker{s: s, run: snooze}).Work(ctx, job(3)); !errors.As(err, new(*river.JobSnoozeError)) ||
			runStatus(t, s, id) != RunQueued {
			t.Errorf("a snooze on the last attempt: %v, run %s", err, runStatus(t, s, id))
		}
		stopping, stop := context.WithCancel(ctx)
		stop()
		interrupted := func(ctx context.Context, _ int64) error { return ctx.Err() }
		if err := (&runActionWorker{s: s, run: interrupted}).Work(stopping, job(3)); !errors.As(err, new(*river.JobSnoozeError)) ||
			runStatus(t, s, id) != RunQueued {
			t.Errorf("a shutdown on the last attempt: %v, run %s", err, runStatus(t, s, id))
		}

		func() {
			defer func() {
				if p := recover(); p != "nil map" {
					t.Errorf("the panic was not passed on: %v", p)
				}
			}()
			_ = (&runActionWorker{s: s, run: func(context.Context, int64) error { panic("nil map") }}).Work(ctx, job(3))
		}()
		r, err := s.Run(ctx, id)
		if err != nil || r.Status != RunFailed || len(r.History) != 1 || !strings.HasSuffix(r.History[0].Error, "panic: nil map") {
			t.Errorf("run after a panic on the last attempt: %+v %v", r, err)
		}
	})
}
