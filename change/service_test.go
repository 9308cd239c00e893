package change_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/tagparse"
)

// repoName is what the API calls the repository the tests write to.
const repoName = "acme/models"

var quiet = slog.New(slog.DiscardHandler)

// admin may do anything anywhere, forcing included.
var admin = access.Principal{Name: "alice", Scopes: []access.Scope{{
	Repositories: []string{"*"}, Operations: []string{"*"}, Stages: []string{"*"}, Force: true,
}}}

// rig is a change.Service over a real git repository, a real SQLite store
// and a real ingest.Processor, wired as the daemon wires them.
type rig struct {
	t     *testing.T
	ctx   context.Context
	repo  *gittest.Repo
	src   *gitdir.Repo
	store *store.Store
	proc  *ingest.Processor
	svc   *change.Service
	// promotion is the repository's promotion order.
	promotion []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, ctx: ctx, repo: gittest.New(t)}
	// gitdir.Open needs a repository; the first commit makes HEAD too.
	r.repo.Commit("README", "models\n", "2024-01-01T09:00:00+00:00")
	src, err := gitdir.Open(ctx, r.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	r.src = src
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.store = st
	r.proc = ingest.New(st, func(name string) (source.Source, error) {
		if name != repoName {
			return nil, fmt.Errorf("repository %s is not configured", name)
		}
		return src, nil
	}, ingest.WithLogger(quiet))
	r.svc = &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != repoName {
				return change.Repository{}, fmt.Errorf("%s: %w", name, change.ErrUnknownRepository)
			}
			return change.Repository{Source: src, Promotion: r.promotion}, nil
		},
		Store:  st,
		Settle: r.proc.Reconcile,
		Logger: quiet,
	}
	return r
}

// baseline lists the repository as the daemon does when it starts, so
// that the tags that exist now are history and only later ones are news.
func (r *rig) baseline() {
	r.t.Helper()
	if err := r.proc.Reconcile(r.ctx, repoName); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) do(p access.Principal, op access.Operation, req change.Request) (change.Result, error) {
	r.t.Helper()
	return r.svc.Do(r.ctx, change.Actor{Principal: p, Via: "api"}, repoName, op, req)
}

// tags lists the repository's tag names with the git CLI.
func (r *rig) tags() []string {
	r.t.Helper()
	out := r.repo.Git("for-each-ref", "--format=%(refname:strip=2)", "refs/tags")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// gitTag is an annotated tag as git stores it.
type gitTag struct {
	commit, message string
}

// tag reads a tag with the git CLI: the commit it points at and its
// message exactly as stored.
func (r *rig) tag(name string) gitTag {
	r.t.Helper()
	if typ := r.repo.Git("cat-file", "-t", "refs/tags/"+name); typ != "tag" {
		r.t.Fatalf("%s is a %s, not an annotated tag", name, typ)
	}
	cmd := exec.Command("git", "cat-file", "tag", "refs/tags/"+name)
	cmd.Dir = r.repo.Dir
	raw, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git cat-file tag %s: %v", name, err)
	}
	_, msg, _ := strings.Cut(string(raw), "\n\n")
	return gitTag{commit: r.repo.Git("rev-parse", "refs/tags/"+name+"^{commit}"), message: msg}
}

func (r *rig) audit() []store.AuditEntry {
	r.t.Helper()
	entries, err := r.store.Audit(r.ctx, store.AuditFilter{Repository: repoName})
	if err != nil {
		r.t.Fatal(err)
	}
	return entries
}

func (r *rig) lastAudit() store.AuditEntry {
	r.t.Helper()
	entries := r.audit()
	if len(entries) == 0 {
		r.t.Fatal("no audit entry")
	}
	return entries[0]
}

// nextSecond waits for the wall clock's next second. Git dates tags to the
// second and GTO orders events by those dates, so two writes that must be
// ordered (the newer assignment wins the stage) are made in two seconds.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 10*time.Millisecond).Sub(now))
}

// summary is an event in one line: type artifact version stage before->after.
func summary(e store.Event) string {
	return fmt.Sprintf("%s %s %s %s %v->%v", e.Type, e.Artifact, e.Version, e.Stage, e.ActiveBefore, e.ActiveAfter)
}

func summaries(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, summary(e))
	}
	return out
}

