package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/gittest"
)

// A deploy's annotations are what the artifacts index at the default
// branch says of the artifact: artifacts.yaml, or the file .gto names.
func TestAnnotationsFollowTheIndexGTOReads(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("artifacts.yaml", "churn:\n  type: model\n  path: models/churn.pkl\n  description: Churn, the stale index\n", "2024-01-01T10:00:00+00:00")
	rs, err := openRepositories(&config.Config{Repositories: []config.Repository{{Path: repo.Dir}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	annotations := func(artifact string) deploy.Annotations {
		t.Helper()
		a, err := rs.annotations(context.Background(), &deploy.Event{Repository: repo.Dir, Artifact: artifact})
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
		if _, err := rs.annotations(context.Background(), &deploy.Event{Repository: repo.Dir, Artifact: "churn"}); err == nil {
			t.Errorf(".gto %q gave no error", bad)
		}
	}
}
