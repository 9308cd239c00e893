package deploy_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// worker is a hookd stand-in process for TestCrashMidRunResumes: it records
// an event and works its run until it is killed.
func worker() int {
	ctx := context.Background()
	s, err := store.Open(ctx, os.Getenv("DEPLOY_WORKER"), store.WithLogger(quiet))
	if err != nil {
		return 1
	}
	var actions []deploy.Action
	if err := yamlUnmarshal(os.Getenv("DEPLOY_ACTIONS"), &actions); err != nil {
		return 1
	}
	e, err := deploy.NewEngine(actions, s, deploy.Options{LeaseTTL: time.Second, Logger: quiet})
	if err != nil {
		return 1
	}
	ev, _, err := s.RecordEvent(ctx, assignment("churn", "v1.0.0", "prod"))
	if err != nil {
		return 1
	}
	if _, err := e.Dispatch(ctx, ev); err != nil {
		return 1
	}
	err = s.StartWorkers(ctx, store.Workers{
		ProcessDelivery:     func(context.Context, store.Delivery) (store.Outcome, error) { return store.Outcome{}, nil },
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction:           e.Execute,
	})
	if err != nil {
		return 1
	}
	time.Sleep(time.Minute)
	return 0
}

func TestCrashMidRunResumes(t *testing.T) {
	dir := t.TempDir()
	db, mark := filepath.Join(dir, "hookd.db"), filepath.Join(dir, "keys")
	actionsYAML := `
- name: slow-deploy
  exec: ` + helperCommand(t, "slow", mark, "2s") + `}
`
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "DEPLOY_WORKER="+db, "DEPLOY_ACTIONS="+actionsYAML)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	deadline := time.Now().Add(time.Minute)
	for len(keys(t, mark)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the action never started in the worker process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// Restarted: River hands the stuck job out again (here: by hand, as its
	// rescuer would), and the run waits for the dead holder's lease to
	// expire, then completes.
	var actions []deploy.Action
	if err := yamlUnmarshal(actionsYAML, &actions); err != nil {
		t.Fatal(err)
	}
	r := newRigAt(t, db, actions, deploy.Options{LeaseTTL: time.Second}, false)
	runs, err := r.store.Runs(testCtx(t), store.RunFilter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v; want one", runs, err)
	}
	if runs[0].Status != store.RunRunning {
		t.Fatalf("run is %s after the crash, want running", runs[0].Status)
	}
	for {
		err := r.engine.Execute(testCtx(t), runs[0].ID)
		var snooze *rivertype.JobSnoozeError
		if !errors.As(err, &snooze) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never got its lane back")
		}
		time.Sleep(snooze.Duration)
	}
	run := r.wait(runs[0].ID, store.RunSucceeded)
	if len(run.History) != 2 || !strings.Contains(run.History[0].Error, "abandoned") || run.History[1].Error != "" {
		t.Fatalf("attempts = %+v, want an abandoned one and a good one", run.History)
	}
	got := keys(t, mark)
	if len(got) != 2 || got[0] != run.IdempotencyKey || got[1] != run.IdempotencyKey {
		t.Errorf("idempotency keys seen by the action = %q, want %q twice", got, run.IdempotencyKey)
	}
}

// keys returns the keys the slow helper has appended to path. The helper
// creates the file before it writes, so an empty file means "not yet": a
// caller that waits for the first key must wait for one, not for the file.
func keys(t *testing.T, path string) []string {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(raw))
}

// Stopping hookd in the middle of a run stops the program, records the
// attempt as interrupted without failing the run, and the run completes
// when workers start again.
func TestShutdownMidRunResumes(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "keys")
	actions := parseActions(t, `
actions:
  - name: slow-deploy
    max_attempts: 1
    exec: `+helperCommand(t, "slow", mark, "2s")+`}
`)
	r := newRig(t, actions, deploy.Options{})
	_, runs := r.event(assignment("churn", "v1.0.0", "prod"))
	deadline := time.Now().Add(time.Minute)
	for len(keys(t, mark)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the action never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = r.store.StopWorkers(stop)
	run := r.wait(runs[0].ID, store.RunQueued)
	if len(run.History) != 1 || !strings.Contains(run.History[0].Error, "interrupted") {
		t.Fatalf("after the shutdown: %+v", run.History)
	}

	r.work()
	run = r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if run.Status != store.RunSucceeded || len(run.History) != 2 {
		t.Fatalf("run %s after %d attempts, want succeeded after 2", run.Status, len(run.History))
	}
	if got := keys(t, mark); len(got) != 2 || got[0] != got[1] {
		t.Errorf("idempotency keys = %q, want the same twice", got)
	}
}