// step is one write and exactly what it must leave behind.
type step struct {
	name string
	op   access.Operation
	req  change.Request
	// tags are the new tags, in order, each with its commit, message and
	// gto's line.
	tags []wantTag
	// events are the recorded events, in summary form.
	events []string
}

type wantTag struct {
	name, commit, message, output string
}

// trailer is what each tag made for alice through the API ends with.
const trailer = "\n\nRequested-by: alice via api\n"

// Every operation creates the tag gto would: the same name and counter, at
// the same commit, with gto's default message (and who asked), printing
// gto's line; and the event it causes is recorded and returned at once.
func TestEachOperationCreatesTheTagGTOWould(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.bin", "one", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T11:00:00+00:00", "Registering artifact churn version v1.0.0")
	c2 := r.repo.Commit("model.bin", "two", "2024-01-03T10:00:00+00:00")
	c3 := r.repo.Commit("model.bin", "three", "2024-01-04T10:00:00+00:00")
	r.baseline()

	steps := []step{{
		name: "register a named version at a ref",
		op:   access.Register, req: change.Request{Artifact: "churn", Version: "v1.1.0", Ref: c2},
		tags: []wantTag{{"churn@v1.1.0", c2, "Registering artifact churn version v1.1.0",
			"Created git tag 'churn@v1.1.0' that registers version"}},
		events: []string{"registration churn v1.1.0  []->[]"},
	}, {
		name: "register the next minor version at HEAD",
		op:   access.Register, req: change.Request{Artifact: "churn", Bump: "minor"},
		tags: []wantTag{{"churn@v1.2.0", c3, "Registering artifact churn version v1.2.0",
			"Created git tag 'churn@v1.2.0' that registers version"}},
		events: []string{"registration churn v1.2.0  []->[]"},
	}, {
		name: "assign a stage by version",
		op:   access.Assign, req: change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0"},
		tags: []wantTag{{"churn#dev#1", c2, "Assigning stage dev to artifact churn version v1.1.0",
			"Created git tag 'churn#dev#1' that assigns stage to version 'v1.1.0'"}},
		events: []string{"assignment churn v1.1.0 dev []->[v1.1.0]"},
	}, {
		name: "assign a stage by ref (a branch)",
		op:   access.Assign, req: change.Request{Artifact: "churn", Stage: "dev", Ref: "main"},
		tags: []wantTag{{"churn#dev#2", c3, "Assigning stage dev to artifact churn version v1.2.0",
			"Created git tag 'churn#dev#2' that assigns stage to version 'v1.2.0'"}},
		events: []string{"assignment churn v1.2.0 dev [v1.1.0]->[v1.2.0]"},
	}, {
		name: "unassign",
		op:   access.Unassign, req: change.Request{Artifact: "churn", Stage: "dev", Version: "v1.2.0"},
		tags: []wantTag{{"churn#dev!#3", c3, "Unassigning stage 'dev' to artifact 'churn' version 'v1.2.0'",
			"Created git tag 'churn#dev!#3' that unassigns stage from version 'v1.2.0'"}},
		// v1.1.0 was never unassigned dev: it holds the stage again.
		events: []string{"unassignment churn v1.2.0 dev [v1.2.0]->[v1.1.0]"},
	}, {
		name: "deregister",
		op:   access.Deregister, req: change.Request{Artifact: "churn", Version: "v1.1.0"},
		tags: []wantTag{{"churn@v1.1.0!", c2, "Deregistering artifact churn version v1.1.0",
			"Created git tag 'churn@v1.1.0!' that deregisters version"}},
		events: []string{"deregistration churn v1.1.0  []->[]"},
	}, {
		name: "deprecate, at the commit of the artifact's newest event",
		op:   access.Deprecate, req: change.Request{Artifact: "churn"},
		tags: []wantTag{{"churn@deprecated", c2, "Deprecating artifact 'churn'",
			"Created git tag 'churn@deprecated' that deprecates artifact"}},
		events: []string{"deprecation churn   []->[]"},
	}}

	for _, s := range steps {
		nextSecond()
		r.check(s)
	}

	// The tags are GTO's: the registry read back from the repository has
	// the state the writes made.
	reg, err := r.svc.Registry(r.ctx, admin, repoName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PlanDeprecate(registry.DeprecateRequest{Artifact: "churn"}); err == nil ||
		err.Error() != "Artifact was deprecated already" {
		t.Errorf("after deprecate, gto's deprecate refuses with %v", err)
	}
}

