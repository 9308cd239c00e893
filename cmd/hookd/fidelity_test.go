package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/registry"
)

// These tests run hookd where GTO's answers are not the obvious ones, on
// repositories built with the git CLI, and compare with what gto answers
// there. gto cannot run here: its answers are read from its code, and each
// case says which part of it decides.

// fidelityRepo builds testdata/gto-fidelity/make-repo.sh's registry.
func fidelityRepo(t *testing.T) (*repo, string) {
	t.Helper()
	testenv.Git(t)
	fixture := filepath.Join(filepath.Dir(referenceDir(t)), "gto-fidelity")
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "registry"), env: gitEnv(t)}
	cmd := exec.Command("bash", filepath.Join(fixture, "make-repo.sh"), r.dir)
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	return r, fixture
}

// gtoPrints is what json.dumps(indent=4) prints for the JSON in want.
func gtoPrints(t *testing.T, want string) string {
	t.Helper()
	var b bytes.Buffer
	if err := registry.IndentJSON(&b, []byte(want)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func (r *repo) write(path, content string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, path), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commitFile(path, content string) {
	r.t.Helper()
	r.write(path, content)
	r.git("add", path)
	r.git("commit", "-q", "-m", "change "+path)
}

// rawTag writes a tag object exactly as given and points refs/tags/ref at
// it: what `git tag` would refuse to make.
func (r *repo) rawTag(ref, name, target, tagger, message string) {
	r.t.Helper()
	gittest.RawTag(r.t, r.dir, r.env, ref, "object "+target+"\ntype commit\ntag "+name+"\ntagger "+tagger+"\n", message)
}

// The generated registry: check-ref of every tag (byte for byte), and the
// answers its README gives for the other classes.
func TestFidelityRegistryAnswersAsGTO(t *testing.T) {
	r, fixture := fidelityRepo(t)
	for _, c := range testenv.CheckRefs(t, fixture) {
		got := r.ok("check-ref", "--json", c.Tag)
		if c.Want == "" && got != "" || c.Want != "" && got != gtoPrints(t, c.Want) {
			t.Errorf("check-ref --json %s:\n%s\nwant\n%s", c.Tag, got, c.Want)
		}
	}

	// .gto is the working tree's: prod is allowed, and a column.
	if got := r.ok("stages", "--json"); got != "[\n    \"dev\",\n    \"staging\",\n    \"prod\"\n]\n" {
		t.Errorf("stages --json: %q", got)
	}
	// The renamed ref registered orig; the copy of uni is one event.
	history := r.ok("history", "--json")
	for _, want := range []string{`"ref": "orig@v1.0.0"`, `"author": "Zo\u00eb \u00dcn\u00efcode"`} {
		if strings.Count(history, want) != 1 {
			t.Errorf("history --json has %q %d times, want once:\n%s", want, strings.Count(history, want), history)
		}
	}
	for _, gone := range []string{"moved", "uni-copy", "cnt@v9.9.9"} {
		if strings.Contains(history, gone) {
			t.Errorf("history --json mentions %s:\n%s", gone, history)
		}
	}
	// custom keeps artifacts.yaml's order and Python's numbers.
	custom := `                            "custom": {
                                "zeta": 1,
                                "alpha": 1.0,
                                "list": [
                                    1000.0,
                                    1e-05
                                ]
                            }`
	if got := r.ok("show", "annotated", "--json"); !strings.Contains(got, custom) || !strings.Contains(got, `"description": "Zo\u00eb's model"`) {
		t.Errorf("show annotated --json:\n%s\nwant it to hold\n%s", got, custom)
	}

	// The doctor names what surprises.
	res := r.hookd("doctor")
	wantDoctor := []string{
		"❌ .gto in the working tree is not HEAD's, and GTO reads the working tree's: stages [dev, staging, prod] here, [dev, staging] at HEAD",
		"❌ tag cnt@v9.9.9 is lightweight: GTO ignores it (GTO's tags are annotated: git tag -a)",
		"❌ tag moved@v2.0.0: its tag object is named orig@v1.0.0, which GTO reads it as (check-ref moved@v2.0.0 finds no event)",
		"❌ tag uni-copy@v1.0.0: its tag object is named uni@v1.0.0, which GTO reads it as (check-ref uni-copy@v1.0.0 finds no event)",
	}
	if got := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n"); res.code != 1 || !slices.Equal(got, wantDoctor) || res.stderr != "❌ 4 problem(s) found\n" {
		t.Errorf("doctor: exit %d\n%s%s\nwant exit 1\n%s", res.code, res.stdout, res.stderr, strings.Join(wantDoctor, "\n"))
	}

	// Writes: the next counter after #007 is 8, and prod is allowed by
	// the working tree's .gto, qa by neither.
	if got := r.ok("assign", "cnt", "--version", "v1.0.0", "--stage", "dev"); !strings.HasPrefix(got, "Created git tag 'cnt#dev#8' that assigns stage to version 'v1.0.0'\n") {
		t.Errorf("assign: %q", got)
	}
	r.ok("assign", "uni", "--version", "v1.0.0", "--stage", "prod")
	if res := r.hookd("assign", "uni", "--version", "v1.0.0", "--stage", "qa"); res.code != 1 || res.stderr != "❌ Allowed stages are: '['dev', 'staging', 'prod']'\n" {
		t.Errorf("assign to qa: exit %d %q", res.code, res.stderr)
	}
}

// gto check-ref --json prints the event as one object, nothing for none,
// and refuses a tag that created more than one (its CLI's
// NotImplementedInGTO), as it refuses two output formats (an assert).
func TestCheckRefOutputs(t *testing.T) {
	r := newRepo(t)
	c := r.git("rev-parse", "HEAD")
	r.git("tag", "-a", "-m", "register", "nn@v1.0.0", c)
	r.git("tag", "nn@v9.9.9", c)             // lightweight
	r.git("tag", "copy@v1.0.0", "nn@v1.0.0") // a ref to nn@v1.0.0's object
	r.git("tag", "-a", "-m", "one", "nn@v2.0.0", c)
	r.rawTag("old@v2.0.0", "nn@v2.0.0", c, "Other <o@example.com> 1700000000 +0000", "another object of that name\n")
	object := func(msg string) string {
		return gtoPrints(t, `{"artifact": "nn", "created_at": "`+r.git("for-each-ref", "--format=%(taggerdate:iso-strict)", "refs/tags/nn@v1.0.0")+
			`", "author": "Test Tagger", "author_email": "tagger@example.com", "message": "`+msg+`", "commit_hexsha": "`+c+
			`", "tag": "nn@v1.0.0", "version": "v1.0.0", "event": "registration"}`)
	}
	for _, c := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"check-ref", "--json", "nn@v1.0.0"}, 0, object("register"), ""},
		{[]string{"check-ref", "--json", "refs/tags/nn@v1.0.0"}, 0, object("register"), ""},
		{[]string{"check-ref", "nn@v1.0.0"}, 0, "✅ Version \"v1.0.0\" of artifact \"nn\" was registered\n", ""},
		{[]string{"check-ref", "--event", "nn@v1.0.0"}, 0, "registration\n", ""},
		{[]string{"check-ref", "--json", "nn@v9.9.9"}, 0, "", ""},
		{[]string{"check-ref", "--json", "no-such@v1.0.0"}, 0, "", ""},
		{[]string{"check-ref", "--json", "release-1"}, 0, "", ""},
		{[]string{"check-ref", "--json", "copy@v1.0.0"}, 0, "", ""},
		{[]string{"check-ref", "--json", "nn@v2.0.0"}, 1, "", "❌ Checking refs that created 1+ events is not supported\n"},
		{[]string{"check-ref", "nn@v2.0.0"}, 1, "", "❌ Checking refs that created 1+ events is not supported\n"},
		{[]string{"check-ref", "--json", "--version", "nn@v1.0.0"}, 1, "", "❌ Only one output formatting flags is allowed\n"},
	} {
		res := r.hookd(c.args...)
		if res.code != c.code || res.stdout != c.stdout || res.stderr != c.stderr {
			t.Errorf("hookd %s: exit %d\n%q %q\nwant exit %d\n%q %q", strings.Join(c.args, " "), res.code, res.stdout, res.stderr, c.code, c.stdout, c.stderr)
		}
	}
}

