// Package sourcetest is the contract every source.Source implementation
// passes: the same seeded repository, the same questions, the same answers,
// whether the tags live on disk or behind the GitHub API.
//
// An implementation's test hands Run a fixture: an empty repository the
// suite can push to with git, and the Source that reads it.
//
//	func TestContract(t *testing.T) {
//		sourcetest.Run(t, func(t *testing.T) sourcetest.Fixture {
//			remote := newEmptyRepo(t)
//			return sourcetest.Fixture{Source: open(remote), Remote: remote}
//		})
//	}
package sourcetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
)

// Fixture is an empty repository and the Source under test that reads it.
type Fixture struct {
	Source source.Source
	// Remote is where the suite pushes its branches and tags with the git
	// CLI: a path or URL, with any credentials in it. Its default branch
	// must be "main".
	Remote string
}

// Run seeds a fresh fixture with commits, branches and tags, then checks
// the Source against them. Subtests share the fixture and run in order: the
// read-only ones first, then those that create tags.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	f := newFixture(t)
	s := seed(t, f.Remote)
	c := &suite{Fixture: f, seeded: s}
	t.Run("Tags", c.testTags)
	t.Run("ReadFile", c.testReadFile)
	t.Run("Commit", c.testCommit)
	t.Run("CreateTag", c.testCreateTag)
	t.Run("CreateTagDefaultTagger", c.testCreateTagDefaultTagger)
	t.Run("CreateTagExisting", c.testCreateTagExisting)
	t.Run("CreateTagRace", c.testCreateTagRace)
}