// check makes the step's write and checks what it left behind.
func (r *rig) check(s step) {
	t := r.t
	t.Helper()
	before := r.tags()
	res, err := r.do(admin, s.op, s.req)
	if err != nil {
		t.Fatalf("%s: %v (status %d)", s.name, err, change.Status(err))
	}
	var names, output []string
	for _, w := range s.tags {
		names = append(names, w.name)
		output = append(output, w.output)
		got := r.tag(w.name)
		if got.commit != w.commit {
			t.Errorf("%s: %s points at %.7s, want %.7s", s.name, w.name, got.commit, w.commit)
		}
		if want := w.message + trailer; got.message != want {
			t.Errorf("%s: %s message\n got %q\nwant %q", s.name, w.name, got.message, want)
		}
	}
	if created := slices.DeleteFunc(r.tags(), func(n string) bool { return slices.Contains(before, n) }); !sameSet(created, names) {
		t.Errorf("%s: the repository gained tags %q, want exactly %q", s.name, created, names)
	}
	if !slices.Equal(res.Tags, names) {
		t.Errorf("%s: Result.Tags = %q, want %q", s.name, res.Tags, names)
	}
	if !slices.Equal(res.Output, output) {
		t.Errorf("%s: Result.Output\n got %q\nwant %q", s.name, res.Output, output)
	}
	if len(res.Events) != len(s.tags) {
		t.Errorf("%s: %d events for %d tags: %q", s.name, len(res.Events), len(s.tags), summaries(res.Events))
		return
	}
	for i, e := range res.Events {
		w := s.tags[i]
		if e.ID == 0 || e.Repository != repoName || e.TagName != w.name || e.CommitSHA != w.commit ||
			e.Message != w.message+strings.TrimRight(trailer, "\n") {
			t.Errorf("%s: event %+v does not match tag %s", s.name, e, w.name)
		}
	}
	if got := summaries(res.Events); !slices.Equal(got, s.events) {
		t.Errorf("%s: Result.Events\n got %q\nwant %q", s.name, got, s.events)
	}
}

