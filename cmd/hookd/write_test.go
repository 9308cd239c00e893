package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// tagInfo is what a created tag holds.
type tagInfo struct {
	commit, message, tagger, kind string
}

func (r *repo) tag(name string) tagInfo {
	r.t.Helper()
	out := r.git("for-each-ref", "--format=%(objecttype)%00%(taggername) %(taggeremail)%00%(contents)", "refs/tags/"+name)
	f := strings.SplitN(out, "\x00", 3)
	if len(f) != 3 {
		r.t.Fatalf("tag %q not found (%q)", name, out)
	}
	return tagInfo{
		kind:    f[0],
		tagger:  f[1],
		message: strings.TrimSpace(f[2]),
		commit:  r.git("rev-parse", name+"^{commit}"),
	}
}

// checkTag checks a created tag: annotated, by the configured identity, at
// commit, with message.
func (r *repo) checkTag(name, commit, message string) {
	r.t.Helper()
	got := r.tag(name)
	want := tagInfo{kind: "tag", tagger: "Test Tagger <tagger@example.com>", commit: commit, message: message}
	if got != want {
		r.t.Errorf("tag %s = %+v, want %+v", name, got, want)
	}
}

func reminder(tag string) string {
	return "To push the changes upstream, run:\n    git push origin " + tag + "\n"
}

func TestRegister(t *testing.T) {
	r := newRepo(t)
	first := r.git("rev-parse", "HEAD")
	if got, want := r.ok("register", "nn"), "Created git tag 'nn@v0.0.1' that registers version\n"+reminder("nn@v0.0.1"); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	r.checkTag("nn@v0.0.1", first, "Registering artifact nn version v0.0.1")

	second := r.commit("second")
	r.ok("register", "nn", "--bump-minor")
	r.checkTag("nn@v0.1.0", second, "Registering artifact nn version v0.1.0")

	third := r.commit("third")
	r.ok("register", "nn", third[:8], "--version", "v2.0.0-rc.1", "-m", "release candidate")
	r.checkTag("nn@v2.0.0-rc.1", third, "release candidate")

	r.commit("fourth")
	r.ok("register", "nn", "--simple", "false", "--ver", "v3.0.0")
	r.checkTag("nn@v3.0.0#1", r.git("rev-parse", "HEAD"), "Registering artifact nn version v3.0.0")

	r.commit("fifth")
	r.ok("register", "nn", "--author", "CI Bot", "--author-email", "ci@example.com")
	if got := r.tag("nn@v3.0.1").tagger; got != "CI Bot <ci@example.com>" {
		t.Errorf("tagger %q, want the --author and --author-email given", got)
	}
}

func TestAssign(t *testing.T) {
	r := newRepo(t)
	head := r.git("rev-parse", "HEAD")
	// gto's own example: a registered version to a stage.
	r.ok("register", "awesome-model")
	got := r.ok("assign", "awesome-model", "--version", "v0.0.1", "--stage", "prod")
	if want := "Created git tag 'awesome-model#prod#1' that assigns stage to version 'v0.0.1'\n" + reminder("awesome-model#prod#1"); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	r.checkTag("awesome-model#prod#1", head, "Assigning stage prod to artifact awesome-model version v0.0.1")

	// At a commit with no version: register one first, named by --version.
	next := r.commit("next")
	got = r.ok("assign", "awesome-model", "HEAD", "--version", "v0.1.0", "--stage", "dev", "-m", "to dev")
	want := "Created git tag 'awesome-model@v0.1.0' that registers version\n" + reminder("awesome-model@v0.1.0") +
		"Created git tag 'awesome-model#dev#2' that assigns stage to version 'v0.1.0'\n" + reminder("awesome-model#dev#2")
	if got != want {
		t.Errorf("stdout\n%s\nwant\n%s", got, want)
	}
	r.checkTag("awesome-model@v0.1.0", next, "Registering artifact awesome-model version v0.1.0")
	r.checkTag("awesome-model#dev#2", next, "to dev")

	// Simple notation, the promote alias, --force for a stage already held.
	r.ok("promote", "awesome-model", "--version", "v0.1.0", "--stage", "staging", "--simple", "true")
	r.checkTag("awesome-model#staging", next, "Assigning stage staging to artifact awesome-model version v0.1.0")
	r.ok("assign", "awesome-model", "--version", "v0.1.0", "--stage", "dev", "--force")
	r.checkTag("awesome-model#dev#3", next, "Assigning stage dev to artifact awesome-model version v0.1.0")

	// --sr assigns the commit itself, without registering it.
	bare := r.commit("unregistered")
	r.ok("assign", "awesome-model", "--stage", "qa", "--sr")
	r.checkTag("awesome-model#qa#4", bare, "Assigning stage qa to artifact awesome-model version "+bare)
	if slices.Contains(r.tags(), "awesome-model@v0.1.1") {
		t.Error("--sr registered a version")
	}
}