type suite struct {
	Fixture
	seeded
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tz is a fixed zone with the given offset, as git records one.
func tz(hours, minutes int) *time.Location {
	return time.FixedZone("", (hours*60+minutes)*60)
}

var (
	ana  = registry.Person{Name: "Ana Author", Email: "ana@example.com"}
	cy   = registry.Person{Name: "Cy Committer", Email: "cy@example.com"}
	tess = registry.Person{Name: "Tess Tagger", Email: "tess@example.com"}
	zed  = registry.Person{Name: "Zed Writer", Email: "zed@example.org"}
)

// The seeded history: commit A on branch release/1, commit B on main.
var (
	commitA = registry.Commit{
		Author: ana, AuthorDate: time.Unix(1700000000, 0).In(tz(5, 30)),
		Committer: cy, CommitDate: time.Unix(1700000100, 0).In(tz(-8, 0)),
		Message: "Add churn model\n\nWith a body line.\n",
	}
	commitB = registry.Commit{
		Author: ana, AuthorDate: time.Unix(1700003600, 0).In(tz(2, 0)),
		Committer: ana, CommitDate: time.Unix(1700003700, 0).In(tz(2, 0)),
		Message: "Bump .gto\n",
	}
	gtoA      = "types: [model]\n"
	gtoB      = "types: [model]\nstages: [dev, prod]\n"
	artifacts = "churn-model:\n  type: model\n  path: models/churn.pkl\n"
	noNewline = "last line without newline"
)

// seededTag is a tag the suite pushes on commit "A" or "B", or on an
// earlier seeded tag's object.
type seededTag struct {
	registry.Tag
	on string
}

var seedTags = []seededTag{
	{registry.Tag{Name: "churn-model@v1.2.0", Annotated: true, Tagger: tess,
		Date: time.Unix(1700000200, 0).In(tz(5, 30)), Message: "Registering version v1.2.0\n"}, "A"},
	// Kept verbatim: indentation, blank lines and a '#' line survive.
	{registry.Tag{Name: "churn-model#prod#3", Annotated: true, Tagger: tess,
		Date: time.Unix(1700007200, 0).In(tz(-8, 0)), Message: "Assign prod\n\n  indented  \n\n# not a comment\n"}, "B"},
	{registry.Tag{Name: "churn-model#prod!#4", Annotated: true, Tagger: zed,
		Date: time.Unix(1700007300, 0).In(tz(0, 0)), Message: "Unassign prod\n"}, "B"},
	{registry.Tag{Name: "dir/sub=churn-model@v1.0.0-rc.1+build.5", Annotated: true, Tagger: zed,
		Date: time.Unix(1700000300, 0).In(tz(-3, -30)), Message: noNewline}, "A"},
	{registry.Tag{Name: "light"}, "A"},
	// A tag of a tag: its commit is the one at the end of the chain, its
	// target the inner tag object.
	{registry.Tag{Name: "nested", Annotated: true, Tagger: tess,
		Date: time.Unix(1700000400, 0).In(tz(1, 0)), Message: "Tag of a tag\n"}, "churn-model@v1.2.0"},
}

// seeded is what the suite pushed.
type seeded struct {
	a, b registry.Commit
	tags []registry.Tag // sorted by name, shas filled in
}

func (s seeded) tag(name string) registry.Tag {
	i := slices.IndexFunc(s.tags, func(t registry.Tag) bool { return t.Name == name })
	return s.tags[i]
}

// seed builds the history in a working repository and pushes it.
func seed(t *testing.T, remote string) seeded {
	t.Helper()
	w := newWorkRepo(t)
	w.write("models/artifacts.yaml", artifacts)
	w.write("models/no-newline.txt", noNewline)
	w.write(".gto", gtoA)
	a := w.commit(commitA)
	w.git("branch", "release/1")
	w.write(".gto", gtoB)
	b := w.commit(commitB)

	var s seeded
	s.a, s.b = commitA, commitB
	s.a.Hash, s.b.Hash = a, b
	commits := map[string]string{"A": a, "B": b}
	for _, st := range seedTags {
		tag := st.Tag
		target, ok := commits[st.on]
		if !ok {
			target = "refs/tags/" + st.on
		}
		if tag.Annotated {
			msgFile := filepath.Join(t.TempDir(), "msg")
			if err := os.WriteFile(msgFile, []byte(tag.Message), 0o644); err != nil {
				t.Fatal(err)
			}
			w.gitEnv(identEnv("COMMITTER", tag.Tagger, tag.Date),
				"tag", "--annotate", "--cleanup=verbatim", "--file", msgFile, tag.Name, target)
			tag.Object = w.git("rev-parse", "refs/tags/"+tag.Name)
			tag.Commit = w.git("rev-parse", "refs/tags/"+tag.Name+"^{commit}")
			// What GTO reads: the name the object records and the
			// object it names (for a tag of a tag, the inner tag).
			tag.ObjectName, tag.Target = tag.Name, w.git("rev-parse", target)
		} else {
			w.git("tag", tag.Name, target)
			tag.Commit = target
		}
		s.tags = append(s.tags, tag)
	}
	sortTags(s.tags)
	w.git("push", "--quiet", remote, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
	return s
}

func sortTags(tags []registry.Tag) {
	slices.SortFunc(tags, func(a, b registry.Tag) int { return strings.Compare(a.Name, b.Name) })
}

// workRepo is a scratch repository driven with the git CLI, cut off from
// the user's git configuration.
type workRepo struct {
	t   *testing.T
	dir string
	env []string
}

func newWorkRepo(t *testing.T) *workRepo {
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	w := &workRepo{t: t, dir: dir, env: env}
	w.git("init", "--quiet", "--initial-branch=main")
	return w
}

func (w *workRepo) write(path, content string) {
	p := filepath.Join(w.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workRepo) commit(c registry.Commit) string {
	env := append(identEnv("AUTHOR", c.Author, c.AuthorDate), identEnv("COMMITTER", c.Committer, c.CommitDate)...)
	w.git("add", "--all")
	msgFile := filepath.Join(w.t.TempDir(), "msg")
	if err := os.WriteFile(msgFile, []byte(c.Message), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.gitEnv(env, "commit", "--quiet", "--no-gpg-sign", "--cleanup=verbatim", "--file", msgFile)
	return w.git("rev-parse", "HEAD")
}

// identEnv sets git's AUTHOR or COMMITTER identity and date; git records
// the date's own offset.
func identEnv(role string, p registry.Person, when time.Time) []string {
	return []string{
		"GIT_" + role + "_NAME=" + p.Name,
		"GIT_" + role + "_EMAIL=" + p.Email,
		"GIT_" + role + "_DATE=" + fmt.Sprintf("%d %s", when.Unix(), when.Format("-0700")),
	}
}

func (w *workRepo) git(args ...string) string { return w.gitEnv(nil, args...) }

func (w *workRepo) gitEnv(env []string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = w.dir
	cmd.Env = append(slices.Clone(w.env), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// sameTime checks an instant and its UTC offset, which GTO prints.
func sameTime(got, want time.Time) bool {
	if !got.Equal(want) {
		return false
	}
	_, g := got.Zone()
	_, w := want.Zone()
	return g == w
}

func (c *suite) checkTag(t *testing.T, got, want registry.Tag) {
	t.Helper()
	dg, dw := got.Date, want.Date
	got.Date, want.Date = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("tag %s:\n got %+v\nwant %+v", want.Name, got, want)
	}
	if !sameTime(dg, dw) {
		t.Errorf("tag %s: date %v, want %v", want.Name, dg, dw)
	}
}

func (c *suite) checkTags(t *testing.T, got, want []registry.Tag) {
	t.Helper()
	sortTags(got)
	names := func(ts []registry.Tag) []string {
		var n []string
		for _, t := range ts {
			n = append(n, t.Name)
		}
		return n
	}
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("tags %q, want %q", names(got), names(want))
	}
	for i := range want {
		c.checkTag(t, got[i], want[i])
	}
}

func (c *suite) tagsNow(t *testing.T) []registry.Tag {
	t.Helper()
	tags, err := c.Source.Tags(ctx(t))
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	sortTags(tags)
	return tags
}

func (c *suite) testTags(t *testing.T) {
	c.checkTags(t, c.tagsNow(t), c.seeded.tags)
	// A second listing (served from caches, if the source has any) is the same.
	c.checkTags(t, c.tagsNow(t), c.seeded.tags)
}

func (c *suite) testReadFile(t *testing.T) {
	tests := []struct{ path, ref, want string }{
		{".gto", "", gtoB},
		{".gto", "main", gtoB},
		{".gto", "release/1", gtoA},
		{".gto", "churn-model@v1.2.0", gtoA},
		{".gto", "churn-model#prod#3", gtoB},
		{".gto", "dir/sub=churn-model@v1.0.0-rc.1+build.5", gtoA},
		{".gto", c.a.Hash, gtoA},
		{".gto", c.a.Hash[:10], gtoA},
		{"models/artifacts.yaml", "", artifacts},
		{"models/no-newline.txt", "", noNewline},
	}
	for _, tt := range tests {
		got, err := c.Source.ReadFile(ctx(t), tt.path, tt.ref)
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadFile(%q, %q) = %q, %v; want %q", tt.path, tt.ref, got, err, tt.want)
		}
	}
	missing := []struct{ path, ref string }{
		{"artifacts.yaml", ""},
		{"models/missing.yaml", "main"},
		{".gto", "no-such-branch"},
		{".gto", "0123456789abcdef0123456789abcdef01234567"},
	}
	for _, tt := range missing {
		if got, err := c.Source.ReadFile(ctx(t), tt.path, tt.ref); !errors.Is(err, source.ErrNotFound) {
			t.Errorf("ReadFile(%q, %q) = %q, %v; want ErrNotFound", tt.path, tt.ref, got, err)
		}
	}
}

func (c *suite) testCommit(t *testing.T) {
	tests := []struct {
		ref  string
		want registry.Commit
	}{
		{"main", c.b},
		{"release/1", c.a},
		{"churn-model@v1.2.0", c.a},
		{"churn-model#prod#3", c.b},
		{"churn-model#prod!#4", c.b},
		{"dir/sub=churn-model@v1.0.0-rc.1+build.5", c.a},
		{"light", c.a},
		{"nested", c.a},
		{c.b.Hash, c.b},
		{c.a.Hash[:10], c.a},
	}
	for _, tt := range tests {
		got, err := c.Source.Commit(ctx(t), tt.ref)
		if err != nil {
			t.Errorf("Commit(%q): %v", tt.ref, err)
			continue
		}
		ga, gc := got.AuthorDate, got.CommitDate
		want := tt.want
		got.AuthorDate, got.CommitDate = time.Time{}, time.Time{}
		want.AuthorDate, want.CommitDate = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("Commit(%q):\n got %+v\nwant %+v", tt.ref, got, want)
		}
		if !sameTime(ga, tt.want.AuthorDate) || !sameTime(gc, tt.want.CommitDate) {
			t.Errorf("Commit(%q): dates %v, %v; want %v, %v", tt.ref, ga, gc, tt.want.AuthorDate, tt.want.CommitDate)
		}
	}
	for _, ref := range []string{"no-such-ref", "churn-model#dev", "0123456789abcdef0123456789abcdef01234567"} {
		if got, err := c.Source.Commit(ctx(t), ref); !errors.Is(err, source.ErrNotFound) {
			t.Errorf("Commit(%q) = %+v, %v; want ErrNotFound", ref, got, err)
		}
	}
}

func (c *suite) testCreateTag(t *testing.T) {
	before := c.tagsNow(t)
	nt := source.NewTag{
		Name:   "dir/sub=churn-model#staging#5",
		Commit: c.a.Hash,
		// Kept verbatim, as gto's tags are: repeated blank lines,
		// trailing spaces and a line starting with '#'.
		Message: "Assigning staging\n\n\n  keep this  \n# and this\n",
		Tagger:  zed,
		Date:    time.Unix(1700010000, 0).In(tz(9, 0)),
	}
	got, err := c.Source.CreateTag(ctx(t), nt)
	if err != nil {
		t.Fatalf("CreateTag: %v", err)
	}
	if len(got.Object) != 40 || got.Object == c.a.Hash {
		t.Errorf("created tag object %q, want the sha of a new tag object", got.Object)
	}
	want := registry.Tag{Name: nt.Name, ObjectName: nt.Name, Annotated: true, Object: got.Object, Commit: c.a.Hash,
		Target: c.a.Hash, Tagger: nt.Tagger, Date: nt.Date, Message: nt.Message}
	c.checkTag(t, got, want)

	after := append(before, want)
	sortTags(after)
	c.checkTags(t, c.tagsNow(t), after)
	if cm, err := c.Source.Commit(ctx(t), nt.Name); err != nil || cm.Hash != c.a.Hash {
		t.Errorf("Commit(%q) = %s, %v; want %s", nt.Name, cm.Hash, err, c.a.Hash)
	}
}

func (c *suite) testCreateTagDefaultTagger(t *testing.T) {
	nt := source.NewTag{Name: "churn-model#dev#6", Commit: c.b.Hash, Message: "Assigning dev\n"}
	got, err := c.Source.CreateTag(ctx(t), nt)
	if err != nil {
		t.Fatalf("CreateTag: %v", err)
	}
	if got.Tagger.Name == "" || got.Date.IsZero() || got.Commit != c.b.Hash || !got.Annotated {
		t.Errorf("CreateTag without tagger = %+v; want the source's identity, a date, commit %s", got, c.b.Hash)
	}
	tags := c.tagsNow(t)
	i := slices.IndexFunc(tags, func(t registry.Tag) bool { return t.Name == nt.Name })
	if i < 0 {
		t.Fatalf("Tags has no %s", nt.Name)
	}
	c.checkTag(t, tags[i], got)
}

func (c *suite) testCreateTagExisting(t *testing.T) {
	before := c.tagsNow(t)
	for _, name := range []string{"churn-model#prod#3", "light"} {
		old := c.seeded.tag(name)
		_, err := c.Source.CreateTag(ctx(t), source.NewTag{
			Name: name, Commit: c.a.Hash, Message: "again\n", Tagger: zed, Date: time.Unix(1700020000, 0).UTC(),
		})
		if !errors.Is(err, source.ErrTagExists) {
			t.Errorf("CreateTag(%q) over %+v: %v; want ErrTagExists", name, old, err)
		}
	}
	c.checkTags(t, c.tagsNow(t), before)
}

// testCreateTagRace has several writers create one name at once: exactly
// one wins, the others get ErrTagExists, and the tag is the winner's. This
// is what lets writers pick GTO counters without a lock.
func (c *suite) testCreateTagRace(t *testing.T) {
	const writers = 5
	name := "churn-model#prod#7"
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []registry.Tag
		lost    int
		unknown []error
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag, err := c.Source.CreateTag(ctx(t), source.NewTag{
				Name: name, Commit: c.b.Hash, Message: fmt.Sprintf("writer %d\n", i),
				Tagger: zed, Date: time.Unix(1700030000+int64(i), 0).UTC(),
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, tag)
			case errors.Is(err, source.ErrTagExists):
				lost++
			default:
				unknown = append(unknown, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || lost != writers-1 || len(unknown) > 0 {
		t.Fatalf("%d writers of one tag: %d won, %d got ErrTagExists, errors %v; want 1 and %d", writers, len(won), lost, unknown, writers-1)
	}
	tags := c.tagsNow(t)
	i := slices.IndexFunc(tags, func(t registry.Tag) bool { return t.Name == name })
	if i < 0 {
		t.Fatalf("Tags has no %s", name)
	}
	c.checkTag(t, tags[i], won[0])
}