// Assigning a stage to a commit no version is registered at registers one
// first, as gto does: the version named, or the next one.
func TestAssignByRefRegistersTheVersionFirst(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.bin", "one", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T11:00:00+00:00", "register")
	c2 := r.repo.Commit("model.bin", "two", "2024-01-03T10:00:00+00:00")
	c3 := r.repo.Commit("model.bin", "three", "2024-01-04T10:00:00+00:00")
	r.baseline()
	// gto creates the registration and the assignment within one second;
	// the assignment's event must name the version registered with it
	// (GTO orders events of one moment registration first).
	r.check(step{
		name: "naming the version",
		op:   access.Assign, req: change.Request{Artifact: "churn", Stage: "staging", Ref: c2[:10], NameVersion: "v2.0.0"},
		tags: []wantTag{
			{"churn@v2.0.0", c2, "Registering artifact churn version v2.0.0",
				"Created git tag 'churn@v2.0.0' that registers version"},
			{"churn#staging#1", c2, "Assigning stage staging to artifact churn version v2.0.0",
				"Created git tag 'churn#staging#1' that assigns stage to version 'v2.0.0'"},
		},
		events: []string{"registration churn v2.0.0  []->[]", "assignment churn v2.0.0 staging []->[v2.0.0]"},
	})
	nextSecond()
	r.check(step{
		name: "picking the next version",
		op:   access.Assign, req: change.Request{Artifact: "churn", Stage: "dev", Ref: "main"},
		tags: []wantTag{
			{"churn@v2.0.1", c3, "Registering artifact churn version v2.0.1",
				"Created git tag 'churn@v2.0.1' that registers version"},
			{"churn#dev#2", c3, "Assigning stage dev to artifact churn version v2.0.1",
				"Created git tag 'churn#dev#2' that assigns stage to version 'v2.0.1'"},
		},
		events: []string{"registration churn v2.0.1  []->[]", "assignment churn v2.0.1 dev []->[v2.0.1]"},
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// seeded is a rig whose repository has churn v1.0.0 at c1 in prod and
// v1.1.0 at c2, listed once as the daemon's start does.
func seeded(t *testing.T) (r *rig, c1, c2 string) {
	t.Helper()
	r = newRig(t)
	c1 = r.repo.Commit("model.bin", "one", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T11:00:00+00:00", "register")
	r.repo.Tag("churn#prod#1", c1, "2024-01-02T12:00:00+00:00", "promote")
	c2 = r.repo.Commit("model.bin", "two", "2024-01-03T10:00:00+00:00")
	r.repo.Tag("churn@v1.1.0", c2, "2024-01-03T11:00:00+00:00", "register")
	r.baseline()
	return r, c1, c2
}

// A refused write creates no tag, answers with the status its kind of
// refusal has, and is audited with that status and the error's words.
func TestRefusals(t *testing.T) {
	bob := access.Principal{Name: "bob", Scopes: []access.Scope{{
		Repositories: []string{repoName}, Operations: []string{"assign", "unassign"}, Stages: []string{"dev", "staging"},
	}}}
	cases := []struct {
		name      string
		principal access.Principal
		repo      string
		op        access.Operation
		req       change.Request
		status    int
		// is checks the error's kind; msg, when set, is its exact text.
		is  func(error) bool
		msg string
	}{{
		name: "a stage outside the principal's scope", principal: bob, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "prod", Version: "v1.1.0"},
		status: 403, is: isA[*access.DeniedError], msg: `bob may not assign stage "prod" in acme/models`,
	}, {
		name: "an operation outside the principal's scope", principal: bob, op: access.Deprecate,
		req:    change.Request{Artifact: "churn"},
		status: 403, is: isA[*access.DeniedError], msg: "bob may not deprecate in acme/models",
	}, {
		name: "a repository outside the principal's scope", principal: bob, repo: "acme/other", op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0"},
		status: 403, is: isA[*access.DeniedError],
	}, {
		name: "force by a principal not allowed to force", principal: bob, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0", Force: true},
		status: 403, is: isA[*access.DeniedError], msg: `bob may not assign stage "dev" with force in acme/models`,
	}, {
		name: "a version already in the stage", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "prod", Version: "v1.0.0"},
		status: 409, is: isA[*registry.RuleError],
		msg: "Version 'v1.0.0' is already in stage 'prod'. Use the '--force' flag to create a new Git tag nevertheless.",
	}, {
		name: "a version registered already", principal: admin, op: access.Register,
		req:    change.Request{Artifact: "churn", Version: "v1.0.0", Ref: "main~2"},
		status: 409, is: isA[*registry.RuleError], msg: "Version 'v1.0.0' already was registered.\n",
	}, {
		name: "an unknown version", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Version: "v9.9.9"},
		status: 404, is: isA[*registry.NotFoundError], msg: "Version 'v9.9.9' is not registered",
	}, {
		name: "assign without a stage", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Version: "v1.1.0"},
		status: 422, is: isA[*change.InputError], msg: "stage is required",
	}, {
		name: "both version and ref", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0", Ref: "main"},
		status: 422, is: isA[*change.InputError], msg: "give version or ref, one of them",
	}, {
		name: "neither version nor ref", principal: admin, op: access.Deregister,
		req:    change.Request{Artifact: "churn"},
		status: 422, is: isA[*change.InputError], msg: "give version or ref, one of them",
	}, {
		name: "a stage on register", principal: admin, op: access.Register,
		req:    change.Request{Artifact: "churn", Stage: "dev"},
		status: 422, is: isA[*change.InputError], msg: "stage does not apply to register",
	}, {
		name: "a bad bump", principal: admin, op: access.Register,
		req:    change.Request{Artifact: "churn", Bump: "huge"},
		status: 422, is: isA[*change.InputError], msg: "bump must be major, minor or patch",
	}, {
		name: "an invalid version", principal: admin, op: access.Register,
		req:    change.Request{Artifact: "churn", Version: "1.2", Ref: "main~2"},
		status: 422, is: isA[*registry.InputError], msg: "Supplied version '1.2' cannot be parsed",
	}, {
		name: "read is not a write", principal: admin, op: access.Read,
		req:    change.Request{Artifact: "churn"},
		status: 422, is: isA[*change.InputError], msg: "read is not a write",
	}, {
		name: "an unknown repository", principal: admin, repo: "acme/nowhere", op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0"},
		status: 404, is: func(err error) bool { return errors.Is(err, change.ErrUnknownRepository) },
	}, {
		// GTO's words for a ref assign resolves (scmrepo's RevError).
		name: "an unknown ref", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "dev", Ref: "no-such-branch"},
		status: 404, is: isA[*registry.NotFoundError], msg: "unknown Git revision 'no-such-branch'",
	}, {
		// GTO checks the stage's name before it resolves the ref.
		name: "an unknown ref and a malformed stage", principal: admin, op: access.Assign,
		req:    change.Request{Artifact: "churn", Stage: "qa-", Ref: "no-such-branch"},
		status: 422, is: isA[*registry.InputError],
		msg: "Invalid value 'qa-'. Only letters, numbers, '_', '-', '/' are allowed. Value must be of len >= 2 and must start and end with a letter or a number.",
	}, {
		// Deprecate resolves --ref only when it creates the tag: RefNotFound.
		name: "an unknown ref to deprecate at", principal: admin, op: access.Deprecate,
		req:    change.Request{Artifact: "churn", Ref: "no-such-branch"},
		status: 404, is: isA[*registry.NotFoundError], msg: "Ref 'no-such-branch' was not found in the repository history",
	}}
	r, _, _ := seeded(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo := cmp.Or(c.repo, repoName)
			before := r.tags()
			res, err := r.svc.Do(r.ctx, change.Actor{Principal: c.principal, Via: "slack"}, repo, c.op, c.req)
			if err == nil {
				t.Fatalf("allowed: %+v", res)
			}
			if got := change.Status(err); got != c.status {
				t.Errorf("status %d, want %d (%v)", got, c.status, err)
			}
			if !c.is(err) {
				t.Errorf("error %T %v is not of the expected kind", err, err)
			}
			if c.msg != "" && err.Error() != c.msg {
				t.Errorf("error\n got %q\nwant %q", err.Error(), c.msg)
			}
			if after := r.tags(); !slices.Equal(after, before) {
				t.Errorf("tags changed from %q to %q", before, after)
			}
			if len(res.Tags) != 0 || len(res.Events) != 0 {
				t.Errorf("result of a refusal: %+v", res)
			}
			entries, err2 := r.store.Audit(r.ctx, store.AuditFilter{Repository: repo, Page: store.Page{Limit: 1}})
			if err2 != nil || len(entries) != 1 {
				t.Fatalf("audit: %v %v", entries, err2)
			}
			e := entries[0]
			if e.Status != c.status || e.Error != err.Error() || e.Principal != c.principal.Name || e.Via != "slack" ||
				e.Operation != string(c.op) || e.Artifact != "churn" || len(e.Tags) != 0 {
				t.Errorf("audit entry %+v", e)
			}
		})
	}
}

