package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookd-dev/hookd/store"
)

// GitHubRepo is what the github_* kinds need from a repository's GitHub
// client. hookd's own client (package source/github) takes the same
// deployment fields in types of its own; cmd/hookd converts.
type GitHubRepo interface {
	DispatchWorkflow(ctx context.Context, file, ref string, inputs map[string]any) error
	DispatchRepository(ctx context.Context, eventType string, payload any) error
	CreateDeployment(ctx context.Context, d Deployment) (int64, error)
	FindDeployment(ctx context.Context, sha, environment, key string) (int64, bool, error)
	SetDeploymentStatus(ctx context.Context, id int64, s DeploymentStatus) error
}

// Deployment is a GitHub Deployment to create.
type Deployment struct {
	Ref         string // branch, tag or sha
	Environment string
	Task        string // "deploy" if empty
	Description string // GitHub keeps 140 characters
	Payload     any    // JSON-encoded as the deployment's payload
}

// DeploymentStatus is a state change of a GitHub Deployment.
type DeploymentStatus struct {
	// State is one of error, failure, inactive, in_progress, queued,
	// pending, success.
	State          string
	Description    string // GitHub keeps 140 characters
	LogURL         string
	EnvironmentURL string
}

// GitHubClients returns the client for repository ("owner/name").
type GitHubClients func(repository string) (GitHubRepo, error)

// gitHubRunner is what every github_* kind shares: the repository to act
// on (each kind's templated `repository`, default the event's) and the
// request timeout.
type gitHubRunner struct {
	repo  text
	limit time.Duration
}

func newGitHubRunner(c *compiler, kind, repository string, timeout Duration) gitHubRunner {
	return gitHubRunner{repo: c.text(repository, kind, "repository"), limit: timeout.Or(DefaultRequestTimeout)}
}

func (r gitHubRunner) timeout() time.Duration { return r.limit }

// client returns the repository to act on and its client.
func (r gitHubRunner) client(inv *invocation) (string, GitHubRepo, error) {
	repo, err := r.repo.render(inv.ctx)
	if err != nil {
		return "", nil, fmt.Errorf("repository: %w", err)
	}
	if repo == "" {
		repo = inv.ctx.Repository
	}
	gh, err := inv.github(repo)
	if err != nil {
		return "", nil, fmt.Errorf("github client for %s: %w", repo, err)
	}
	return repo, gh, nil
}

// WorkflowAction triggers a GitHub Actions workflow (workflow_dispatch).
type WorkflowAction struct {
	// Repository is "owner/name" (default: the event's repository).
	Repository string `yaml:"repository"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// Workflow is the workflow's file name (deploy.yml) or id.
	Workflow string `yaml:"workflow"`
	// Ref is the templated branch or tag to run the workflow from
	// (default: the event's tag, so the workflow is the one at the
	// tagged commit).
	Ref string `yaml:"ref"`
	// Inputs are templated; the workflow must declare each of them.
	Inputs map[string]string `yaml:"inputs"`
}

type workflowRunner struct {
	gitHubRunner
	workflow string
	ref      text
	inputs   map[string]text
}

func (a *WorkflowAction) compile(c *compiler) runner {
	if a.Workflow == "" {
		c.problem([]any{"github_workflow", "workflow"}, "action %q: github_workflow.workflow is empty; name the workflow file, e.g. deploy.yml", c.name)
	}
	return &workflowRunner{
		gitHubRunner: newGitHubRunner(c, "github_workflow", a.Repository, a.Timeout),
		workflow:     a.Workflow,
		ref:          c.text(a.Ref, "github_workflow", "ref"),
		inputs:       c.texts(a.Inputs, "github_workflow", "inputs"),
	}
}

func (r *workflowRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	repo, gh, err := r.client(inv)
	if err != nil {
		return nil, err
	}
	ref, err := r.ref.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("ref: %w", err)
	}
	if ref == "" {
		ref = inv.ctx.Tag
	}
	rendered, err := renderAll(r.inputs, inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("inputs.%w", err)
	}
	inputs := make(map[string]any, len(rendered))
	for k, v := range rendered {
		inputs[k] = v
	}
	inv.out.Printf("workflow_dispatch %s in %s on %s", r.workflow, repo, ref)
	return nil, gh.DispatchWorkflow(ctx, r.workflow, ref, inputs)
}

// DispatchAction sends a repository_dispatch event.
type DispatchAction struct {
	// Repository is "owner/name" (default: the event's repository).
	Repository string `yaml:"repository"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// EventType is the templated event_type (default "hookd.<event type>",
	// e.g. hookd.assignment).
	EventType string `yaml:"event_type"`
	// ClientPayload has templated values; without it the payload is
	// {"event": <the event>, "idempotency_key": ..., "run_id": ...}
	// (GitHub allows at most 10 top-level keys).
	ClientPayload map[string]string `yaml:"client_payload"`
}

type dispatchRunner struct {
	gitHubRunner
	eventType text
	payload   map[string]text
}

func (a *DispatchAction) compile(c *compiler) runner {
	if len(a.ClientPayload) > 10 {
		c.problem([]any{"github_dispatch", "client_payload"}, "action %q: github_dispatch.client_payload has %d keys; GitHub accepts at most 10", c.name, len(a.ClientPayload))
	}
	return &dispatchRunner{
		gitHubRunner: newGitHubRunner(c, "github_dispatch", a.Repository, a.Timeout),
		eventType:    c.text(a.EventType, "github_dispatch", "event_type"),
		payload:      c.texts(a.ClientPayload, "github_dispatch", "client_payload"),
	}
}

