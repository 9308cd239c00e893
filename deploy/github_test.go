package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/source/github"
	"github.com/hookd-dev/hookd/store"
)

// seed gives the stand-in's repository a commit with a dispatchable
// workflow and the annotated tag tag on it, and returns the commit.
func seed(t *testing.T, gh *githubtest.Server, tag string) string {
	t.Helper()
	data := func(s string) string { return fmt.Sprintf("data %d\n%s\n", len(s), s) }
	stream := "commit refs/heads/main\ncommitter Ana <ana@example.com> 1700000000 +0100\n" + data("first") +
		"M 644 inline .github/workflows/deploy.yml\n" + data("on: workflow_dispatch\njobs: {}\n") +
		"tag " + tag + "\nfrom refs/heads/main\ntagger Tess <tess@example.com> 1700000001 +0200\n" + data("assign") + "done\n"
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_DIR="+gh.BareDir())
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git(stream, "fast-import", "--quiet", "--done")
	return git("", "rev-parse", "refs/heads/main")
}

// standIn is acme/models on a GitHub stand-in, and hookd's client of it.
func standIn(t *testing.T) (*githubtest.Server, deploy.GitHubRepo) {
	t.Helper()
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	repo, err := github.New("acme", "models", github.WithBaseURL(gh.APIURL()), github.WithToken(gh.Token()))
	if err != nil {
		t.Fatal(err)
	}
	return gh, client{repo}
}

// client is hookd's GitHub client with deploy's deployment types.
type client struct{ *github.Repo }

func (c client) CreateDeployment(ctx context.Context, d deploy.Deployment) (int64, error) {
	return c.Repo.CreateDeployment(ctx, github.Deployment(d))
}

func (c client) SetDeploymentStatus(ctx context.Context, id int64, s deploy.DeploymentStatus) error {
	return c.Repo.SetDeploymentStatus(ctx, id, github.DeploymentStatus(s))
}

func TestGitHubKinds(t *testing.T) {
	gh, repo := standIn(t)
	ev := assignment("churn", "v1.0.0", "prod")
	ev.CommitSHA = seed(t, gh, ev.TagName)
	clients := func(name string) (deploy.GitHubRepo, error) {
		if name != "acme/models" {
			return nil, fmt.Errorf("no client for %s", name)
		}
		return repo, nil
	}
	actions := parseActions(t, `
actions:
  - name: workflow
    on: {event: assignment}
    github_workflow: {workflow: deploy.yml, inputs: {artifact: "{{.Artifact}}", version: "{{.Version}}", key: "{{.IdempotencyKey}}"}}
  - name: dispatch
    on: {event: assignment}
    github_dispatch: {}
  - name: dispatch-custom
    on: {event: assignment}
    github_dispatch: {event_type: "deploy-{{.Stage}}", client_payload: {version: "{{.Version}}"}}
  - name: environment
    on: {event: assignment}
    github_deployment: {}
  - name: flaky
    on: {event: assignment, version: ">=2.0.0"}
    max_attempts: 1
    exec: `+helperCommand(t, "fail-unless", "/nonexistent")+`}
`)
	r := newRig(t, actions, deploy.Options{GitHub: clients, PublicURL: "https://hookd.example"})
	recorded, runs := r.event(ev)
	byAction := map[string]store.Run{}
	for _, run := range runs {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
			t.Fatalf("%s %s: %+v", got.Action, got.Status, got.History)
		}
		byAction[run.Action] = run
	}

	wf := gh.WorkflowDispatches()
	if len(wf) != 1 || wf[0].Workflow != "deploy.yml" || wf[0].Ref != ev.TagName ||
		wf[0].Inputs["artifact"] != "churn" || wf[0].Inputs["version"] != "v1.0.0" || wf[0].Inputs["key"] != byAction["workflow"].IdempotencyKey {
		t.Errorf("workflow dispatches = %+v", wf)
	}

	rd := gh.RepositoryDispatches()
	if len(rd) != 2 {
		t.Fatalf("repository dispatches = %+v, want 2", rd)
	}
	for _, d := range rd {
		switch d.EventType {
		case "hookd.assignment":
			var p struct {
				Event          deploy.Event `json:"event"`
				IdempotencyKey string       `json:"idempotency_key"`
			}
			if err := json.Unmarshal(d.ClientPayload, &p); err != nil {
				t.Fatal(err)
			}
			if p.Event.EventID != recorded.ID || p.Event.Tag != ev.TagName || p.IdempotencyKey != byAction["dispatch"].IdempotencyKey {
				t.Errorf("default client payload = %s", d.ClientPayload)
			}
		case "deploy-prod":
			var p map[string]string
			if err := json.Unmarshal(d.ClientPayload, &p); err != nil || len(p) != 1 || p["version"] != "v1.0.0" {
				t.Errorf("custom client payload = %s", d.ClientPayload)
			}
		default:
			t.Errorf("unexpected event type %q", d.EventType)
		}
	}

	// The deployment followed the other actions to success.
	assertDeployment(t, gh.Deployments(), 0, ev.CommitSHA, []string{"queued", "in_progress", "success"},
		fmt.Sprintf("https://hookd.example/ui/runs/%d", byAction["environment"].ID))

	// A version the flaky action matches: the deployment fails with it,
	// and links to its run.
	ev2 := assignment("churn", "v2.0.0", "prod")
	ev2.CommitSHA = ev.CommitSHA
	_, runs = r.event(ev2)
	var failed store.Run
	for _, run := range runs {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Action == "flaky" {
			failed = got
		}
	}
	if failed.Status != store.RunFailed {
		t.Fatalf("flaky is %s, want failed", failed.Status)
	}
	assertDeployment(t, gh.Deployments(), 1, ev.CommitSHA, []string{"queued", "in_progress", "failure"},
		fmt.Sprintf("https://hookd.example/ui/runs/%d", failed.ID))
}