// What makes GTO refuse the whole registry, and what it still answers:
// read_registry_config fails for any command (it is read first); a
// malformed artifacts.yaml, ManyVersions or an object named otherwise fail
// get_state, which `gto check-ref` of a tag that is missing or not GTO's
// and `gto stages` from .gto's list never call.
func TestWhatGTORefusesAndStillAnswers(t *testing.T) {
	const (
		wrongConfig = "Wrong config file '.gto'"
		wrongIndex  = "artifacts.yaml file doesn't conform to GTO format"
		many        = "Multiple versions are not allowed on the same Git commit. Violation detected for artifact 'nn', versions '['v1.0.0', 'v2.0.0']'."
	)
	type setup func(r *repo, c string)
	file := func(path, content string) setup { return func(r *repo, _ string) { r.commitFile(path, content) } }
	cases := []struct {
		name  string
		setup setup
		want  string
		// everything: the stateless answers fail too (.gto).
		everything bool
	}{
		{".gto that is not YAML", file(".gto", "stages: [dev\n"), wrongConfig, true},
		{".gto with a key GTO does not have", file(".gto", "no_such_key: 1\n"), wrongConfig, true},
		{".gto with STAGES", file(".gto", "STAGES: [dev]\n"), `unknown key "STAGES": GTO's keys are case-sensitive, write "stages"`, true},
		{".gto with index", file(".gto", "index: other.yaml\n"), `write "INDEX"`, true},
		{"artifacts.yaml that is not YAML", file("artifacts.yaml", "nn: [1, 2\n"), wrongIndex, false},
		{"artifacts.yaml with description: 123", file("artifacts.yaml", "nn:\n  description: 123\n"), wrongIndex, false},
		{"artifacts.yaml with an entry that is no mapping", file("artifacts.yaml", "nn:\n"), wrongIndex, false},
		{"artifacts.yaml with a dir:name key", file("artifacts.yaml", "models:nn: {}\n"), "Invalid value 'models:nn'", false},
		{"an empty artifacts.yaml", file("artifacts.yaml", ""), wrongIndex, false},
		{"two versions at the commit an assignment points to", func(r *repo, c string) {
			r.git("tag", "-a", "-m", "x", "nn@v2.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn#prod#1", c)
		}, many, false},
		{"a tag object named otherwise than GTO's grammar", func(r *repo, c string) {
			r.rawTag("nn@v3.0.0", "release-3", c, "T <t@example.com> 1700000000 +0000", "x\n")
		}, "Cannot parse tag name 'release-3'", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			c := r.git("rev-parse", "HEAD")
			r.git("tag", "-a", "-m", "x", "nn@v1.0.0", c)
			r.git("tag", "release-1", c)
			tc.setup(r, c)
			before := r.tags()
			for _, args := range [][]string{
				{"show"}, {"show", "nn", "--json"}, {"history"}, {"stages"}, {"check-ref", "nn@v1.0.0"},
				{"register", "nn", "--bump-major"}, {"deprecate", "nn"}, {"assign", "nn", "--version", "v1.0.0", "--stage", "dev"},
			} {
				if res := r.hookd(args...); res.code != 1 || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
					t.Errorf("hookd %s: exit %d, %q %q; want exit 1 and %q", strings.Join(args, " "), res.code, res.stdout, res.stderr, tc.want)
				}
			}
			for _, args := range [][]string{{"check-ref", "--json", "release-1"}, {"check-ref", "--json", "no-such@v1.0.0"}, {"stages", "--allowed", "--json"}} {
				res := r.hookd(args...)
				refused := res.code == 1 && strings.Contains(res.stderr, tc.want)
				if tc.everything != refused || !refused && res.code != 0 {
					t.Errorf("hookd %s: exit %d, %q %q; gto refuses it: %v", strings.Join(args, " "), res.code, res.stdout, res.stderr, tc.everything)
				}
			}
			if after := r.tags(); !slices.Equal(before, after) {
				t.Errorf("tags changed: %v → %v", before, after)
			}
		})
	}
	// The stages .gto lists need no state either.
	r := newRepo(t)
	r.commitFile(".gto", "stages: [dev, prod]\n")
	r.commitFile("artifacts.yaml", "nn:\n")
	if got := r.ok("stages"); got != "dev\nprod\n" {
		t.Errorf("stages with .gto's list and a malformed index: %q", got)
	}
	if res := r.hookd("stages", "--used"); res.code != 1 || !strings.Contains(res.stderr, wrongIndex) {
		t.Errorf("stages --used: exit %d %q", res.code, res.stderr)
	}
}

