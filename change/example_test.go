package change_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// A CI bot registers a model in a local repository and moves it to dev;
// prod is outside its scopes. Each write creates gto's tag and returns
// gto's line and the events hookd recorded for it.
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "hookd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "models")
	git := func(args ...string) {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			log.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "hookd")
	git("config", "user.email", "hookd@example.com")
	git("config", "tag.gpgSign", "false")
	git("commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", "first model")

	src, err := gitdir.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(tmp, "hookd.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	events := ingest.New(st, func(string) (source.Source, error) { return src, nil },
		ingest.WithLogger(slog.New(slog.DiscardHandler)))
	svc := &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != "acme/models" {
				return change.Repository{}, change.ErrUnknownRepository
			}
			return change.Repository{Source: src}, nil
		},
		Store:  st,
		Settle: events.Reconcile,
	}
	ci := change.Actor{Via: "api", Principal: access.Principal{Name: "ci-bot", Scopes: []access.Scope{{
		Repositories: []string{"acme/*"}, Operations: []string{"register", "assign"}, Stages: []string{"dev"},
	}}}}

	res, err := svc.Do(ctx, ci, "acme/models", access.Register, change.Request{Artifact: "churn"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output[0])

	res, err = svc.Do(ctx, ci, "acme/models", access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output[0])
	e := res.Events[0]
	fmt.Printf("%s of %s %s to %s: %v -> %v\n", e.Type, e.Artifact, e.Version, e.Stage, e.ActiveBefore, e.ActiveAfter)
	fmt.Println(e.Message)

	_, err = svc.Do(ctx, ci, "acme/models", access.Assign, change.Request{Artifact: "churn", Stage: "prod", Version: "v0.0.1"})
	fmt.Println(change.Status(err), err)
	// Output:
	// Created git tag 'churn@v0.0.1' that registers version
	// Created git tag 'churn#dev#1' that assigns stage to version 'v0.0.1'
	// assignment of churn v0.0.1 to dev: [] -> [v0.0.1]
	// Assigning stage dev to artifact churn version v0.0.1
	//
	// Requested-by: ci-bot via api
	// 403 ci-bot may not assign stage "prod" in acme/models
}