func assertDeployment(t *testing.T, deployments []githubtest.Deployment, i int, sha string, states []string, lastLog string) {
	t.Helper()
	if len(deployments) <= i {
		t.Fatalf("%d deployments, want at least %d", len(deployments), i+1)
	}
	d := deployments[i]
	if d.Environment != "prod" || d.SHA != sha {
		t.Errorf("deployment %d: environment %q, sha %s", i, d.Environment, d.SHA)
	}
	var got []string
	for _, s := range d.Statuses {
		got = append(got, s.State)
	}
	if strings.Join(got, ",") != strings.Join(states, ",") {
		t.Fatalf("deployment %d statuses = %v, want %v", i, got, states)
	}
	if last := d.Statuses[len(d.Statuses)-1]; last.LogURL != lastLog {
		t.Errorf("deployment %d: final log_url = %q, want %q", i, last.LogURL, lastLog)
	}
}

// Deployments wait for their event's other runs while holding a job worker;
// many at once must not take every worker from the runs they wait for.
func TestManyDeploymentsDoNotStarveTheirActions(t *testing.T) {
	gh, repo := standIn(t)
	commit := seed(t, gh, "unused")
	rc := newReceiver(t, 0)
	actions := parseActions(t, `
actions:
  - {name: environment, github_deployment: {follow: 50s}}
  - {name: deploy, http: {url: `+rc.url+`}}
`)
	opts := deploy.Options{GitHub: func(string) (deploy.GitHubRepo, error) { return repo, nil }}
	r := newRigAt(t, filepath.Join(t.TempDir(), "hookd.db"), actions, opts, false)
	// Every deployment run is queued ahead of every deploy run: the
	// deployments are fetched first, more of them than there are workers.
	first, err := deploy.NewEngine(actions[:1], r.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	var events []store.Event
	for i := range 8 {
		ev := assignment(fmt.Sprintf("model-%d", i), "v1.0.0", "prod")
		ev.CommitSHA, ev.TagObjectSHA = commit, fmt.Sprintf("%040d", i)
		ev, _, err := r.store.RecordEvent(testCtx(t), ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Dispatch(testCtx(t), ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	var all []store.Run
	for _, ev := range events {
		runs, err := r.engine.Dispatch(testCtx(t), ev)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, runs...)
	}
	r.work()
	for _, run := range all {
		if got := r.wait(run.ID, store.RunSucceeded, store.RunFailed); got.Status != store.RunSucceeded {
			t.Fatalf("%s: %s %+v", got.Action, got.Status, got.History)
		}
	}
	for i, d := range gh.Deployments() {
		if last := d.Statuses[len(d.Statuses)-1].State; last != "success" {
			t.Errorf("deployment %d ended %s", i, last)
		}
	}
}

// An attempt that created the deployment and then failed (its status
// update refused, or the process killed) is followed by one that reports
// on the same deployment: one event, one deployment on GitHub.
func TestDeploymentRepeatedAttemptKeepsOneDeployment(t *testing.T) {
	gh, repo := standIn(t)
	ev := assignment("churn", "v1.0.0", "prod")
	ev.CommitSHA = seed(t, gh, ev.TagName)
	actions := parseActions(t, `
actions:
  - name: environment
    on: {event: assignment}
    backoff: {initial: 10ms, max: 20ms}
    github_deployment: {}
`)
	// The first status update fails; GitHub answers writes' 5xx once and
	// hookd does not repeat a write on its own, so the attempt fails.
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Method: "POST", Path: "/statuses"})
	r := newRig(t, actions, deploy.Options{GitHub: func(string) (deploy.GitHubRepo, error) { return repo, nil }})
	_, runs := r.event(ev)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	got := r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if got.Status != store.RunSucceeded || len(got.History) != 2 {
		t.Fatalf("run %s after %d attempts, want succeeded after 2: %+v", got.Status, len(got.History), got.History)
	}
	deps := gh.Deployments()
	if len(deps) != 1 {
		t.Fatalf("%d deployments for one event, want 1", len(deps))
	}
	assertDeployment(t, deps, 0, ev.CommitSHA, []string{"queued", "in_progress", "success"}, "")
	if out := got.History[1].OutputTail; !strings.Contains(out, "created by an earlier attempt of this run") {
		t.Errorf("second attempt's output does not say it followed the earlier deployment:\n%s", out)
	}
}
