package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// converge records an assignment event that moved prod from before to
// after and the lane change of action "deploy" it asks for.
func converge(t *testing.T, s *Store, n int, before, after []string, redeploy bool) Run {
	t.Helper()
	e := event(fmt.Sprintf("%040d", n), EventAssignment)
	e.Version, e.ActiveBefore, e.ActiveAfter = after[0], before, after
	e.Stages = []StageChange{{Stage: "prod", Before: before, After: after}}
	e, _, err := s.RecordEvent(ctxT(t), e)
	if err != nil {
		t.Fatal(err)
	}
	change := LaneChange{Action: "deploy", Stage: "prod", Before: before, After: after, Trigger: EventAssignment,
		Version: after[0], Redeploy: redeploy}
	runs, err := s.Converge(ctxT(t), e.ID, []LaneChange{change})
	if err != nil || len(runs) != 1 {
		t.Fatalf("Converge: %+v %v", runs, err)
	}
	again, err := s.Converge(ctxT(t), e.ID, []LaneChange{change})
	if err != nil || len(again) != 1 || again[0].ID != runs[0].ID {
		t.Fatalf("Converge again made another run: %+v %v", again, err)
	}
	return runs[0]
}

var newestFirst = LanePolicy{Supersede: true, Direction: func(deployed, desired []string) string {
	return fmt.Sprintf("%v->%v", deployed, desired)
}}

// A lane starts its newest desired state and skips the ones before it;
// what it deployed becomes the lane's, and a change back to what is
// deployed runs nothing unless it asks for a redeploy.
func TestLaneConvergesOnTheNewestDesiredState(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		first := converge(t, s, 1, nil, []string{"v1.0.0"}, false)
		second := converge(t, s, 2, []string{"v1.0.0"}, []string{"v1.1.0"}, false)
		third := converge(t, s, 3, []string{"v1.1.0"}, []string{"v1.2.0"}, false)

		run, err := s.StartLane(ctx, first.ID, time.Minute, newestFirst)
		if err != nil || run.ID != third.ID || run.Attempts != 1 || run.Direction != "[]->[v1.2.0]" {
			t.Fatalf("StartLane = %+v, %v; want the newest run, %d", run, err, third.ID)
		}
		for _, old := range []Run{first, second} {
			got, err := s.Run(ctx, old.ID)
			if err != nil || got.Status != RunSuperseded || got.SupersededBy != third.ID || len(got.History) != 0 {
				t.Errorf("older run %d: %+v %v; want superseded by %d, never started", old.ID, got, err, third.ID)
			}
		}
		if _, err := s.StartLane(ctx, first.ID, time.Minute, newestFirst); !errors.Is(err, ErrLaneBusy) && !errors.Is(err, ErrNothingDue) {
			t.Errorf("a second StartLane while the lane runs: %v", err)
		}
		if err := s.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		lanes, err := s.Lanes(ctx, LaneFilter{Repository: "acme/models"})
		if err != nil || len(lanes) != 1 || !slices.Equal(lanes[0].Deployed, []string{"v1.2.0"}) || !lanes[0].InSync() ||
			lanes[0].DeployedRunID != third.ID || lanes[0].DesiredEventID != third.EventID {
			t.Fatalf("lanes = %+v, %v", lanes, err)
		}

		// Desired goes back to v1.1.0 and forth to v1.2.0 before anything
		// starts: the newest wants what is deployed, so nothing runs.
		back := converge(t, s, 4, []string{"v1.2.0"}, []string{"v1.1.0"}, false)
		forth := converge(t, s, 5, []string{"v1.1.0"}, []string{"v1.2.0"}, false)
		if _, err := s.StartLane(ctx, back.ID, time.Minute, newestFirst); !errors.Is(err, ErrNothingDue) {
			t.Fatalf("StartLane with the lane in sync: %v, want ErrNothingDue", err)
		}
		got, _ := s.Run(ctx, forth.ID)
		if got.Status != RunSuperseded || got.Note == "" {
			t.Errorf("a run of what is deployed: %+v, want superseded with a note", got)
		}

		// A re-assignment of the deployed version asks for a redeploy.
		again := converge(t, s, 6, []string{"v1.2.0"}, []string{"v1.2.0"}, true)
		run, err = s.StartLane(ctx, again.ID, time.Minute, newestFirst)
		if err != nil || run.ID != again.ID || run.Direction != "[v1.2.0]->[v1.2.0]" || !slices.Equal(run.DeployedBefore, []string{"v1.2.0"}) {
			t.Fatalf("redeploy: %+v %v", run, err)
		}
		if err := s.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{Attempt: 1}); err != nil {
			t.Fatal(err)
		}
	})
}

