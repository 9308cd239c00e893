package registry_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

func Example() {
	at := func(day int) time.Time { return time.Date(2023, 2, day, 10, 0, 0, 0, time.UTC) }
	tagger := registry.Person{Name: "Ann", Email: "ann@example.com"}
	commit := "67d02365111e1a83c836a4d3ff1d7f859c5fb171"
	tags := []registry.Tag{
		{Name: "churn@v1.0.0", Annotated: true, Commit: commit, Tagger: tagger, Date: at(1), Message: "first\n"},
		{Name: "churn#prod#1", Annotated: true, Commit: commit, Tagger: tagger, Date: at(2), Message: "ship it\n"},
		{Name: "release-1", Commit: commit}, // lightweight and not GTO: ignored
	}
	commits := registry.CommitMap{commit: {Hash: commit, CommitDate: at(1).Add(-time.Hour), Message: "train\n"}}
	reg := registry.New(tags, registry.Options{Commits: commits.Get})

	overview, _ := reg.Show(registry.DefaultShowOptions())
	_ = json.NewEncoder(os.Stdout).Encode(overview)

	_, err := reg.PlanAssign(registry.AssignRequest{Artifact: "churn", Stage: "prod", Version: "v1.0.0"})
	fmt.Println(err)

	plan, _ := reg.PlanAssign(registry.AssignRequest{Artifact: "churn", Stage: "staging", Version: "v1.0.0"})
	fmt.Println(plan.Create[0].Name, plan.Create[0].Message)
	fmt.Println(plan.Output[0])
	// Output:
	// {"churn":{"version":"v1.0.0","stage":{"prod":"v1.0.0"},"registered":true,"active":true}}
	// Version 'v1.0.0' is already in stage 'prod'. Use the '--force' flag to create a new Git tag nevertheless.
	// churn#staging#2 Assigning stage staging to artifact churn version v1.0.0
	// Created git tag 'churn#staging#2' that assigns stage to version 'v1.0.0'
}
