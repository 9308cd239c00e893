package deploy_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/pgtest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/store"

	_ "modernc.org/sqlite" // to read River's record of the job
)

// ledger reads what the locked helper wrote: one "start KEY", "done KEY"
// or "overlap KEY" line per event.
func ledger(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(data), "\n", " "))
}

// Two replicas share one PostgreSQL and the database goes away while a
// deploy runs. When the outage outlasts the lease, the attempt that can no
// longer renew it is stopped before the lease expires, so the deploy target
// never sees two attempts at once (it holds a lock for as long as an
// attempt lives); when the database is back, the interruption is recorded
// and the run is resumed once, with the same idempotency key, and ends
// once. When the deploy finishes during a shorter outage, its outcome is
// kept until the database takes it, and it is not run again.
func TestDatabaseOutageNeverOverlapsAttempts(t *testing.T) {
	srv, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNotInstalled) {
		testenv.Missing(t, "postgres", "postgresql")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	for _, tc := range []struct {
		name             string
		ttl, run, outage time.Duration
		attempts         int
	}{
		{"outlasting the lease", 3 * time.Second, 15 * time.Second, 40 * time.Second, 2},
		{"while the deploy finishes", 30 * time.Second, 2 * time.Second, 10 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.Database(t)
			dir := t.TempDir()
			lock, marks := filepath.Join(dir, "lock"), filepath.Join(dir, "ledger")
			actions := parseActions(t, `
actions:
  - name: deploy
    on: {stage: prod}
    exec: `+helperCommand(t, "locked", lock, marks, tc.run.String())+`, timeout: 5m}
`)
			a := newRigAt(t, url, actions, deploy.Options{LeaseTTL: tc.ttl}, true)
			newRigAt(t, url, actions, deploy.Options{LeaseTTL: tc.ttl}, true) // the other replica
			_, runs := a.event(assignment("churn", "v1.0.0", "prod"))
			if len(runs) != 1 {
				t.Fatalf("runs %+v", runs)
			}
			deadline := time.Now().Add(time.Minute)
			for len(ledger(t, marks)) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the deploy never started")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := srv.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.outage)
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}

			run := a.waitLong(runs[0].ID, 3*time.Minute, store.RunSucceeded, store.RunFailed)
			key := run.IdempotencyKey
			want := strings.Repeat("start "+key+" ", tc.attempts) + "done " + key
			if got := strings.Join(ledger(t, marks), " "); got != want {
				t.Errorf("the deploy target saw %q, want %q", got, want)
			}
			if run.Status != store.RunSucceeded || len(run.History) != tc.attempts || run.History[tc.attempts-1].Error != "" {
				t.Fatalf("run %s with attempts %+v, want %d, the last one good", run.Status, run.History, tc.attempts)
			}
			if tc.attempts == 2 {
				first, second := run.History[0], run.History[1]
				if !strings.Contains(first.Error, "lease could not be renewed") || first.FinishedAt == nil ||
					second.StartedAt.Before(*first.FinishedAt) {
					t.Errorf("attempts %+v, want the first interrupted before the second began", run.History)
				}
			}
		})
	}
}

// River's rescuer is set to take jobs running longer than a few seconds
// for stuck; a 45-second deploy is not one of them, since its job's
// timeout is the action's: it runs once, in one attempt, and its job is
// never rescued.
func TestLongDeployIsNotRescuedWhileItRuns(t *testing.T) {
	dir := t.TempDir()
	db, lock, marks := filepath.Join(dir, "hookd.db"), filepath.Join(dir, "lock"), filepath.Join(dir, "ledger")
	actions := parseActions(t, `
actions:
  - name: long-deploy
    on: {stage: prod}
    exec: `+helperCommand(t, "locked", lock, marks, "45s")+`, timeout: 2m}
`)
	a := newRigAt(t, db, actions, deploy.Options{}, true, store.WithRescueAfter(2*time.Second))
	newRigAt(t, db, actions, deploy.Options{}, true, store.WithRescueAfter(2*time.Second))
	_, runs := a.event(assignment("churn", "v1.0.0", "prod"))
	run := a.waitLong(runs[0].ID, 2*time.Minute, store.RunSucceeded, store.RunFailed)
	key := run.IdempotencyKey
	if got := strings.Join(ledger(t, marks), " "); got != "start "+key+" done "+key {
		t.Errorf("the deploy target saw %q, want one attempt", got)
	}
	if run.Status != store.RunSucceeded || len(run.History) != 1 {
		t.Errorf("run %s with %d attempts, want succeeded in one", run.Status, len(run.History))
	}
	// River writes down each rescue in the job's errors.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var rescued int
	if err := raw.QueryRow(`SELECT count(*) FROM river_job WHERE CAST(errors AS TEXT) LIKE '%Stuck job rescued%'`).Scan(&rescued); err != nil || rescued != 0 {
		t.Errorf("River rescued %d jobs (%v), want none", rescued, err)
	}
}