func TestUnassignDeregisterDeprecate(t *testing.T) {
	r := newRepo(t)
	head := r.git("rev-parse", "HEAD")
	r.ok("register", "nn")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "prod")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "dev")

	got := r.ok("unassign", "nn", "v0.0.1", "--stage", "prod")
	if want := "Created git tag 'nn#prod!#3' that unassigns stage from version 'v0.0.1'\n" + reminder("nn#prod!#3"); got != want {
		t.Errorf("unassign: %q, want %q", got, want)
	}
	r.checkTag("nn#prod!#3", head, "Unassigning stage 'prod' to artifact 'nn' version 'v0.0.1'")
	// gto's spelling of the same, and --ref instead of VERSION.
	r.ok("deprecate", "nn", "v0.0.1", "dev")
	r.checkTag("nn#dev!#4", head, "Unassigning stage 'dev' to artifact 'nn' version 'v0.0.1'")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "dev")
	r.ok("unassign", "nn", "--ref", "HEAD", "--stage", "dev", "-m", "by ref")
	r.checkTag("nn#dev!#6", head, "by ref")

	r.commit("second")
	r.ok("register", "nn")
	got = r.ok("deregister", "nn", "v0.0.1")
	if want := "Created git tag 'nn@v0.0.1!' that deregisters version\n" + reminder("nn@v0.0.1!"); got != want {
		t.Errorf("deregister: %q, want %q", got, want)
	}
	r.checkTag("nn@v0.0.1!", head, "Deregistering artifact nn version v0.0.1")
	r.ok("deprecate", "nn", "v0.0.2", "--simple", "false")
	r.checkTag("nn@v0.0.2!#7", r.git("rev-parse", "HEAD"), "Deregistering artifact nn version v0.0.2")

	// Tags made in the same second are ordered by event priority, and
	// deprecation comes first: date it later so that it takes effect.
	dep := runHookd(t, r.dir, append(r.env, "GIT_COMMITTER_DATE=2030-01-01T00:00:00+0000"), "deprecate", "nn")
	if dep.code != 0 {
		t.Fatalf("deprecate: exit %d: %s", dep.code, dep.stderr)
	}
	if got, want := dep.stdout, "Created git tag 'nn@deprecated' that deprecates artifact\n"+reminder("nn@deprecated"); got != want {
		t.Errorf("deprecate: %q, want %q", got, want)
	}
	if info := r.tag("nn@deprecated"); info.message != "Deprecating artifact 'nn'" || info.kind != "tag" {
		t.Errorf("nn@deprecated = %+v", info)
	}
	if got := r.ok("show", "--json"); strings.TrimSpace(got) != "{}" {
		t.Errorf("show after deprecation: %s", got)
	}
}

func TestDeleteRemovesTheTags(t *testing.T) {
	r := newRepo(t)
	r.ok("register", "nn")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "prod")
	got := r.ok("unassign", "nn", "v0.0.1", "--stage", "prod", "--delete")
	if want := "Deleted git tag 'nn#prod#1'\nTo push the changes upstream, run:\n    git push --delete origin nn#prod#1\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if tags := r.tags(); !slices.Equal(tags, []string{"nn@v0.0.1"}) {
		t.Errorf("tags %v, want only nn@v0.0.1", tags)
	}
}

func TestPush(t *testing.T) {
	r := newRepo(t)
	remote := filepath.Join(t.TempDir(), "origin.git")
	r.git("init", "-q", "--bare", remote)
	r.git("remote", "add", "origin", remote)
	got := r.ok("register", "nn", "--push")
	if want := "Created git tag 'nn@v0.0.1' that registers version\n" +
		"Running `git push origin nn@v0.0.1`\nSuccessfully pushed git tag nn@v0.0.1 on remote.\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if out := r.git("ls-remote", "--tags", "origin"); !strings.Contains(out, "refs/tags/nn@v0.0.1") {
		t.Errorf("origin has no nn@v0.0.1: %q", out)
	}
}

