package github

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-github/v60/github"
)

// maxDescription is GitHub's limit on deployment and status descriptions.
const maxDescription = 140

// Deployment is a deployment to create.
type Deployment struct {
	Ref         string // branch, tag or sha
	Environment string
	Task        string // "deploy" if empty
	Description string // truncated to 140 characters
	Payload     any    // JSON-encoded as the deployment's payload
}

// CreateDeployment creates a deployment and returns its id. Commit status
// checks are not required and the default branch is not merged in: a
// deployment here records what hookd deploys, it does not gate it.
func (r *Repo) CreateDeployment(ctx context.Context, d Deployment) (int64, error) {
	req := &github.DeploymentRequest{
		Ref:              &d.Ref,
		Environment:      &d.Environment,
		AutoMerge:        github.Bool(false),
		RequiredContexts: &[]string{},
		Payload:          d.Payload,
		Description:      github.String(truncate(d.Description)),
	}
	if d.Task != "" {
		req.Task = &d.Task
	}
	var dep *github.Deployment
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		dep, resp, err = r.gh.Repositories.CreateDeployment(ctx, r.owner, r.name, req)
		return resp, err
	})
	if err != nil {
		return 0, fmt.Errorf("create deployment of %s to %s: %w", d.Ref, d.Environment, err)
	}
	return dep.GetID(), nil
}

// FindDeployment returns the newest deployment of sha to environment whose
// payload has "idempotency_key": key, so that a deploy run repeated after
// a crash follows the deployment its first attempt created instead of
// creating another. Only the newest page (100) is searched: a repeated run
// comes soon after the first.
func (r *Repo) FindDeployment(ctx context.Context, sha, environment, key string) (int64, bool, error) {
	var deps []*github.Deployment
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		deps, resp, err = r.gh.Repositories.ListDeployments(ctx, r.owner, r.name, &github.DeploymentsListOptions{
			SHA: sha, Environment: environment, ListOptions: github.ListOptions{PerPage: 100},
		})
		return resp, err
	})
	if err != nil {
		return 0, false, fmt.Errorf("list deployments of %s to %s: %w", sha, environment, err)
	}
	for _, d := range deps {
		var p struct {
			Key string `json:"idempotency_key"`
		}
		if json.Unmarshal(d.Payload, &p) == nil && p.Key == key && key != "" {
			return d.GetID(), true, nil
		}
	}
	return 0, false, nil
}

// DeploymentStatus is a state change of a deployment.
type DeploymentStatus struct {
	// State is one of error, failure, inactive, in_progress, queued,
	// pending, success.
	State          string
	Description    string // truncated to 140 characters
	LogURL         string
	EnvironmentURL string
}

// SetDeploymentStatus adds a status to deployment id.
func (r *Repo) SetDeploymentStatus(ctx context.Context, id int64, s DeploymentStatus) error {
	req := &github.DeploymentStatusRequest{
		State:       &s.State,
		Description: github.String(truncate(s.Description)),
	}
	if s.LogURL != "" {
		req.LogURL = &s.LogURL
	}
	if s.EnvironmentURL != "" {
		req.EnvironmentURL = &s.EnvironmentURL
	}
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		_, resp, err = r.gh.Repositories.CreateDeploymentStatus(ctx, r.owner, r.name, id, req)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("deployment %d status %s: %w", id, s.State, err)
	}
	return nil
}

// DispatchWorkflow starts the workflow in .github/workflows/file on ref.
func (r *Repo) DispatchWorkflow(ctx context.Context, file, ref string, inputs map[string]any) error {
	ev := github.CreateWorkflowDispatchEventRequest{Ref: ref, Inputs: inputs}
	_, err := r.call(ctx, false, func() (*github.Response, error) {
		return r.gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, r.owner, r.name, escapePath(file), ev)
	})
	if err != nil {
		return fmt.Errorf("dispatch workflow %s on %s: %w", file, ref, err)
	}
	return nil
}

// DispatchRepository sends a repository_dispatch event; payload is
// JSON-encoded as its client_payload (an empty object when nil).
func (r *Repo) DispatchRepository(ctx context.Context, eventType string, payload any) error {
	opts := github.DispatchRequestOptions{EventType: eventType}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return fmt.Errorf("dispatch %s: payload: %w", eventType, err)
		}
		raw := json.RawMessage(b)
		opts.ClientPayload = &raw
	}
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		_, resp, err = r.gh.Repositories.Dispatch(ctx, r.owner, r.name, opts)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", eventType, err)
	}
	return nil
}

// truncate cuts s to GitHub's description limit, counted in characters.
func truncate(s string) string {
	n := 0
	for i := range s {
		if n == maxDescription {
			return s[:i]
		}
		n++
	}
	return s
}
