package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environments converge on what GTO shows, end to end: tags pushed with the
// real git CLI to the GitHub stand-in, a `hookd serve` process, and exec
// actions that write down what they were asked to deploy. Each step is a
// case users get hurt by when deploys follow tags instead of state.
func TestEnvironmentsConvergeOnWhatGTOShows(t *testing.T) {
	databases(t, testEnvironmentsConverge)
}

func testEnvironmentsConverge(t *testing.T, databaseURL string) {
	p := newPipeline(t, databaseURL)
	deployed := filepath.Join(t.TempDir(), "deployed")
	tornDown := filepath.Join(t.TempDir(), "torn-down")
	p.setActions(fmt.Sprintf(`actions:
  - name: deploy-prod
    on: {artifact: churn, event: [assignment], stage: prod}
    exec: {command: %s}
  - name: teardown-prod
    on: {artifact: churn, event: [unassignment], stage: prod}
    exec: {command: %s}
`, ledgerCommand(deployed), ledgerCommand(tornDown)))

	first := p.git(p.clone, "rev-parse", "HEAD")
	p.tag("churn@v1.0.0", "2024-01-02T09:00:00+00:00")
	second := p.commit("model.txt", "v2", "2024-01-02T09:05:00+00:00")
	p.tag("churn@v1.1.0", "2024-01-02T09:10:00+00:00")
	p.push("churn@v1.0.0", "churn@v1.1.0")
	deliveries := p.waitDeliveriesSettled(2)

	step := func(what string, wantDeployed, wantTornDown []string) {
		t.Helper()
		p.waitLedger(deployed, len(wantDeployed))
		p.waitLedger(tornDown, len(wantTornDown))
		deliveries = p.waitDeliveriesSettled(len(deliveries) + 1)
		p.waitRunsFinished(0)
		if got := readLedger(t, deployed); !slices.Equal(got, wantDeployed) {
			t.Errorf("%s: deploy-prod ran for\n %q\nwant\n %q", what, got, wantDeployed)
		}
		if got := readLedger(t, tornDown); !slices.Equal(got, wantTornDown) {
			t.Errorf("%s: teardown-prod ran for\n %q\nwant\n %q", what, got, wantTornDown)
		}
	}

	// A newer assignment of v1.1.0 is deployed.
	p.tagAt("churn#prod#2", second, "2024-01-02T10:05:00+00:00")
	p.push("churn#prod#2")
	step("assign v1.1.0", []string{"v1.1.0 promotion assignment - key1"}, nil)

	// An older assignment (10:00) pushed after it changes nothing GTO
	// shows: nothing deploys, nothing is torn down.
	p.tagAt("churn#prod#1", first, "2024-01-02T10:00:00+00:00")
	p.push("churn#prod#1")
	step("late older assignment", []string{"v1.1.0 promotion assignment - key1"}, nil)

	// Deleting the newest assignment gives prod back v1.0.0: a rollback,
	// and prod lost v1.1.0.
	p.push(":refs/tags/churn#prod#2")
	step("delete the newest assignment", []string{
		"v1.1.0 promotion assignment - key1",
		"v1.0.0 rollback assignment tag_deleted key2",
	}, []string{"v1.1.0 promotion unassignment tag_deleted key1"})

	// Back to v1.1.0, then v1.1.0 is deregistered: GTO shows v1.0.0
	// again, and the environment follows.
	p.tagAt("churn#prod#3", second, "2024-01-02T10:30:00+00:00")
	p.push("churn#prod#3")
	step("assign v1.1.0 again", []string{
		"v1.1.0 promotion assignment - key1",
		"v1.0.0 rollback assignment tag_deleted key2",
		"v1.1.0 promotion assignment - key3",
	}, []string{
		"v1.1.0 promotion unassignment tag_deleted key1",
		"v1.0.0 promotion unassignment assignment key2",
	})
	p.tagAt("churn@v1.1.0!#4", second, "2024-01-02T10:40:00+00:00")
	p.push("churn@v1.1.0!#4")
	step("deregister the version prod holds", []string{
		"v1.1.0 promotion assignment - key1",
		"v1.0.0 rollback assignment tag_deleted key2",
		"v1.1.0 promotion assignment - key3",
		"v1.0.0 rollback assignment deregistration key4",
	}, []string{
		"v1.1.0 promotion unassignment tag_deleted key1",
		"v1.0.0 promotion unassignment assignment key2",
		"v1.1.0 rollback unassignment deregistration key3",
	})

	// gto assign --force of the version prod holds asks for a redeploy.
	p.tagAt("churn#prod#5", first, "2024-01-02T10:50:00+00:00")
	p.push("churn#prod#5")
	step("re-assign the version prod holds", []string{
		"v1.1.0 promotion assignment - key1",
		"v1.0.0 rollback assignment tag_deleted key2",
		"v1.1.0 promotion assignment - key3",
		"v1.0.0 rollback assignment deregistration key4",
		"v1.0.0 redeploy assignment - key5",
	}, []string{
		"v1.1.0 promotion unassignment tag_deleted key1",
		"v1.0.0 promotion unassignment assignment key2",
		"v1.1.0 rollback unassignment deregistration key3",
	})

	lanes := p.apiList("/api/v1/lanes?repository=acme/models", "lanes")
	if len(lanes) != 2 {
		t.Fatalf("lanes = %v, want deploy-prod's and teardown-prod's", lanes)
	}
	for _, l := range lanes {
		if fmt.Sprint(l["desired"]) != "[v1.0.0]" || l["in_sync"] != true {
			t.Errorf("lane %v: desired %v, in sync %v; want [v1.0.0], in sync", l["action"], l["desired"], l["in_sync"])
		}
	}
}