// gto reads .gto from the working tree (a bare repository's git directory)
// and so decides the stages and what assign allows.
func TestGTOConfigOfTheWorkingTree(t *testing.T) {
	r := newRepo(t)
	r.commitFile(".gto", "stages: [dev, prod]\n")
	r.ok("register", "nn")
	bare := filepath.Join(t.TempDir(), "bare.git")
	r.git("clone", "-q", "--bare", r.dir, bare)
	r.write(".gto", "stages: [dev]\n") // not committed
	if got := r.ok("stages"); got != "dev\n" {
		t.Errorf("stages: %q, want the working tree's", got)
	}
	if res := r.hookd("assign", "nn", "--version", "v0.0.1", "--stage", "prod"); res.code != 1 || res.stderr != "❌ Allowed stages are: '['dev']'\n" {
		t.Errorf("assign to prod, which only HEAD's .gto allows: exit %d %q", res.code, res.stderr)
	}
	// A bare repository has no working tree: no .gto, every stage allowed.
	if got := runHookd(t, t.TempDir(), r.env, "assign", "nn", "--version", "v0.0.1", "--stage", "qa", "-r", bare); got.code != 0 {
		t.Errorf("assign in the bare clone: exit %d %s", got.code, got.stderr)
	}
	if got := runHookd(t, t.TempDir(), r.env, "stages", "--allowed", "--json", "-r", bare); got.stdout != "null\n" {
		t.Errorf("stages --allowed in the bare clone: %q, want null", got.stdout)
	}
}