// Without superseding, the oldest queued run goes first.
func TestLaneInOrderWithoutSuperseding(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		first := converge(t, s, 1, nil, []string{"v1.0.0"}, false)
		second := converge(t, s, 2, []string{"v1.0.0"}, []string{"v1.1.0"}, false)
		for _, want := range []Run{first, second} {
			run, err := s.StartLane(ctx, second.ID, time.Minute, LanePolicy{})
			if err != nil || run.ID != want.ID {
				t.Fatalf("StartLane = %+v, %v; want run %d", run, err, want.ID)
			}
			if err := s.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{Attempt: run.Attempts}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Finishing an attempt is fenced: another process, or an attempt that was
// replaced, cannot record over the current one; and a live holder in
// another process keeps the lane (ErrLaneBusy) while it runs.
func TestFinishingIsFencedByAttemptAndHolder(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		a, b := open(t, url), open(t, url)
		if err := a.beat(ctx); err != nil { // a is a live worker process
			t.Fatal(err)
		}
		first := converge(t, a, 1, nil, []string{"v1.0.0"}, false)
		run, err := a.StartLane(ctx, first.ID, time.Minute, newestFirst)
		if err != nil {
			t.Fatal(err)
		}
		next := converge(t, b, 2, []string{"v1.0.0"}, []string{"v1.1.0"}, false)
		if _, err := b.StartLane(ctx, next.ID, time.Minute, newestFirst); !errors.Is(err, ErrLaneBusy) {
			t.Errorf("StartLane while a live process holds the lane: %v, want ErrLaneBusy", err)
		}
		if err := b.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{}); !errors.Is(err, ErrRunState) {
			t.Errorf("another process finished the attempt: %v", err)
		}
		if err := a.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{Attempt: 2}); !errors.Is(err, ErrRunState) {
			t.Errorf("a later attempt number finished the attempt: %v", err)
		}
		if err := a.FinishRun(ctx, run.ID, RunSucceeded, AttemptResult{Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		// Finishing woke the lane: the queued run has a job.
		var jobs int
		if err := a.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'run_action' AND `+a.db.Types().JobRunID+` = $1`,
			next.ID).Scan(&jobs); err != nil || jobs != 2 {
			t.Errorf("jobs for the queued run = %d, %v; want its own and the wake-up", jobs, err)
		}
	})
}

// A database made before lanes keeps its runs through the migration: their
// ids, their attempts, and the runs still queued run as they were asked to,
// not skipped for want of a desired state.
func TestLaneMigrationKeepsEarlierRuns(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		all := migrations
		migrations = all[:2]
		old := open(t, url)
		migrations = all
		// As the code before lanes wrote them.
		var eventID, runID int64
		if err := old.db.QueryRow(ctx, `INSERT INTO hookd_event (repository, artifact, type, version, stage, commit_sha,
			tag_name, tag_object_sha, tagger_name, tagger_email, tagger_time, tagger_offset, message, delivery_id,
			active_before, active_after, recorded_at) VALUES ('acme/models', 'churn', 'assignment', 'v1.0.0', 'prod', 'c',
			'churn#prod#1', 'o', 'n', 'e', 1, 0, 'm', '', '[]', '["v1.0.0"]', 1) RETURNING id`).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		if err := old.db.QueryRow(ctx, `INSERT INTO hookd_run (event_id, action, repository, artifact, stage,
			idempotency_key, status, created_at, updated_at) VALUES ($1, 'deploy', 'acme/models', 'churn', 'prod', 'key-1',
			'queued', 1, 1) RETURNING id`, eventID).Scan(&runID); err != nil {
			t.Fatal(err)
		}
		old.Close()

		s := open(t, url)
		kept, err := s.Run(ctx, runID)
		if err != nil || kept.IdempotencyKey != "key-1" || kept.Status != RunQueued || kept.EventID != eventID {
			t.Fatalf("after the migration: %+v %v", kept, err)
		}
		e := Event{ID: eventID}
		started, err := s.StartLane(ctx, kept.ID, time.Minute, newestFirst)
		if err != nil || started.ID != kept.ID {
			t.Fatalf("the earlier run did not start: %+v %v", started, err)
		}
		// One event may now have a run per stage of the same action.
		if _, err := s.Converge(ctx, e.ID, []LaneChange{{Action: "deploy", Stage: "staging", Trigger: EventUnassignment,
			Before: []string{"v1.0.0"}, Version: "v1.0.0"}}); err != nil {
			t.Fatalf("a second stage's run of one event and action: %v", err)
		}
	})
}