// TestWriteErrorsWriteNothing checks that every refusal exits 1 with one
// line on stderr, prints nothing on stdout and creates no tag.
func TestWriteErrorsWriteNothing(t *testing.T) {
	r := newRepo(t)
	r.ok("register", "nn")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "prod")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "dev", "--simple", "true")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"unassign", "missing", "v0.0.1", "--stage", "prod"}, "Cannot find artifact 'missing'"},
		{[]string{"deprecate", "missing"}, "Cannot find artifact 'missing'"},
		{[]string{"assign", "nn", "--version", "v9.9.9", "--stage", "prod"}, "Version 'v9.9.9' is not registered"},
		{[]string{"unassign", "nn", "v0.0.1", "--stage", "qa"}, "Stage 'qa' is not assigned to a version 'v0.0.1'"},
		{[]string{"assign", "nn", "--version", "v0.0.1", "--stage", "prod"}, "Version 'v0.0.1' is already in stage 'prod'"},
		{[]string{"assign", "nn", "--version", "v0.0.1", "--stage", "bad stage!"}, "Invalid value 'bad stage!'"},
		{[]string{"register", "nn-"}, "Invalid value 'nn-'"},
		// gto resolves REF with scmrepo, whose words these are, after
		// checking the arguments: a bad name, stage or version, or two
		// version arguments, are refused first.
		{[]string{"register", "nn", "no-such-ref"}, "unknown Git revision 'no-such-ref'"},
		{[]string{"assign", "nn", "no-such-ref", "--stage", "prod"}, "unknown Git revision 'no-such-ref'"},
		{[]string{"unassign", "nn", "--ref", "no-such-ref", "--stage", "prod"}, "unknown Git revision 'no-such-ref'"},
		{[]string{"deregister", "nn", "--ref", "no-such-ref"}, "unknown Git revision 'no-such-ref'"},
		{[]string{"register", "nn-", "no-such-ref"}, "Invalid value 'nn-'"},
		{[]string{"register", "nn", "no-such-ref", "--bump-major", "--bump-minor"}, "Need to specify either version or single bump argument"},
		{[]string{"register", "nn", "--version", "v9.0.0", "--bump-patch"}, "Need to specify either version or single bump argument"},
		{[]string{"assign", "nn", "no-such-ref", "--stage", "bad stage!"}, "Invalid value 'bad stage!'"},
		{[]string{"assign", "nn", "no-such-ref", "--version", "1.0", "--stage", "prod"}, "Version '1.0' is not valid"},
		// deprecate resolves --ref when it creates the tag: RefNotFound.
		{[]string{"deprecate", "nn", "--ref", "no-such-ref"}, "Ref 'no-such-ref' was not found in the repository history"},
		{[]string{"deprecate", "missing", "--ref", "no-such-ref"}, "Cannot find artifact 'missing'"},
		// gto refuses more than one output format once it runs: exit 1.
		{[]string{"check-ref", "nn@v0.0.1", "--json", "--name"}, "Only one output formatting flags is allowed"},
		{[]string{"show", "--json", "--plain"}, "Only one output format allowed"},
		{[]string{"history", "--json", "--plain"}, "Only one output format allowed"},
		{[]string{"stages", "--allowed", "--used"}, `Either "allowed" or "used" can be set`},
		{[]string{"assign", "nn", "HEAD", "--version", "1.0.0", "--stage", "prod"}, "Version '1.0.0' is not valid"},
		{[]string{"register", "nn"}, "'nn' is already registered in this commit with version 'v0.0.1'"},
		{[]string{"assign", "nn", "--version", "v0.0.1", "--stage", "dev", "--simple", "true", "--force"}, "tag 'nn#dev' already exists"},
		{[]string{"deregister", "nn", "v0.0.7"}, "No versions found for 'nn'"},
		{[]string{"show", "-r", "/no/such/dir"}, "not a git repository"},
	} {
		before := r.tags()
		res := r.hookd(c.args...)
		if res.code != 1 || res.stdout != "" || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("hookd %s: exit %d, stdout %q, stderr %q; want exit 1, one line with %q",
				strings.Join(c.args, " "), res.code, res.stdout, res.stderr, c.want)
		}
		if after := r.tags(); !slices.Equal(before, after) {
			t.Errorf("hookd %s changed the tags: %v → %v", strings.Join(c.args, " "), before, after)
		}
	}
}

// TestStagesAllowedByConfig checks that .gto's stage list is enforced and
// reported.
func TestStagesAllowedByConfig(t *testing.T) {
	r := newRepo(t)
	if err := os.WriteFile(filepath.Join(r.dir, ".gto"), []byte("stages: [dev, prod]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("add", ".gto")
	r.git("commit", "-q", "-m", "allow dev and prod")
	r.ok("register", "nn")
	res := r.hookd("assign", "nn", "--version", "v0.0.1", "--stage", "qa")
	if res.code != 1 || !strings.Contains(res.stderr, "Allowed stages are") || slices.Contains(r.tags(), "nn#qa#1") {
		t.Errorf("assign to a stage .gto does not allow: exit %d, stderr %q, tags %v", res.code, res.stderr, r.tags())
	}
	if got := r.ok("stages", "--allowed", "--json"); strings.Join(strings.Fields(got), "") != `["dev","prod"]` {
		t.Errorf("stages --allowed: %s", got)
	}
}

// TestConcurrentAssignProcesses runs hookd assign in parallel processes
// that all want the next counter of one artifact: each must create its own
// tag, and the counters must be 1 to N.
func TestConcurrentAssignProcesses(t *testing.T) {
	r := newRepo(t)
	const n = 8
	for i := range n {
		r.commit(fmt.Sprintf("model %d", i))
		r.ok("register", "nn")
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runHookd(t, r.dir, r.env, "assign", "nn", "--version", fmt.Sprintf("v0.0.%d", i+1), "--stage", "prod")
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.code != 0 {
			t.Errorf("writer %d: exit %d: %s", i, res.code, res.stderr)
		}
	}
	for c := 1; c <= n; c++ {
		if !slices.Contains(r.tags(), fmt.Sprintf("nn#prod#%d", c)) {
			t.Errorf("no nn#prod#%d among %v", c, r.tags())
		}
	}
}