func (r *dispatchRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	repo, gh, err := r.client(inv)
	if err != nil {
		return nil, err
	}
	eventType, err := r.eventType.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("event_type: %w", err)
	}
	if eventType == "" {
		eventType = "hookd." + inv.ctx.Type
	}
	var payload any = map[string]any{
		"event":           &inv.ctx.Event,
		"idempotency_key": inv.ctx.IdempotencyKey,
		"run_id":          inv.ctx.RunID,
	}
	if len(r.payload) > 0 {
		if payload, err = renderAll(r.payload, inv.ctx); err != nil {
			return nil, fmt.Errorf("client_payload.%w", err)
		}
	}
	inv.out.Printf("repository_dispatch %s to %s", eventType, repo)
	return nil, gh.DispatchRepository(ctx, eventType, payload)
}

// DeploymentAction records the event as a GitHub Deployment of the commit
// to the stage's environment, whose status follows the event's other
// actions: queued, in_progress once one of them starts, then success when
// all have succeeded or failure as soon as one has failed.
type DeploymentAction struct {
	// Repository is "owner/name" (default: the event's repository).
	Repository string `yaml:"repository"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// Environment is templated (default: the event's stage).
	Environment string `yaml:"environment"`
	// Description is templated (default "<artifact> <version> to <stage>");
	// GitHub keeps 140 characters.
	Description string `yaml:"description"`
	// Follow bounds how long the status follows the other actions
	// (default 1h); after it, the status is error.
	Follow Duration `yaml:"follow"`
}

type deploymentRunner struct {
	gitHubRunner
	environment text
	description text
	follow      time.Duration
}

// pollInterval is how often a deployment checks on the event's other runs.
const pollInterval = 250 * time.Millisecond

func (a *DeploymentAction) compile(c *compiler) runner {
	r := &deploymentRunner{
		gitHubRunner: newGitHubRunner(c, "github_deployment", a.Repository, a.Timeout),
		environment:  c.text(a.Environment, "github_deployment", "environment"),
		description:  c.text(a.Description, "github_deployment", "description"),
		follow:       a.Follow.Or(DefaultFollowTimeout),
	}
	// The attempt lasts as long as it follows the other actions, plus the
	// requests around that.
	r.limit += r.follow
	return r
}

func (r *deploymentRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	repo, gh, err := r.client(inv)
	if err != nil {
		return nil, err
	}
	env, err := r.environment.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	if env == "" {
		env = inv.ctx.Stage
	}
	if env == "" {
		return nil, fmt.Errorf("the %s event has no stage; set github_deployment.environment", inv.ctx.Type)
	}
	desc, err := r.description.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("description: %w", err)
	}
	if desc == "" {
		desc = fmt.Sprintf("%s %s to %s", inv.ctx.Artifact, inv.ctx.Version, env)
	}
	payload, err := eventJSON(inv.ctx)
	if err != nil {
		return nil, err
	}
	// An earlier attempt of this run (before a crash, or one whose status
	// update failed) may have created the deployment already: follow it.
	id, found, err := gh.FindDeployment(ctx, inv.ctx.Commit, env, inv.ctx.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if found {
		inv.out.Printf("deployment %d of %s to %s in %s, created by an earlier attempt of this run", id, inv.ctx.Commit, env, repo)
	} else {
		id, err = gh.CreateDeployment(ctx, Deployment{
			Ref: inv.ctx.Commit, Environment: env, Description: desc, Payload: json.RawMessage(payload),
		})
		if err != nil {
			return nil, err
		}
		inv.out.Printf("deployment %d of %s to %s in %s", id, inv.ctx.Commit, env, repo)
	}

	report := func(state string, run int64, desc string) error {
		inv.out.Printf("deployment %d: %s (%s)", id, state, desc)
		return gh.SetDeploymentStatus(ctx, id, DeploymentStatus{State: state, Description: desc, LogURL: inv.runURL(run)})
	}
	if err := report("queued", inv.ctx.RunID, "waiting for the other actions"); err != nil {
		return nil, err
	}
	followCtx, cancel := context.WithTimeout(ctx, r.follow)
	defer cancel()
	started := false
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		runs, err := inv.siblings(followCtx)
		if err != nil && followCtx.Err() == nil {
			return nil, err
		}
		p := summarize(runs)
		if (p.running != nil || p.failed != nil || p.done) && !started {
			// Posted even when the actions finished between two looks,
			// so that every deployment shows the same sequence.
			started = true
			run, desc := inv.ctx.RunID, "the actions are running"
			if p.running != nil {
				run, desc = p.running.ID, p.running.Action+" is running"
			}
			if err := report("in_progress", run, desc); err != nil {
				return nil, err
			}
		}
		switch {
		case p.failed != nil:
			return nil, report("failure", p.failed.ID, fmt.Sprintf("%s failed", p.failed.Action))
		case p.done:
			return nil, report("success", inv.ctx.RunID, fmt.Sprintf("%d actions succeeded", len(runs)))
		}
		select {
		case <-ticker.C:
		case <-followCtx.Done():
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, report("error", inv.ctx.RunID, fmt.Sprintf("the actions did not finish within %s", r.follow))
		}
	}
}

// progress is where an event's runs stand, for its deployment status.
type progress struct {
	running *store.Run // one that has started
	failed  *store.Run // one that has failed for good
	done    bool       // every run has finished and none failed
}

func summarize(runs []store.Run) progress {
	p := progress{done: true}
	for i := range runs {
		run := &runs[i]
		switch run.Status {
		case store.RunFailed:
			p.failed = run
		case store.RunSucceeded, store.RunSuperseded:
		default:
			p.done = false
			if run.Status == store.RunRunning || run.Attempts > 0 {
				p.running = run
			}
		}
	}
	return p
}
