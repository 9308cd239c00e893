package main

import (
	"strings"
	"testing"
)

func TestParseJSONHasGTOFieldsInGTOOrder(t *testing.T) {
	args := []string{
		"nn@v1.2.3",
		"nn@v1.2.3!#4",
		"models/churn=rf#prod#12",
		"nn#prod!",
		"nn@deprecated#3",
		"nn@created",
		"release-1",
		"v1.0",
		"nn@1.0.0",
		"nn#prod#01",
		"nn@v1.0.0#0",
		"nn#prod#007",
	}
	got := runHookd(t, t.TempDir(), gitEnv(t), append([]string{"parse", "--json"}, args...)...)
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	want := `[
		{"name": "nn", "version": "v1.2.3", "action": "register"},
		{"name": "nn", "version": "v1.2.3", "action": "deregister", "counter": 4},
		{"name": "models/churn:rf", "stage": "prod", "action": "assign", "counter": 12},
		{"name": "nn", "stage": "prod", "action": "unassign"},
		{"name": "nn", "action": "deprecate", "counter": 3},
		{"name": "nn"},
		{}, {}, {},
		{"name": "nn", "stage": "prod", "action": "assign", "counter": 1},
		{"name": "nn", "version": "v1.0.0", "action": "register", "counter": 0},
		{"name": "nn", "stage": "prod", "action": "assign", "counter": 7}
	]`
	if d := diffJSON(got.stdout, want); d != "" {
		t.Error(d)
	}
}

func TestParseSaysWhatATagDoesOrWhyItIsNone(t *testing.T) {
	got := runHookd(t, t.TempDir(), gitEnv(t), "parse", "nn#prod#3", "nn@v1.0.0", "nn@1.0.0", "release-1", "nn#prod#007")
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	want := []string{
		"nn#prod#3: assigns stage prod to artifact nn (counter 3)",
		"nn@v1.0.0: registers version v1.0.0 of artifact nn (simple notation)",
		"nn@1.0.0: version must be v-prefixed SemVer like v1.2.3",
		"release-1: not a GTO tag: expected name@vX.Y.Z, name#stage or name@deprecated",
		"nn#prod#007: assigns stage prod to artifact nn (counter 7)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got.stdout, strings.Join(want, "\n"))
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"parse"},                         // missing argument
		{"parse", "--no-such-flag", "x"},  // unknown flag
		{"show", "a", "b"},                // too many arguments
		{"show", "--sort", "size"},        // bad flag value
		{"show", "--av", "many"},          // not a number
		{"assign", "nn", "--simple", "x"}, // bad --simple
		{"assign", "nn"},                  // no --stage
	} {
		res := runHookd(t, t.TempDir(), gitEnv(t), args...)
		if res.code != 2 {
			t.Errorf("hookd %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), res.code, res.stderr)
			continue
		}
		if n := strings.Count(strings.TrimSpace(res.stderr), "\n"); n != 0 || res.stderr == "" {
			t.Errorf("hookd %s: stderr %q, want one line", strings.Join(args, " "), res.stderr)
		}
	}
}

func TestHelpListsTheCommands(t *testing.T) {
	res := runHookd(t, t.TempDir(), gitEnv(t), "--help")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, cmd := range []string{"parse", "check-ref", "show", "history", "stages", "doctor", "register", "assign", "unassign", "deregister", "deprecate"} {
		if !strings.Contains(res.stdout, "\n  "+cmd+" ") {
			t.Errorf("--help does not list %s:\n%s", cmd, res.stdout)
		}
	}
}