// gto creates tags with the message as given (dulwich's tag_create, or
// pygit2's create_tag): git's default cleanup would drop the '#' line, the
// trailing spaces and the repeated blank lines.
func TestTagsAreCreatedVerbatim(t *testing.T) {
	r := newRepo(t)
	msg := "Promote  \n\n\n# not a comment\n  indented\n\n"
	r.ok("register", "nn", "-m", msg)
	cmd := exec.Command("git", "cat-file", "tag", "nn@v0.0.1")
	cmd.Dir, cmd.Env = r.dir, r.env
	raw, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(string(raw), "\n\n"); body != msg {
		t.Errorf("tag message %q, want %q", body, msg)
	}
}

// Where hookd is better than gto: gto's assign of a commit with no version
// registers one first, then fails to create a simple tag that exists, and
// the registration stays; hookd plans both and creates neither.
func TestRefusedAssignLeavesNoRegistration(t *testing.T) {
	r := newRepo(t)
	r.ok("register", "nn")
	r.ok("assign", "nn", "--version", "v0.0.1", "--stage", "prod", "--simple", "true")
	c := r.commit("second")
	before := r.tags()
	res := r.hookd("assign", "nn", c, "--stage", "prod", "--simple", "true")
	if res.code != 1 || res.stderr != "❌ tag 'nn#prod' already exists\n" {
		t.Errorf("assign: exit %d %q %q", res.code, res.stdout, res.stderr)
	}
	if after := r.tags(); !slices.Equal(before, after) {
		t.Errorf("tags %v → %v: gto leaves nn@v0.0.2 behind, hookd nothing", before, after)
	}
}

