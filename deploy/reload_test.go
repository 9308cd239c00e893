package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// A configuration reload swaps the actions of the same engine: a run it is
// executing when River hands the run out again (a rescued job) is not
// executed a second time, and a reload with a mistake changes nothing.
func TestReloadKeepsARunningRunFromRunningTwice(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger")
	actions := parseActions(t, `actions:
  - name: slow
    on: {event: [assignment]}
    exec: {command: ["sh", "-c", "echo started >> \"$1\"; sleep 1", "slow", "`+ledger+`"]}
`)
	r := newRigAt(t, filepath.Join(dir, "hookd.db"), actions, deploy.Options{}, false)
	_, runs := r.event(store.Event{Repository: "acme/models", Artifact: "churn", Type: store.EventAssignment,
		Version: "v1.0.0", Stage: "prod", TagName: "churn#prod#1",
		Stages: []store.StageChange{{Stage: "prod", After: []string{"v1.0.0"}}}})
	if len(runs) != 1 {
		t.Fatalf("runs %v", runs)
	}
	done := make(chan error, 1)
	go func() { done <- r.engine.Execute(testCtx(t), runs[0].ID) }()
	r.wait(runs[0].ID, store.RunRunning)

	bad := parseActions(t, "actions:\n  - name: slow\n    exec: {command: [\"{{.Nope}}\"]}\n")
	if err := r.engine.SetActions(bad); err == nil {
		t.Fatal("a reload with a template mistake was accepted")
	}
	if err := r.engine.SetActions(actions); err != nil {
		t.Fatal(err)
	}
	// A second job for the lane this engine is deploying to leaves it to
	// the first at once: no second attempt, no waiting.
	if err := r.engine.Execute(testCtx(t), runs[0].ID); err != nil {
		t.Errorf("a second job for a busy lane: %v", err)
	}
	if run, err := r.store.Run(testCtx(t), runs[0].ID); err != nil || run.Attempts != 1 {
		t.Errorf("after a second job the run has %d attempts (%v), want 1", run.Attempts, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.wait(runs[0].ID, store.RunSucceeded)
	data, _ := os.ReadFile(ledger)
	if n := strings.Count(string(data), "started"); n != 1 {
		t.Errorf("the action ran %d times", n)
	}
	ev := deploy.SampleEvent
	ev.Type, ev.Stage = "assignment", "prod"
	if got := r.engine.Match(&ev); len(got) != 1 || got[0] != "slow" {
		t.Errorf("after a refused reload, actions are %v", got)
	}
}
