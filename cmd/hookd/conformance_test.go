package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/testenv"
)

// TestReadCommandsPrintWhatGTOPrints runs every command of the GTO
// reference table on make-repo.sh's repository and compares the output
// with what gto printed, byte for byte (and as parsed JSON, for a readable
// difference).
func TestReadCommandsPrintWhatGTOPrints(t *testing.T) {
	ref := referenceDir(t)
	r := referenceRepo(t)
	for _, c := range []struct {
		file string
		args []string
	}{
		{"show.json", []string{"show", "--json"}},
		{"show_deprecated.json", []string{"show", "-d", "--json"}},
		{"show_sort_semver.json", []string{"show", "--sort", "semver", "--json"}},
		{"show_all_versions_per_stage.json", []string{"show", "--av", "-1", "--vs", "-1", "--json"}},
		{"show_nn.json", []string{"show", "nn", "--json"}},
		{"show_nn_deprecated.json", []string{"show", "nn", "-d", "--json"}},
		{"show_models_churn_rf.json", []string{"show", "models/churn:rf", "--json"}},
		{"history.json", []string{"history", "--json"}},
		{"history_nn.json", []string{"history", "nn", "--json"}},
		{"stages.json", []string{"stages", "--json"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(ref, c.file))
			if err != nil {
				t.Fatal(err)
			}
			got := r.ok(c.args...)
			if d := diffJSON(got, string(want)); d != "" {
				t.Errorf("hookd %s differs from gto:\n%s", strings.Join(c.args, " "), d)
			} else if got != string(want) {
				t.Errorf("hookd %s prints other bytes than gto:\n%s\nwant\n%s", strings.Join(c.args, " "), got, want)
			}
			// -r/--repo selects the repository from anywhere.
			if c.file == "show.json" {
				other := runHookd(t, t.TempDir(), r.env, append(c.args, "-r", r.dir)...)
				if d := diffJSON(other.stdout, string(want)); other.code != 0 || d != "" {
					t.Errorf("with -r: exit %d %s\n%s", other.code, other.stderr, d)
				}
			}
		})
	}
}

// TestCheckRefMatchesGTO runs check-ref --json on every tag of
// check-ref.tsv: gto prints the one event as an object, indented as
// json.dumps(indent=4) does, or nothing when the tag created none.
func TestCheckRefMatchesGTO(t *testing.T) {
	r := referenceRepo(t)
	for _, c := range testenv.CheckRefs(t, referenceDir(t)) {
		got := r.ok("check-ref", "--json", c.Tag)
		if c.Want == "" {
			if got != "" {
				t.Errorf("check-ref %s printed %q; gto prints nothing", c.Tag, got)
			}
			continue
		}
		if d := diffJSON(got, c.Want); d != "" {
			t.Errorf("check-ref %s differs from gto:\n%s", c.Tag, d)
		} else if want := gtoPrints(t, c.Want); got != want {
			t.Errorf("check-ref %s printed\n%s\nwant\n%s", c.Tag, got, want)
		}
	}
}

// TestReadCommandsWithoutJSON checks the human output of the read
// commands: aligned tables and sentences.
func TestReadCommandsWithoutJSON(t *testing.T) {
	r := referenceRepo(t)
	got := r.ok("show")
	for _, want := range []string{
		"│ name            │ latest   │ #dev   │ #prod   │",
		"│ *annotated-only │ -        │ -      │ -       │",
		"│ models/churn:rf │ v1.0.0   │ -      │ faa7851 │",
		"│ nn              │ v0.0.3   │ v0.0.3 │ v0.0.3  │",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("show lacks line %q:\n%s", want, got)
		}
	}
	got = r.ok("show", "nn", "--plain")
	if want := "artifact    version    stage      created_at                 ref\n" +
		"nn          v0.0.3     dev, prod  2023-02-08T10:00:00+00:00  nn@v0.0.3\n" +
		"nn          v0.0.1     -          2023-02-01T10:00:00+00:00  nn@v0.0.1\n"; got != want {
		t.Errorf("show nn --plain:\n%s\nwant\n%s", got, want)
	}
	if got := r.ok("check-ref", "nn#prod#4"); got != "✅ Stage \"prod\" was assigned to version \"v0.0.3\" of artifact \"nn\"\n" {
		t.Errorf("check-ref: %q", got)
	}
	if got := r.ok("check-ref", "nn#prod#4", "--version"); got != "v0.0.3\n" {
		t.Errorf("check-ref --version: %q", got)
	}
	if got := r.ok("check-ref", "release-1"); got != "" {
		t.Errorf("check-ref of a non-GTO tag: %q, want nothing", got)
	}
	if got := r.ok("stages"); got != "dev\nprod\n" {
		t.Errorf("stages: %q", got)
	}
	got = r.ok("history", "tie", "--plain")
	if want := "timestamp                  artifact    event         version    stage    commit    ref\n" +
		"2023-02-10T10:00:00+00:00  tie         assignment    v1.0.0     prod     faa7851   tie#prod\n" +
		"2023-02-10T10:00:00+00:00  tie         registration  v1.0.0     -        faa7851   tie@v1.0.0\n"; got != want {
		t.Errorf("history tie --plain:\n%s\nwant\n%s", got, want)
	}
}

// TestShowShortcutsAndRef checks NAME@latest, NAME@vX, NAME#stage and
// --ref against the versions of show_nn.json.
func TestShowShortcutsAndRef(t *testing.T) {
	r := referenceRepo(t)
	versionsOf := func(args ...string) string {
		t.Helper()
		out := r.ok(append(args, "--json")...)
		v, err := decodeOrdered(out)
		if err != nil || !v.array {
			t.Fatalf("hookd %v: not a JSON list: %v\n%s", args, err, out)
		}
		var names []string
		for _, item := range v.items {
			names = append(names, item.fields["version"].scalar.(string))
		}
		return strings.Join(names, " ")
	}
	v3 := r.git("rev-parse", "nn@v0.0.3^{commit}")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "nn"}, "v0.0.3 v0.0.1"},
		{[]string{"show", "nn@latest"}, "v0.0.3"},
		{[]string{"show", "nn@v0.0.1"}, "v0.0.1"},
		{[]string{"show", "nn#prod"}, "v0.0.3"},
		{[]string{"show", "nn#staging"}, ""},
		{[]string{"show", "nn", "--ref", v3[:10]}, "v0.0.3"},
		{[]string{"show", "nn", "--ref", "nn@v0.0.1"}, "v0.0.1"},
	} {
		if got := versionsOf(c.args...); got != c.want {
			t.Errorf("hookd %s: versions %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}

// TestReadErrors checks that bad input fails with one line on stderr and
// exit code 1.
func TestReadErrors(t *testing.T) {
	r := referenceRepo(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "missing"}, "Cannot find artifact 'missing'"},
		{[]string{"show", "nn", "--ref", "no-such-ref"}, "Ref 'no-such-ref' was not found in the repository history"},
		{[]string{"show", "-r", t.TempDir()}, "not a git repository"},
		{[]string{"show", "--av", "-2"}, "'assignments_per_version' must be >= -1"},
	} {
		res := r.hookd(c.args...)
		if res.code != 1 || !strings.Contains(res.stderr, c.want) || strings.Count(res.stderr, "\n") != 1 || res.stdout != "" {
			t.Errorf("hookd %s: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q",
				strings.Join(c.args, " "), res.code, res.stdout, res.stderr, c.want)
		}
	}
}