func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// The promotion order [dev, staging, prod] keeps versions from skipping
// stages, unless a principal allowed to force says so.
func TestPromotionOrder(t *testing.T) {
	r, _, c2 := seeded(t)
	r.promotion = []string{"dev", "staging", "prod"}
	bob := access.Principal{Name: "bob", Scopes: []access.Scope{{
		Repositories: []string{"*"}, Operations: []string{"assign"}, Stages: []string{"*"},
	}}}
	assign := func(p access.Principal, stage, version, ref string, force bool) (change.Result, error) {
		t.Helper()
		return r.do(p, access.Assign, change.Request{Artifact: "churn", Stage: stage, Version: version, Ref: ref, Force: force})
	}
	mustRefuse := func(res change.Result, err error, status int) {
		t.Helper()
		if change.Status(err) != status {
			t.Fatalf("status %d (%v), want %d", change.Status(err), err, status)
		}
		if len(res.Tags) != 0 {
			t.Fatalf("refused, yet created %q", res.Tags)
		}
	}
	mustCreate := func(tag string) func(change.Result, error) {
		return func(res change.Result, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("refused (%d): %v", change.Status(err), err)
			}
			if !slices.Equal(res.Tags, []string{tag}) {
				t.Fatalf("created %q, want %s", res.Tags, tag)
			}
		}
	}
	before := r.tags()

	res, err := assign(bob, "prod", "v1.1.0", "", false)
	mustRefuse(res, err, 409)
	var pe *change.PromotionError
	if !errors.As(err, &pe) || pe.Version != "v1.1.0" || pe.Stage != "prod" || pe.Previous != "staging" {
		t.Fatalf("error %#v, want a PromotionError for v1.1.0 skipping staging", err)
	}
	if want := "v1.1.0 of 'churn' was never in stage 'staging', which comes before 'prod' (promotion order dev → staging → prod); " +
		"a principal allowed to force may skip it"; err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err.Error(), want)
	}
	if got := r.tags(); !slices.Equal(got, before) {
		t.Fatalf("a refused promotion created tags: %q", got)
	}
	if e := r.lastAudit(); e.Status != 409 || e.Error != err.Error() {
		t.Errorf("audit entry %+v", e)
	}

	// The first stage, and a stage outside the order, take any version.
	mustCreate("churn#dev#2")(assign(bob, "dev", "v1.1.0", "", false))
	mustCreate("churn#qa#3")(assign(bob, "qa", "v1.1.0", "", false))
	// staging needs dev first.
	res, err = assign(bob, "staging", "v1.0.0", "", false)
	mustRefuse(res, err, 409)
	if !errors.As(err, &pe) || pe.Previous != "dev" {
		t.Fatalf("error %v, want a PromotionError naming dev", err)
	}
	// Forcing past it takes a principal allowed to force.
	res, err = assign(bob, "staging", "v1.0.0", "", true)
	mustRefuse(res, err, 403)
	if !isA[*access.DeniedError](err) {
		t.Errorf("force by bob: %v, want a DeniedError", err)
	}
	mustCreate("churn#staging#4")(assign(admin, "staging", "v1.0.0", "", true))
	// In order, it goes through.
	mustCreate("churn#staging#5")(assign(bob, "staging", "v1.1.0", "", false))
	// By ref: the commit's version (v1.1.0, now in staging) may enter prod.
	mustCreate("churn#prod#6")(assign(bob, "prod", "", c2[:8], false))

	// A version registered by the assignment itself was in no stage: not
	// even its registration is created.
	c3 := r.repo.Commit("model.bin", "three", "2024-01-05T10:00:00+00:00")
	before = r.tags()
	res, err = assign(bob, "staging", "", c3, false)
	mustRefuse(res, err, 409)
	if !errors.As(err, &pe) || pe.Previous != "dev" {
		t.Fatalf("error %v, want a PromotionError naming dev", err)
	}
	if got := r.tags(); !slices.Equal(got, before) {
		t.Fatalf("a refused promotion by ref created tags: %q", got)
	}
	// Forced, it goes through with its registration.
	res, err = r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "staging", Ref: c3, NameVersion: "v2.0.0", Force: true})
	if err != nil || len(res.Tags) != 2 {
		t.Fatalf("forced assignment by ref: %+v, %v", res, err)
	}
}

