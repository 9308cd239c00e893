package source_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/hookd-dev/hookd/internal/gittest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/tagparse"
)

// gitRepo is a repository on disk, with git's configuration isolated from
// the user's.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *gitRepo {
	t.Helper()
	gittest.Isolate(t)
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits a change and returns its sha.
func (r *gitRepo) commit(msg string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "model.txt"), []byte(msg+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "model.txt")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// open returns a new Source over the repository: each writer in these tests
// opens its own, as separate hookd processes would.
func (r *gitRepo) open() *gitdir.Repo {
	r.t.Helper()
	repo, err := gitdir.Open(context.Background(), r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	return repo
}

// tagNames lists the repository's tags, sorted.
func (r *gitRepo) tagNames() []string {
	r.t.Helper()
	tags, err := r.open().Tags(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, tag := range tags {
		names = append(names, tag.Name)
	}
	slices.Sort(names)
	return names
}

// planOf turns a registry plan into Write's tags.
func planOf(p registry.Plan, err error) ([]source.NewTag, error) {
	if err != nil {
		return nil, err
	}
	return source.NewTags(p, registry.Person{}), nil
}

// runWriters runs n writers at once, each with its own Source, and returns
// what each created.
func runWriters(t *testing.T, r *gitRepo, n int, plan func(i int) source.Plan) [][]registry.Tag {
	t.Helper()
	created := make([][]registry.Tag, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		src := r.open()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			created[i], errs[i] = source.Write(context.Background(), src, plan(i))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	return created
}

// TestConcurrentWritersGetDistinctCounters runs 20 writers that each assign
// a version of one artifact to the same stage at once, as CI jobs promoting
// different builds to prod would. They all plan "nn#prod#1" at first; every
// one must still end with its own tag on its own version, without error,
// and the counters must be 1 to 20.
func TestConcurrentWritersGetDistinctCounters(t *testing.T) {
	r := newRepo(t)
	const writers = 20
	commits := make([]string, writers)
	for i := range writers {
		commits[i] = r.commit(fmt.Sprintf("model %d", i))
		r.git("tag", "-a", "-m", "register", fmt.Sprintf("nn@v1.0.%d", i), commits[i])
	}

	created := runWriters(t, r, writers, func(i int) source.Plan {
		return func(reg *registry.Registry) ([]source.NewTag, error) {
			return planOf(reg.PlanAssign(registry.AssignRequest{Artifact: "nn", Stage: "prod", Version: fmt.Sprintf("v1.0.%d", i)}))
		}
	})

	counters := map[int]string{}
	for i, tags := range created {
		if len(tags) != 1 {
			t.Fatalf("writer %d created %v, want one tag", i, tags)
		}
		tag := tags[0]
		p, err := tagparse.Parse(tag.Name)
		if err != nil || p.Action != tagparse.Assign || p.Stage != "prod" {
			t.Fatalf("writer %d created %q (%v), want an assignment of prod", i, tag.Name, err)
		}
		if tag.Commit != commits[i] {
			t.Errorf("writer %d: %s points at %s, want %s", i, tag.Name, tag.Commit, commits[i])
		}
		if other, dup := counters[p.Counter]; dup {
			t.Errorf("counter %d used by %s and %s", p.Counter, other, tag.Name)
		}
		counters[p.Counter] = tag.Name
	}
	for n := 1; n <= writers; n++ {
		if _, ok := counters[n]; !ok {
			t.Errorf("no tag has counter %d: %v", n, r.tagNames())
		}
	}
	if got := len(r.tagNames()); got != 2*writers {
		t.Errorf("repository has %d tags, want %d", got, 2*writers)
	}
}

// TestRacingRegistrationIsCreatedOnce runs writers that each assign a stage
// at the same unregistered commit. Each plan registers v0.0.1 first; the
// losers of that race must re-plan and assign the version the winner
// registered, not fail and not register it again.
func TestRacingRegistrationIsCreatedOnce(t *testing.T) {
	r := newRepo(t)
	commit := r.commit("model")
	const writers = 5
	created := runWriters(t, r, writers, func(i int) source.Plan {
		return func(reg *registry.Registry) ([]source.NewTag, error) {
			return planOf(reg.PlanAssign(registry.AssignRequest{Artifact: "nn", Stage: fmt.Sprintf("stage%d", i), Commit: commit}))
		}
	})
	registrations := 0
	for i, tags := range created {
		assigned := 0
		for _, tag := range tags {
			p, _ := tagparse.Parse(tag.Name)
			switch {
			case p.Action == tagparse.Register && p.Version == "v0.0.1":
				registrations++
			case p.Action == tagparse.Assign && p.Stage == fmt.Sprintf("stage%d", i):
				assigned++
			default:
				t.Errorf("writer %d created %s", i, tag.Name)
			}
			if tag.Commit != commit {
				t.Errorf("%s points at %s, want %s", tag.Name, tag.Commit, commit)
			}
		}
		if assigned != 1 {
			t.Errorf("writer %d created %d assignments, want 1", i, assigned)
		}
	}
	if registrations != 1 {
		t.Errorf("%d registrations created, want 1: %v", registrations, r.tagNames())
	}
}

// TestWriteStopsOnAPlanThatWantsAnExistingName checks that a plan naming a
// tag that exists whatever the counters say (a simple tag) ends with
// ErrTagExists instead of retrying to the attempt limit.
func TestWriteStopsOnAPlanThatWantsAnExistingName(t *testing.T) {
	r := newRepo(t)
	commit := r.commit("model")
	repo := r.open()
	plan := func(*registry.Registry) ([]source.NewTag, error) {
		return []source.NewTag{{Name: "nn#prod", Commit: commit, Message: "assign"}}, nil
	}
	if _, err := source.Write(context.Background(), repo, plan); err != nil {
		t.Fatal(err)
	}
	calls := 0
	counting := func(reg *registry.Registry) ([]source.NewTag, error) {
		calls++
		return plan(reg)
	}
	created, err := source.Write(context.Background(), repo, counting)
	if !errors.Is(err, source.ErrTagExists) {
		t.Fatalf("err = %v, want ErrTagExists", err)
	}
	if len(created) != 0 || calls != 2 {
		t.Errorf("created %v in %d plans, want nothing in 2", created, calls)
	}
}

// TestWriteReturnsThePlansRefusal checks that a refusal from the plan is
// returned as is and nothing is written.
func TestWriteReturnsThePlansRefusal(t *testing.T) {
	r := newRepo(t)
	r.commit("model")
	repo := r.open()
	created, err := source.Write(context.Background(), repo, func(reg *registry.Registry) ([]source.NewTag, error) {
		_, err := reg.PlanUnassign(registry.UnassignRequest{Artifact: "nn", Stage: "prod", Version: "v1.0.0"})
		return nil, err
	})
	var nf *registry.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want a registry.NotFoundError", err)
	}
	tags, _ := repo.Tags(context.Background())
	if len(created) != 0 || len(tags) != 0 {
		t.Errorf("created %v, repository has %v; want nothing", created, tags)
	}
}
