package chatops_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/chatops"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

const repoName = "acme/models"

// rig is a runner over a real repository holding churn-model v1.2.0 and a
// real SQLite store for the audit log.
type rig struct {
	repo   *gittest.Repo
	store  *store.Store
	runner *chatops.Runner
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := testContext(t)
	repo := gittest.New(t)
	c := repo.Commit("model.pkl", "weights", "2024-03-01T10:00:00Z")
	repo.Tag("churn-model@v1.2.0", c, "2024-03-01T10:00:00Z", "Registering artifact churn-model version v1.2.0")
	src, err := gitdir.Open(ctx, repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != repoName {
				return change.Repository{}, change.ErrUnknownRepository
			}
			return change.Repository{Source: src}, nil
		},
		Store: st,
	}
	return &rig{repo: repo, store: st, runner: &chatops.Runner{Changes: svc, Repository: repoName, Via: "test", Prefix: "/gto "}}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var (
	deployer = access.Principal{Name: "alice", Scopes: []access.Scope{{
		Repositories: []string{repoName}, Operations: []string{"*"}, Stages: []string{"dev", "staging"},
	}}}
	admin = access.Principal{Name: "root", Scopes: []access.Scope{{
		Repositories: []string{"*"}, Operations: []string{"*"}, Stages: []string{"*"},
	}}}
	outsider = access.Principal{Name: "mallory"}
)

func (r *rig) tags(t *testing.T) string {
	t.Helper()
	return r.repo.Git("tag", "--list")
}

func TestRunAssignReportsTheTagAndGTOsLine(t *testing.T) {
	r := newRig(t)
	reply := r.runner.Run(testContext(t), deployer, `assign churn-model v1.2.0 staging -m “looks good”`)
	if !reply.OK || !reply.Created || reply.Code != "" || len(reply.Tags) != 1 || reply.Tags[0] != "churn-model#staging#1" {
		t.Fatalf("reply %+v", reply)
	}
	want := "✅ `assign churn-model v1.2.0 staging` in acme/models, asked by alice:\n" +
		"Created git tag 'churn-model#staging#1' that assigns stage to version 'v1.2.0'"
	if reply.Text != want {
		t.Errorf("text\n%s\nwant\n%s", reply.Text, want)
	}
	msg := r.repo.Git("tag", "--list", "--format=%(contents)", "churn-model#staging#1")
	if !strings.Contains(msg, "looks good") || !strings.Contains(msg, "Requested-by: alice via test") {
		t.Errorf("tag message %q", msg)
	}
}

func TestRunFailuresSayWhatToDo(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		who        access.Principal
		text, code string
		contains   []string
	}{
		{deployer, "assign churn-model v1.2.0 prod", "forbidden",
			[]string{"alice may not assign stage \"prod\" in acme/models.", "ask whoever runs hookd"}},
		{deployer, "assign churn-model v9.9.9 dev", "not_found", []string{"`/gto show churn-model` lists what there is"}},
		{admin, "deregister churn-model v1.2.0 --repo acme/other", "not_found", []string{"--repo owner/name"}},
		{deployer, "register churn-model --version v1.2.0", "conflict",
			[]string{"`/gto show churn-model` shows where things stand", "--force"}},
		{admin, `assign churn-model v1.2.0 "pr od"`, "invalid", []string{"Invalid value 'pr od'", "Usage: `/gto assign NAME VERSION STAGE"}},
		{outsider, "show", "forbidden", []string{"mallory may not read in acme/models"}},
		{deployer, "assign churn-model v1.2.0", "usage", []string{"assign needs NAME VERSION STAGE", "Usage: `/gto assign NAME VERSION STAGE", "`/gto help`"}},
	}
	for _, tt := range tests {
		reply := r.runner.Run(testContext(t), tt.who, tt.text)
		if reply.OK || reply.Created || reply.Code != tt.code {
			t.Errorf("%s: reply %+v, want code %s", tt.text, reply, tt.code)
		}
		for _, s := range tt.contains {
			if !strings.Contains(reply.Text, s) {
				t.Errorf("%s: reply %q lacks %q", tt.text, reply.Text, s)
			}
		}
	}
	if got := r.tags(t); got != "churn-model@v1.2.0" {
		t.Errorf("refused commands created tags: %q", got)
	}
	audit, err := r.store.Audit(testContext(t), store.AuditFilter{Principal: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[len(audit)-1].Status != 403 || audit[len(audit)-1].Via != "test" {
		t.Errorf("the refused assignment is not audited first: %+v", audit)
	}
}

func TestRunWithoutRepository(t *testing.T) {
	r := newRig(t)
	r.runner.Repository = ""
	reply := r.runner.Run(testContext(t), deployer, "show")
	if reply.OK || reply.Code != "usage" || !strings.Contains(reply.Text, "Add --repo owner/name") {
		t.Errorf("reply %+v", reply)
	}
	if reply := r.runner.Run(testContext(t), deployer, "show --repo "+repoName); !reply.OK {
		t.Errorf("--repo: %+v", reply)
	}
}

func TestRunReadsAsTables(t *testing.T) {
	r := newRig(t)
	if reply := r.runner.Run(testContext(t), deployer, "assign churn-model v1.2.0 dev"); !reply.OK {
		t.Fatal(reply.Text)
	}
	show := r.runner.Run(testContext(t), deployer, "show")
	want := "Registry of acme/models:\n```\nname         latest    #dev\nchurn-model  v1.2.0    v1.2.0\n```"
	if !show.OK || show.Created || show.Text != want {
		t.Errorf("show:\n%s\nwant\n%s", show.Text, want)
	}
	versions := r.runner.Run(testContext(t), deployer, "show churn-model")
	if !versions.OK || !strings.Contains(versions.Text, "churn-model  v1.2.0     dev") {
		t.Errorf("show churn-model:\n%s", versions.Text)
	}
	history := r.runner.Run(testContext(t), deployer, "history churn-model")
	lines := strings.Split(history.Text, "\n")
	if !history.OK || len(lines) != 6 || !strings.HasPrefix(lines[2], "timestamp") ||
		!strings.Contains(lines[3], "assignment") || !strings.Contains(lines[4], "registration") {
		t.Errorf("history churn-model:\n%s", history.Text)
	}
	r.runner.MaxRows = 1
	history = r.runner.Run(testContext(t), deployer, "history churn-model")
	if !strings.HasSuffix(history.Text, "```\n… and 1 more; `hookd history churn-model` prints them all.") {
		t.Errorf("bounded history:\n%s", history.Text)
	}
	none := r.runner.Run(testContext(t), deployer, "history nothing")
	if !none.OK || none.Text != "No history of 'nothing' in acme/models." {
		t.Errorf("history of nothing: %+v", none)
	}
	missing := r.runner.Run(testContext(t), deployer, "show nothing")
	if missing.OK || missing.Code != "not_found" || !strings.Contains(missing.Text, "Cannot find artifact 'nothing'") {
		t.Errorf("show nothing: %+v", missing)
	}
}