// Concurrent writers to one stage of one artifact each get their tag: a
// writer that loses a name (its counter) to another plans again with the
// next counter.
func TestConcurrentAssignmentsAllSucceedWithDistinctCounters(t *testing.T) {
	r := newRig(t)
	const n = 20
	for i := range n {
		c := r.repo.Commit("model.bin", fmt.Sprint(i), fmt.Sprintf("2024-01-02T10:%02d:00+00:00", i))
		r.repo.Tag(fmt.Sprintf("churn@v1.0.%d", i), c, fmt.Sprintf("2024-01-02T11:%02d:00+00:00", i), "register")
	}
	r.baseline()
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
	defer cancel()
	results := make([]change.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = r.svc.Do(ctx, change.Actor{Principal: admin, Via: "api"}, repoName, access.Assign,
				change.Request{Artifact: "churn", Stage: "dev", Version: fmt.Sprintf("v1.0.%d", i)})
		})
	}
	wg.Wait()
	counters := map[int]string{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("writer %d: %v (status %d)", i, errs[i], change.Status(errs[i]))
			continue
		}
		res, version := results[i], fmt.Sprintf("v1.0.%d", i)
		if len(res.Tags) != 1 {
			t.Errorf("writer %d created %q", i, res.Tags)
			continue
		}
		name := res.Tags[0]
		parsed, err := tagparse.Parse(name)
		if err != nil || parsed.Stage != "dev" || parsed.Counter == 0 {
			t.Errorf("writer %d: tag %q (%v)", i, name, err)
			continue
		}
		if other, dup := counters[parsed.Counter]; dup {
			t.Errorf("counter %d used by %s and %s", parsed.Counter, other, name)
		}
		counters[parsed.Counter] = name
		if got := r.tag(name).commit; got != r.repo.Git("rev-parse", "churn@"+version+"^{commit}") {
			t.Errorf("writer %d: %s is not at %s's commit", i, name, version)
		}
		if want := fmt.Sprintf("Created git tag '%s' that assigns stage to version '%s'", name, version); !slices.Equal(res.Output, []string{want}) {
			t.Errorf("writer %d output %q, want %q", i, res.Output, want)
		}
		if len(res.Events) != 1 || res.Events[0].TagName != name || res.Events[0].Type != store.EventAssignment ||
			res.Events[0].Version != version || res.Events[0].Stage != "dev" {
			t.Errorf("writer %d events %q", i, summaries(res.Events))
		}
	}
	for c := 1; c <= n; c++ {
		if _, ok := counters[c]; !ok && !t.Failed() {
			t.Errorf("no writer got counter %d: %v", c, counters)
		}
	}
	if got := len(r.tags()); got != 2*n {
		t.Errorf("repository has %d tags, want %d", got, 2*n)
	}
	evs, err := r.store.Events(r.ctx, store.EventFilter{Repository: repoName, Page: store.Page{Limit: 100}})
	if err != nil || len(evs) != n {
		t.Errorf("store has %d events (%v), want %d", len(evs), err, n)
	}
}

