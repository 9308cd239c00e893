package client_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// The tests and examples talk to a real hookd API on 127.0.0.1: the
// handlers and the change service over a SQLite store, serving a git
// repository on disk as acme/models, in which churn v1.0.0 is registered
// and two runs of a deploy action have failed. TestMain starts it and
// hands it to the examples as a CI job gets it: $HOOKD_SERVER and
// $HOOKD_TOKEN.

const (
	ciToken     = "ci-token-0123456789abcdef"
	readerToken = "reader-token-0123456789ab"
)

// fixture is the running server.
var fixture struct {
	url      string
	repoDir  string
	store    *store.Store
	failed   []int64 // the failed runs, oldest first
	eventIDs []int64
}

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("HOOKD_TEST_REQUIRE") != "" {
			fmt.Fprintln(os.Stderr, "client tests need git:", err)
			os.Exit(1)
		}
		fmt.Println("skipping the client tests: git is not installed")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "hookd-client-test-")
	if err != nil {
		panic(err)
	}
	stop, err := startHookd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting hookd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startHookd builds the repository and the store in dir and serves them.
func startHookd(dir string) (stop func(), err error) {
	// git, here and in the server's gitdir source, as a test identity
	// away from the user's configuration.
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = CI\n\temail = ci@example.com\n"), 0o644); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "TZ": "UTC"} {
		os.Setenv(k, v)
	}
	repoDir := filepath.Join(dir, "models")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", repoDir},
		{"-C", repoDir, "commit", "-q", "--allow-empty", "-m", "Add the churn model"},
		{"-C", repoDir, "tag", "-a", "-m", "Registering artifact churn version v1.0.0", "churn@v1.0.0"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(dir, "hookd.db"), store.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	src, err := gitdir.Open(ctx, repoDir)
	if err != nil {
		return nil, err
	}
	svc := &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != "acme/models" {
				return change.Repository{}, fmt.Errorf("%s: %w", name, change.ErrUnknownRepository)
			}
			return change.Repository{Source: src}, nil
		},
		Store: st,
	}
	h := handlers.New(handlers.Options{Store: st, Changes: svc, Logger: slog.New(slog.DiscardHandler)})
	h.SetRepositoryPaths(map[string]string{repoDir: "acme/models"})
	h.SetTokens(handlers.Tokens{
		sha256.Sum256([]byte(ciToken)): {Name: "ci", Scopes: []access.Scope{
			{Repositories: []string{"acme/*"}, Operations: []string{"read", "register", "assign", "retry"}, Stages: []string{"dev", "staging"}},
		}},
		sha256.Sum256([]byte(readerToken)): {Name: "reader", Scopes: []access.Scope{
			{Repositories: []string{"acme/models"}, Operations: []string{"read"}},
		}},
	})
	srv := httptest.NewServer(h) // 127.0.0.1
	fixture.url, fixture.repoDir, fixture.store = srv.URL, repoDir, st

	// Two deploys that failed: what a job looking for failed runs finds.
	for _, stage := range []string{"dev", "staging"} {
		e, _, err := st.RecordEvent(ctx, store.Event{
			Repository: "acme/models", Artifact: "churn", Type: store.EventAssignment, Version: "v1.0.0", Stage: stage,
			CommitSHA: strings.Repeat("c", 40), TagName: "churn#" + stage + "#1", TagObjectSHA: fmt.Sprintf("%040d", len(fixture.eventIDs)+1),
			Tagger:  store.Tagger{Name: "CI", Email: "ci@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			Message: "assign", ActiveAfter: []string{"v1.0.0"},
		})
		if err != nil {
			return nil, err
		}
		fixture.eventIDs = append(fixture.eventIDs, e.ID)
		runs, err := st.Converge(ctx, e.ID, []store.LaneChange{{Action: "redeploy", Stage: stage,
			After: []string{"v1.0.0"}, Trigger: store.EventAssignment, Version: "v1.0.0"}})
		if err != nil {
			return nil, err
		}
		if _, err := st.StartLane(ctx, runs[0].ID, time.Minute, store.LanePolicy{Supersede: true}); err != nil {
			return nil, err
		}
		if err := st.FinishRun(ctx, runs[0].ID, store.RunFailed, store.AttemptResult{Error: "exit status 1: the cluster did not answer"}); err != nil {
			return nil, err
		}
		fixture.failed = append(fixture.failed, runs[0].ID)
	}
	os.Setenv("HOOKD_SERVER", srv.URL)
	os.Setenv("HOOKD_TOKEN", ciToken)
	return func() { srv.Close(); st.Close() }, nil
}