// Through a server, the CLI prints the bytes local mode prints.
func TestRemoteAnswersOfTheFidelityRegistry(t *testing.T) {
	r, _ := fidelityRepo(t)
	s := serve(t, r)
	for _, args := range [][]string{
		{"check-ref", "--json", "uni@v1.0.0"},
		{"check-ref", "--json", "moved@v2.0.0"},
		{"check-ref", "odd@v1.0.0"},
		{"show", "annotated", "--json"},
		{"history", "--json"},
		{"stages", "--json"},
	} {
		want := r.hookd(args...)
		if got := s.remote(t, r.env, readerToken, args...); got != want {
			t.Errorf("hookd %s\nthrough the server: exit %d\n%s%s\nlocally: exit %d\n%s%s", strings.Join(args, " "),
				got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
		}
	}
	// Two tag objects of one name: the API lists both, the CLI refuses as gto.
	c := r.git("rev-parse", "HEAD")
	r.rawTag("again@v1.0.0", "uni@v1.0.0", c, "T <t@example.com> 1700000000 +0000", "again\n")
	if got := s.remote(t, r.env, readerToken, "check-ref", "--json", "uni@v1.0.0"); got.code != 1 || got.stderr != "❌ Checking refs that created 1+ events is not supported\n" {
		t.Errorf("remote check-ref of a name two objects carry: exit %d %q", got.code, got.stderr)
	}
}

// hookd doctor reports, one line each, what gto refuses, crashes on,
// ignores or reads otherwise than it looks, and exits 1; on a clean
// registry, gto doctor's "No issues found".
func TestDoctorFindings(t *testing.T) {
	// COMMIT in a line stands for the repository's commit.
	cases := []struct {
		name  string
		setup func(r *repo, c string)
		want  []string
	}{
		{"a clean registry", func(r *repo, c string) {
			r.git("tag", "-a", "-m", "x", "nn@v1.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn#prod#1", c)
			r.git("tag", "release-1", c) // not GTO's: nothing to say
		}, []string{"✅ No issues found"}},
		{"two versions at one commit", func(r *repo, c string) {
			r.git("tag", "-a", "-m", "x", "nn@v1.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn@v2.0.0", c)
		}, []string{"❌ artifact nn has versions v1.0.0, v2.0.0 at commit COMMIT: GTO refuses the registry once an assignment points there"}},
		{"an assignment there too", func(r *repo, c string) {
			r.git("tag", "-a", "-m", "x", "nn@v1.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn@v2.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn#prod", c)
		}, []string{
			"❌ GTO refuses the registry: Multiple versions are not allowed on the same Git commit. Violation detected for artifact 'nn', versions '['v1.0.0', 'v2.0.0']'.",
			"❌ artifact nn has versions v1.0.0, v2.0.0 at commit COMMIT: GTO refuses the registry once an assignment points there",
		}},
		{"tags gto crashes on", func(r *repo, c string) {
			r.git("tag", "-a", "-m", "x", "nn@created", c)
			r.rawTag("nn@v1.0.0", "nn@v1.0.0", c, "<nobody@example.com> 1700000000 +0000", "x\n")
			r.git("tag", "-a", "-m", "x", "nn#prod", c+"^{tree}")
		}, []string{
			"❌ tag nn#prod points to no commit: GTO crashes reading the version",
			"❌ tag nn@created: GTO crashes on a tag named name@created; hookd ignores it",
			`❌ tag nn@v1.0.0: GTO crashes reading it: scmrepo cannot split its tagger "<nobody@example.com>" into a name and an email`,
		}},
		{"stages .gto does not list", func(r *repo, _ string) {
			r.commitFile(".gto", "stages: [dev]\n")
			c := r.git("rev-parse", "HEAD")
			r.git("tag", "-a", "-m", "x", "nn@v1.0.0", c)
			r.git("tag", "-a", "-m", "x", "nn#prod#1", c)
			r.git("tag", "-a", "-m", "x", "nn#qa!#2", c)
		}, []string{"❌ stages prod, qa are used by tags but .gto allows only dev: gto assign refuses them"}},
		{".gto GTO refuses", func(r *repo, c string) { r.write(".gto", "Stages: [dev]\n") },
			[]string{`❌ GTO refuses the repository: Wrong config file '.gto': line 1: unknown key "Stages": GTO's keys are case-sensitive, write "stages"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			c := r.git("rev-parse", "HEAD")
			tc.setup(r, c)
			res := r.hookd("doctor")
			got := strings.Split(strings.ReplaceAll(strings.TrimSuffix(res.stdout, "\n"), c, "COMMIT"), "\n")
			clean := len(tc.want) == 1 && strings.HasPrefix(tc.want[0], "✅")
			if !slices.Equal(got, tc.want) || clean != (res.code == 0) {
				t.Errorf("doctor: exit %d\n%s%s\nwant\n%s", res.code, res.stdout, res.stderr, strings.Join(tc.want, "\n"))
			}
		})
	}
}