// ledgerCommand is an exec command (as a YAML flow sequence) that appends
// one line per run to path: the version, the direction, how the run reads
// (HOOKD_EVENT), what caused it ("-" for the event itself) and the run's
// idempotency key, numbered in order of first appearance. Tag text reaches
// the shell only as environment values, never as script.
func ledgerCommand(path string) string {
	return fmt.Sprintf(`["sh", "-c", "printf '%%s %%s %%s %%s %%s\\n' \"$HOOKD_VERSION\" \"$HOOKD_DIRECTION\" \"$HOOKD_EVENT\" \"${HOOKD_CAUSE:--}\" \"$HOOKD_IDEMPOTENCY_KEY\" >> \"$0\"", %q]`, path)
}

// readLedger reads a ledger, naming idempotency keys key1, key2, ... in the
// order they first appear (each lane has its own).
func readLedger(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	var out []string
	// Only whole lines: the shell may be writing the next one right now.
	text := string(data)
	text = text[:strings.LastIndexByte(text, '\n')+1]
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		key := fields[len(fields)-1]
		if names[key] == "" {
			names[key] = fmt.Sprintf("key%d", len(names)+1)
		}
		fields[len(fields)-1] = names[key]
		out = append(out, strings.Join(fields, " "))
	}
	return out
}

func (p *pipeline) waitLedger(path string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(readLedger(p.t.(*testing.T), path)) < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s has %d lines, want %d\nlog:\n%s", path, len(readLedger(p.t.(*testing.T), path)), n, p.hookd.LogText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tagAt makes an annotated tag at commit, tagged at date.
func (p *pipeline) tagAt(name, commit, date string) {
	p.t.Helper()
	cmd := exec.Command("git", "tag", "-a", "-m", "tag "+name, name, commit)
	cmd.Dir, cmd.Env = p.clone, append(slices.Clone(p.env), "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("git tag %s: %v\n%s", name, err, out)
	}
}

// setActions appends an actions: section to the configuration and has
// hookd reload it.
func (p *pipeline) setActions(section string) {
	p.t.Helper()
	data, err := os.ReadFile(p.config)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(p.config, append(data, section...), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.hookd.Signal(syscall.SIGHUP)
	p.hookd.WaitLog("config reloaded")
}