// When the events cannot be recorded at once, the write still succeeds:
// the tags exist and the webhook or the reconciler records them later.
func TestSettleFailingKeepsTheTags(t *testing.T) {
	r, _, _ := seeded(t)
	r.svc.Settle = func(context.Context, string) error { return errors.New("the reconciler is down") }
	res, err := r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tags, []string{"churn#dev#2"}) || len(res.Events) != 0 {
		t.Fatalf("result %+v, want the tag and no events", res)
	}
	if !slices.Contains(r.tags(), "churn#dev#2") {
		t.Fatal("the tag was not created")
	}
	if e := r.lastAudit(); e.Status != 201 || e.Error != "" || !slices.Equal(e.Tags, res.Tags) {
		t.Errorf("audit entry %+v", e)
	}
	// The reconciler records the event later, exactly once.
	r.baseline()
	evs, err := r.store.Events(r.ctx, store.EventFilter{Repository: repoName})
	if err != nil || len(evs) != 1 || evs[0].TagName != "churn#dev#2" {
		t.Errorf("later events %q (%v)", summaries(evs), err)
	}
}

// A Settle that hangs is given up after SettleTimeout.
func TestSettleTimeoutBoundsTheWait(t *testing.T) {
	r, _, _ := seeded(t)
	r.svc.SettleTimeout = 50 * time.Millisecond
	r.svc.Settle = func(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
	start := time.Now()
	res, err := r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.1.0"})
	if err != nil || len(res.Tags) != 1 || len(res.Events) != 0 {
		t.Fatalf("result %+v, %v", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited %v for a hanging Settle", d)
	}
}

// The audit log tells who asked for what, how it was answered and which
// tags it made.
func TestAuditEntries(t *testing.T) {
	r, _, c2 := seeded(t)
	req := change.Request{Artifact: "churn", Stage: "staging", Ref: c2, Message: "ship it", Simple: change.Simple(registry.SimpleTrue)}
	res, err := r.svc.Do(r.ctx, change.Actor{Principal: admin, Via: "slack"}, repoName, access.Assign, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tags, []string{"churn#staging"}) {
		t.Fatalf("tags %q", res.Tags)
	}
	if got := r.tag("churn#staging").message; got != "ship it\n\nRequested-by: alice via slack\n" {
		t.Errorf("message %q", got)
	}
	ok := r.lastAudit()
	var body change.Request
	if err := json.Unmarshal([]byte(ok.Request), &body); err != nil || body != req {
		t.Errorf("audited request %s (%v), want %+v", ok.Request, err, req)
	}
	if ok.Principal != "alice" || ok.Via != "slack" || ok.Repository != repoName || ok.Operation != "assign" ||
		ok.Artifact != "churn" || ok.Stage != "staging" || ok.Status != 201 || ok.Error != "" ||
		!slices.Equal(ok.Tags, []string{"churn#staging"}) || ok.ID == 0 || ok.At.IsZero() {
		t.Errorf("success entry %+v", ok)
	}

	// The same again: GTO refuses a simple tag that exists.
	_, err = r.svc.Do(r.ctx, change.Actor{Principal: admin, Via: "slack"}, repoName, access.Assign,
		change.Request{Artifact: "churn", Stage: "staging", Version: "v1.0.0", Simple: change.Simple(registry.SimpleTrue)})
	if change.Status(err) != 409 {
		t.Fatalf("status %d (%v), want 409", change.Status(err), err)
	}
	failed := r.lastAudit()
	if failed.Status != 409 || failed.Error != "tag 'churn#staging' already exists" || len(failed.Tags) != 0 ||
		failed.Version != "v1.0.0" || failed.ID <= ok.ID {
		t.Errorf("failure entry %+v", failed)
	}
	if n := len(r.audit()); n != 2 {
		t.Errorf("%d audit entries, want 2", n)
	}
}

// A write to a repository hookd has not listed yet (hookd just started,
// or the repository was just configured) still records the events of its
// tags: they are news, not part of the history the first listing skips.
func TestWriteBeforeTheFirstListingRecordsItsEvents(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.bin", "one", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T11:00:00+00:00", "register")
	r.repo.Tag("churn#prod#1", c1, "2024-01-02T12:00:00+00:00", "promote")
	res, err := r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summaries(res.Events), []string{"assignment churn v1.0.0 dev []->[v1.0.0]"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// The tags that were there before are still history, not events.
	evs, err := r.store.Events(r.ctx, store.EventFilter{Repository: repoName})
	if err != nil || len(evs) != 1 {
		t.Errorf("store events %q (%v), want only the write's", summaries(evs), err)
	}
}

// When the repository cannot be listed before the first write, the write
// is refused rather than made with tags whose events would be lost.
func TestWriteRefusedWhenTheFirstListingFails(t *testing.T) {
	r := newRig(t)
	c1 := r.repo.Commit("model.bin", "one", "2024-01-02T10:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", c1, "2024-01-02T11:00:00+00:00", "register")
	r.svc.Settle = func(context.Context, string) error { return errors.New("the reconciler is down") }
	before := r.tags()
	res, err := r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Version: "v1.0.0"})
	if change.Status(err) != 502 || !strings.Contains(fmt.Sprint(err), "the reconciler is down") {
		t.Fatalf("result %+v, error %v (status %d), want 502", res, err, change.Status(err))
	}
	if got := r.tags(); !slices.Equal(got, before) {
		t.Errorf("tags changed from %q to %q", before, got)
	}
	if e := r.lastAudit(); e.Status != 502 || e.Error != err.Error() {
		t.Errorf("audit entry %+v", e)
	}
}

