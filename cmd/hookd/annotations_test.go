package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/internal/gittest"
)

// A deploy's annotations are what the artifacts index at the default
// branch says of the artifact: artifacts.yaml, or the file .gto names.
func TestAnnotationsFollowTheIndexGTOReads(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("artifacts.yaml", "churn:\n  type: model\n  path: models/churn.pkl\n  description: Churn, the stale index\n", "2024-01-01T10:00:00+00:00")
	rs, err := openRepositories(&config.Config{Repositories: []config.Repository{{Path: repo.Dir, As: "research/models"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	annotations := func(artifact string) deploy.Annotations {
		t.Helper()
		a, err := rs.annotations(context.Background(), &deploy.Event{Repository: "research/models", Artifact: artifact})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := annotations("churn"); a.Type != "model" || a.Path != "models/churn.pkl" || a.Description != "Churn, the stale index" {
		t.Errorf("from artifacts.yaml: %+v", a)
	}
	if a := annotations("other"); a.Type != "" || a.Path != "" || a.Description != "" || a.Labels != nil {
		t.Errorf("an artifact the index does not list: %+v", a)
	}

	// .gto moves the index (GTO's key is INDEX, in capitals):
	// artifacts.yaml, still there, no longer counts.
	repo.Commit("registry.yaml", "churn:\n  type: model\n  path: s3://models/churn\n  description: Churn\n  labels: [tabular]\n", "2024-01-02T10:00:00+00:00")
	repo.Commit(".gto", "INDEX: registry.yaml\n", "2024-01-03T10:00:00+00:00")
	if a := annotations("churn"); a.Path != "s3://models/churn" || a.Description != "Churn" || len(a.Labels) != 1 {
		t.Errorf("from the index .gto names: %+v", a)
	}

	// An index .gto names that does not exist: no annotations, no error.
	repo.Commit(".gto", "INDEX: missing.yaml\n", "2024-01-04T10:00:00+00:00")
	if a := annotations("churn"); a.Path != "" {
		t.Errorf("with a missing index: %+v", a)
	}
	// A malformed .gto is an error the run reports, not silence: a
	// small-letter "index" is one, as GTO's keys are case-sensitive.
	for i, bad := range []string{"stages: [dev\n", "index: registry.yaml\n"} {
		repo.Commit(".gto", bad, fmt.Sprintf("2024-01-%02dT10:00:00+00:00", 5+i))
		if _, err := rs.annotations(context.Background(), &deploy.Event{Repository: "research/models", Artifact: "churn"}); err == nil {
			t.Errorf(".gto %q gave no error", bad)
		}
	}
}

// The client deploy's github_* actions get for a configured GitHub
// repository carries every field of a deployment and its status to GitHub.
func TestDeployActionsReachGitHubThroughTheConfiguredClient(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	commit := gh.Commit(t, "main", map[string]string{"model.txt": "v1"}, "first")
	rs, err := openRepositories(&config.Config{Repositories: []config.Repository{
		{GitHub: "acme/models", Token: config.Secret(gh.Token()), APIURL: gh.APIURL()},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rs.gitHub("acme/models")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := c.CreateDeployment(ctx, deploy.Deployment{Ref: commit, Environment: "prod", Task: "deploy:model",
		Description: "churn v1.0.0 to prod", Payload: map[string]string{"idempotency_key": "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeploymentStatus(ctx, id, deploy.DeploymentStatus{State: "success", Description: "deployed",
		LogURL: "https://hookd.example/api/v1/runs/1", EnvironmentURL: "https://prod.example"}); err != nil {
		t.Fatal(err)
	}
	found, ok, err := c.FindDeployment(ctx, commit, "prod", "k1")
	if err != nil || !ok || found != id {
		t.Errorf("FindDeployment = %d, %v, %v; want %d", found, ok, err, id)
	}
	deps := gh.Deployments()
	if len(deps) != 1 || len(deps[0].Statuses) != 1 {
		t.Fatalf("deployments %+v", deps)
	}
	d, st := deps[0], deps[0].Statuses[0]
	if d.SHA != commit || d.Environment != "prod" || d.Task != "deploy:model" || d.Description != "churn v1.0.0 to prod" ||
		string(d.Payload) != `{"idempotency_key":"k1"}` {
		t.Errorf("deployment %+v", d)
	}
	if st.State != "success" || st.Description != "deployed" || st.LogURL != "https://hookd.example/api/v1/runs/1" || st.EnvironmentURL != "https://prod.example" {
		t.Errorf("status %+v", st)
	}
}
