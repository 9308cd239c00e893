package gitdir_test

import (
	"context"
	"errors"
	"github.com/hookd-dev/hookd/internal/gittest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
)

func run(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository with one commit (a file model.txt) and
// returns it with the commit's sha.
func newRepo(t *testing.T) (string, string) {
	t.Helper()
	gittest.Isolate(t)
	dir := filepath.Join(t.TempDir(), "repo")
	run(t, ".", nil, "init", "-q", "-b", "main", dir)
	run(t, dir, nil, "config", "user.name", "Config User")
	run(t, dir, nil, "config", "user.email", "config@example.com")
	run(t, dir, nil, "commit", "-q", "--allow-empty", "-m", "empty")
	date := []string{"GIT_AUTHOR_DATE=2023-01-01T10:00:00+0200", "GIT_COMMITTER_DATE=2023-01-02T10:00:00-0500"}
	cmd := exec.Command("bash", "-c", "echo one > model.txt && git add model.txt")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	run(t, dir, date, "commit", "-q", "-m", "first model\n\nwith a body")
	return dir, run(t, dir, nil, "rev-parse", "HEAD")
}

func open(t *testing.T, dir string) *gitdir.Repo {
	t.Helper()
	r, err := gitdir.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenRejectsNonRepository(t *testing.T) {
	gittest.Isolate(t)
	dir := t.TempDir()
	_, err := gitdir.Open(context.Background(), dir)
	if err == nil || err.Error() != dir+": not a git repository" {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
}

func TestTagsReadsEveryField(t *testing.T) {
	dir, head := newRepo(t)
	ctx := context.Background()
	msg := "Registering m v1.0.0\n\nbody line with \x1e and %00 and\ttabs\n"
	run(t, dir, []string{"GIT_COMMITTER_NAME=Tag Ger", "GIT_COMMITTER_EMAIL=tg@example.com", "GIT_COMMITTER_DATE=2023-02-09T10:00:00-0500"},
		"tag", "-a", "-m", msg, "m@v1.0.0", head)
	run(t, dir, nil, "tag", "lw#prod", head)
	tags, err := open(t, dir).Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 {
		t.Fatalf("%d tags: %+v", len(tags), tags)
	}
	lw, an := tags[0], tags[1]
	if lw.Name != "lw#prod" || lw.Annotated || lw.Commit != head || lw.Message != "" || lw.Object != "" {
		t.Errorf("lightweight tag read as %+v", lw)
	}
	if an.Name != "m@v1.0.0" || !an.Annotated || an.Commit != head || len(an.Object) != 40 || an.Object == head {
		t.Errorf("annotated tag read as %+v", an)
	}
	if an.Tagger != (registry.Person{Name: "Tag Ger", Email: "tg@example.com"}) {
		t.Errorf("tagger %+v", an.Tagger)
	}
	if got := registry.FormatTime(an.Date); got != "2023-02-09T10:00:00-05:00" {
		t.Errorf("date %s, want the tagger's offset kept", got)
	}
	if an.Message != msg {
		t.Errorf("message %q, want %q", an.Message, msg)
	}
}

// Tags reads every annotated tag from its object, as GTO (scmrepo over
// dulwich) does: the name the object records, the object it names, the
// tagger split by scmrepo's rule, the message byte for byte (the registry
// cuts it at a signature), and what GTO would crash on.
func TestTagsReadTagObjectsAsGTO(t *testing.T) {
	repo := gittest.New(t)
	c := repo.Commit("model.txt", "one\n", "2023-01-01T10:00:00+00:00")
	tree := repo.Git("rev-parse", c+"^{tree}")
	head := func(name, tagger string) string {
		h := "object " + c + "\ntype commit\n"
		if name != "" {
			h += "tag " + name + "\n"
		}
		if tagger != "" {
			h += "tagger " + tagger + "\n"
		}
		return h
	}
	inner := repo.Tag("m@v1.0.0", c, "2023-02-01T10:00:00+00:00", "register")
	// git tag NEW OLD: NEW points to OLD's object, named OLD.
	repo.Git("tag", "copy@v9.9.9", "m@v1.0.0")
	// A tag of a tag names the inner tag object.
	repo.Tag("m#prod", "m@v1.0.0", "2023-02-02T10:00:00+00:00", "outer")
	repo.Tag("m@v3.0.0", tree, "2023-02-03T10:00:00+00:00", "of a tree")
	signed := "Registering m v2.0.0\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n"
	repo.RawTag("m@v2.0.0", head("m@v2.0.0", "A <b> <c@d> 1700000000 +0530"), signed)
	repo.RawTag("m#dev", head("m#dev", ""), "no tagger\n")
	repo.RawTag("m#qa", head("m#qa", "<x@y> 1700000000 +0000"), "no name\n")
	repo.RawTag("m#staging", head("m#staging", "S <s@t> 1700000000 +0000"), "caf\xe9\n")

	tags, err := open(t, repo.Dir).Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tester := registry.Person{Name: "Test Tagger", Email: "tagger@example.com"} // gittest's identity
	by := map[string]registry.Tag{}
	for _, tg := range tags {
		by[tg.Name] = tg
	}
	for _, c := range []struct {
		ref, objectName, target, commit string
		tagger                          registry.Person
		date, message, flaw             string
	}{
		{"m@v1.0.0", "m@v1.0.0", c, c, tester, "2023-02-01T10:00:00+00:00", "register\n", ""},
		{"copy@v9.9.9", "m@v1.0.0", c, c, tester, "2023-02-01T10:00:00+00:00", "register\n", ""},
		{"m#prod", "m#prod", inner, c, tester, "2023-02-02T10:00:00+00:00", "outer\n", ""},
		{"m@v3.0.0", "m@v3.0.0", tree, "", tester, "2023-02-03T10:00:00+00:00", "of a tree\n", ""},
		{"m@v2.0.0", "m@v2.0.0", c, c, registry.Person{Name: "A <b>", Email: "c@d"}, "2023-11-15T03:43:20+05:30", signed, ""},
		{"m#dev", "m#dev", c, c, registry.Person{}, "", "no tagger\n", "it has no tagger"},
		{"m#qa", "m#qa", c, c, registry.Person{Email: "x@y"}, "2023-11-14T22:13:20+00:00", "no name\n", "scmrepo cannot split its tagger"},
		{"m#staging", "m#staging", c, c, registry.Person{Name: "S", Email: "s@t"}, "2023-11-14T22:13:20+00:00", "caf\xe9\n", "its message is not UTF-8"},
	} {
		tg, ok := by[c.ref]
		if !ok {
			t.Errorf("no tag %s", c.ref)
			continue
		}
		var date string
		if !tg.Date.IsZero() {
			date = registry.FormatTime(tg.Date)
		}
		if !tg.Annotated || tg.ObjectName != c.objectName || tg.Target != c.target || tg.Commit != c.commit ||
			tg.Tagger != c.tagger || date != c.date || tg.Message != c.message || !strings.Contains(tg.Flaw, c.flaw) || (c.flaw == "") != (tg.Flaw == "") {
			t.Errorf("%s read as %+v (date %s)\nwant %+v", c.ref, tg, date, c)
		}
	}
}

// GTO reads .gto from the top of the working tree (a bare repository's
// git directory), whatever HEAD has: gto's read_registry_config joins the
// repository's root_dir and ".gto".
func TestGTOConfigIsReadWhereGTOReadsIt(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit(".gto", "stages: [dev]\n", "2023-01-01T10:00:00+00:00")
	ctx := context.Background()
	read := func(dir string) string {
		t.Helper()
		data, err := open(t, dir).GTOConfig(ctx)
		if errors.Is(err, source.ErrNotFound) {
			return "<none>"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	sub := filepath.Join(repo.Dir, "models")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(t.TempDir(), "bare.git")
	run(t, ".", nil, "clone", "-q", "--bare", repo.Dir, bare)
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo.Dir, ".gto"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		setup func()
		dir   string
		want  string
	}{
		{"as committed", func() {}, repo.Dir, "stages: [dev]\n"},
		{"from a subdirectory", func() {}, sub, "stages: [dev]\n"},
		{"an edit not committed", func() { write("stages: [dev, prod]\n") }, repo.Dir, "stages: [dev, prod]\n"},
		{"deleted since the commit", func() { os.Remove(filepath.Join(repo.Dir, ".gto")) }, repo.Dir, "<none>"},
		{"a directory of that name", func() { os.Mkdir(filepath.Join(repo.Dir, ".gto"), 0o755) }, repo.Dir, "<none>"},
		// A bare repository has no working tree: its git directory holds
		// no .gto unless one is put there.
		{"a bare repository", func() {}, bare, "<none>"},
		{"in a bare repository's git directory", func() { os.WriteFile(filepath.Join(bare, ".gto"), []byte("stages: [qa]\n"), 0o644) }, bare, "stages: [qa]\n"},
	} {
		c.setup()
		if got := read(c.dir); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBareRepositoryReadsTheSame(t *testing.T) {
	dir, head := newRepo(t)
	run(t, dir, nil, "tag", "-a", "-m", "x", "m@v1.0.0", head)
	bare := filepath.Join(t.TempDir(), "bare.git")
	run(t, ".", nil, "clone", "-q", "--bare", dir, bare)
	ctx := context.Background()
	want, err := open(t, dir).Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := open(t, bare).Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b registry.Tag) bool { return a.Name == b.Name && a.Commit == b.Commit && a.Date.Equal(b.Date) }) {
		t.Errorf("bare %+v\nworktree %+v", got, want)
	}
	data, err := open(t, bare).ReadFile(ctx, "model.txt", "")
	if err != nil || string(data) != "one\n" {
		t.Errorf("ReadFile in bare repository = %q, %v", data, err)
	}
}

func TestReadFile(t *testing.T) {
	dir, head := newRepo(t)
	ctx := context.Background()
	r := open(t, dir)
	for _, ref := range []string{"", "HEAD", "main", head, head[:8]} {
		data, err := r.ReadFile(ctx, "model.txt", ref)
		if err != nil || string(data) != "one\n" {
			t.Errorf("ReadFile(model.txt, %q) = %q, %v", ref, data, err)
		}
	}
	if _, err := r.ReadFile(ctx, "model.txt", "HEAD~1"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("file missing at ref: %v, want ErrNotFound", err)
	}
	if _, err := r.ReadFile(ctx, "nope.yaml", ""); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}
	if _, err := r.ReadFile(ctx, "model.txt", "no-such-branch"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("unknown ref: %v, want ErrNotFound", err)
	}
}

func TestCommit(t *testing.T) {
	dir, head := newRepo(t)
	ctx := context.Background()
	r := open(t, dir)
	run(t, dir, nil, "tag", "-a", "-m", "x", "m@v1.0.0", head)
	for _, ref := range []string{"HEAD", "main", head[:7], "m@v1.0.0", "refs/tags/m@v1.0.0"} {
		c, err := r.Commit(ctx, ref)
		if err != nil {
			t.Fatalf("Commit(%s): %v", ref, err)
		}
		if c.Hash != head || c.Message != "first model\n\nwith a body\n" || c.Author.Name != "Config User" || c.Committer.Email != "config@example.com" {
			t.Errorf("Commit(%s) = %+v", ref, c)
		}
		if registry.FormatTime(c.AuthorDate) != "2023-01-01T10:00:00+02:00" || registry.FormatTime(c.CommitDate) != "2023-01-02T10:00:00-05:00" {
			t.Errorf("dates %v %v", c.AuthorDate, c.CommitDate)
		}
	}
	_, err := r.Commit(ctx, "nope")
	if !errors.Is(err, source.ErrNotFound) || err.Error() != `unknown ref "nope": not found` {
		t.Errorf("unknown ref: %v", err)
	}
	if _, err := r.Commit(ctx, "--output=/tmp/x"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("an option-like ref must be a ref, not an option: %v", err)
	}
}

func TestCommitsInOneCall(t *testing.T) {
	dir, head := newRepo(t)
	first := run(t, dir, nil, "rev-parse", "HEAD~1")
	m, err := open(t, dir).Commits(context.Background(), []string{head, first, strings.Repeat("0", 40)})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[head].Message != "first model\n\nwith a body\n" || m[first].Message != "empty\n" {
		t.Errorf("Commits = %+v", m)
	}
}

func TestFilesInOneCall(t *testing.T) {
	dir, head := newRepo(t)
	first := run(t, dir, nil, "rev-parse", "HEAD~1")
	m, err := open(t, dir).Files(context.Background(), "model.txt", []string{head, first, "main", "no such ref"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || string(m[head]) != "one\n" || string(m["main"]) != "one\n" {
		t.Errorf("Files = %q", m)
	}
}

func TestCreateTag(t *testing.T) {
	dir, head := newRepo(t)
	ctx := context.Background()
	r := open(t, dir)
	at := time.Date(2023, 3, 1, 9, 30, 0, 0, time.FixedZone("", 3*3600))
	tag, err := r.CreateTag(ctx, source.NewTag{
		Name: "m#prod#1", Commit: head, Message: "Assigning stage prod",
		Tagger: registry.Person{Name: "Bot", Email: "bot@example.com"}, Date: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tag.Annotated || tag.Commit != head || tag.Tagger.Name != "Bot" || tag.Tagger.Email != "bot@example.com" ||
		registry.FormatTime(tag.Date) != "2023-03-01T09:30:00+03:00" || tag.Message != "Assigning stage prod" {
		t.Errorf("created %+v", tag)
	}
	tag, err = r.CreateTag(ctx, source.NewTag{Name: "m@v1.0.0", Commit: head, Message: "x"})
	if err != nil || tag.Tagger.Name != "Config User" {
		t.Errorf("tag with the configured identity: %+v %v", tag, err)
	}
	_, err = r.CreateTag(ctx, source.NewTag{Name: "m#prod#1", Commit: head, Message: "again"})
	if !errors.Is(err, source.ErrTagExists) {
		t.Errorf("existing name: %v, want ErrTagExists", err)
	}
	_, err = r.CreateTag(ctx, source.NewTag{Name: "m#dev#2", Commit: strings.Repeat("0", 40), Message: "x"})
	if !errors.Is(err, source.ErrNotFound) {
		t.Errorf("unknown commit: %v, want ErrNotFound", err)
	}
	if err := r.DeleteTag(ctx, "m@v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteTag(ctx, "m@v1.0.0"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("deleting a missing tag: %v", err)
	}
	tags, _ := r.Tags(ctx)
	if len(tags) != 1 || tags[0].Name != "m#prod#1" {
		t.Errorf("tags after delete: %+v", tags)
	}
}

func TestPush(t *testing.T) {
	dir, head := newRepo(t)
	ctx := context.Background()
	origin := filepath.Join(t.TempDir(), "origin.git")
	run(t, ".", nil, "init", "-q", "--bare", origin)
	run(t, dir, nil, "remote", "add", "origin", origin)
	r := open(t, dir)
	if _, err := r.CreateTag(ctx, source.NewTag{Name: "m#prod#1", Commit: head, Message: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, "m#prod#1"); err != nil {
		t.Fatal(err)
	}
	tags, err := open(t, origin).Tags(ctx)
	if err != nil || len(tags) != 1 || tags[0].Name != "m#prod#1" || !tags[0].Annotated {
		t.Fatalf("origin tags after push: %+v %v", tags, err)
	}
	if err := r.PushDeletion(ctx, "m#prod#1"); err != nil {
		t.Fatal(err)
	}
	if tags, _ := open(t, origin).Tags(ctx); len(tags) != 0 {
		t.Errorf("origin tags after push --delete: %+v", tags)
	}
	run(t, dir, nil, "remote", "remove", "origin")
	if err := r.Push(ctx, "m#prod#1"); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("push without origin: %v; want a one-line error", err)
	}
}

func TestHeadOfEmptyRepository(t *testing.T) {
	gittest.Isolate(t)
	dir := t.TempDir()
	run(t, dir, nil, "init", "-q")
	r := open(t, dir)
	head, err := r.Head(context.Background())
	if err != nil || head != "" {
		t.Errorf("Head = %q, %v; want \"\"", head, err)
	}
	tags, err := r.Tags(context.Background())
	if err != nil || len(tags) != 0 {
		t.Errorf("Tags = %v, %v", tags, err)
	}
}