// An assignment to a commit no version is registered at registers one
// first, as gto does: that registration is a write of its own, which
// only a principal allowed to register may cause. Assigning a registered
// version, or skipping the registration, takes assign alone.
func TestAssignThatRegistersNeedsRegister(t *testing.T) {
	r, _, c2 := seeded(t)
	c3 := r.repo.Commit("model.bin", "three", "2024-01-05T10:00:00+00:00")
	dev := access.Principal{Name: "dev", Scopes: []access.Scope{{
		Repositories: []string{repoName}, Operations: []string{"assign"}, Stages: []string{"dev"},
	}}}
	before := r.tags()
	res, err := r.do(dev, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: c3, NameVersion: "v2.0.0"})
	if change.Status(err) != 403 || !isA[*access.DeniedError](err) {
		t.Fatalf("assign registering a version without register: %+v, %v; want 403", res, err)
	}
	if !strings.Contains(err.Error(), "dev may not register in acme/models") || !strings.Contains(err.Error(), "skip_registration") {
		t.Errorf("error %q does not say what was refused and what to do", err)
	}
	if got := r.tags(); !slices.Equal(got, before) {
		t.Fatalf("a refused assignment created tags: %q → %q", before, got)
	}
	if e := r.lastAudit(); e.Status != 403 || e.Principal != "dev" {
		t.Errorf("audit entry %+v", e)
	}
	// Assign alone suffices for a registered version, by version or by ref.
	if res, err := r.do(dev, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: c2}); err != nil || len(res.Tags) != 1 {
		t.Errorf("assign by the ref of a registered version: %+v, %v", res, err)
	}
	// And for an assignment that skips the registration.
	if res, err := r.do(dev, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: c3, SkipRegistration: true}); err != nil || len(res.Tags) != 1 {
		t.Errorf("assign skipping the registration: %+v, %v", res, err)
	}
	// A principal allowed to register gets both tags.
	if res, err := r.do(admin, access.Assign, change.Request{Artifact: "churn", Stage: "dev", Ref: c3, NameVersion: "v2.0.0", Force: true}); err != nil || len(res.Tags) != 2 {
		t.Errorf("assign registering a version by admin: %+v, %v", res, err)
	}
}
