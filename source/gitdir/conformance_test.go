package gitdir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/testenv"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
)

// referenceDir holds what GTO itself printed for the repository that its
// make-repo.sh builds.
func referenceDir(t *testing.T) string { return testenv.GTOReference(t) }

// referenceRegistry builds GTO's reference repository and reads it into a
// registry the way the hookd CLI does.
func referenceRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	gittest.Isolate(t)
	dir := filepath.Join(t.TempDir(), "repo")
	out, err := exec.Command("bash", filepath.Join(referenceDir(t), "make-repo.sh"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	return load(t, dir)
}

// load reads the repository the way the hookd CLI does, through
// source.Load, so the conformance holds for the path users run.
func load(t *testing.T, dir string) *registry.Registry {
	t.Helper()
	ctx := context.Background()
	repo, err := gitdir.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := source.Load(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// canonical re-encodes JSON compactly, keeping the order of object keys,
// so that two documents compare equal exactly when they have the same
// values in the same order.
func canonical(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b strings.Builder
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			open := v.String()
			b.WriteString(open)
			first := true
			for dec.More() {
				if !first {
					b.WriteByte(',')
				}
				first = false
				if open == "{" {
					key, err := dec.Token()
					if err != nil {
						return err
					}
					k, _ := json.Marshal(key)
					b.Write(k)
					b.WriteByte(':')
				}
				if err := walk(); err != nil {
					return err
				}
			}
			end, err := dec.Token()
			if err != nil {
				return err
			}
			b.WriteString(end.(json.Delim).String())
		default:
			enc, _ := json.Marshal(v)
			b.Write(enc)
		}
		return nil
	}
	if err := walk(); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, data)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after JSON:\n%s", data)
	}
	return b.String()
}

func assertJSON(t *testing.T, name string, got any, want []byte) {
	t.Helper()
	enc, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := canonical(t, enc), canonical(t, want); g != w {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, enc, "", "    ")
		t.Errorf("%s differs from GTO's output.\n got: %s\nwant: %s\n\nhookd printed:\n%s", name, g, w, pretty.String())
	}
}

func TestConformanceWithGTO(t *testing.T) {
	reg := referenceRegistry(t)
	def := registry.DefaultShowOptions()
	with := func(f func(*registry.ShowOptions)) registry.ShowOptions {
		o := def
		f(&o)
		return o
	}
	must := func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := map[string]func() any{
		"show.json":            func() any { return must(reg.Show(def)) },
		"show_deprecated.json": func() any { return must(reg.Show(with(func(o *registry.ShowOptions) { o.Deprecated = true }))) },
		"show_sort_semver.json": func() any {
			return must(reg.Show(with(func(o *registry.ShowOptions) { o.Sort = registry.SortSemVer })))
		},
		"show_all_versions_per_stage.json": func() any {
			return must(reg.Show(with(func(o *registry.ShowOptions) { o.AssignmentsPerVersion, o.VersionsPerStage = -1, -1 })))
		},
		"show_nn.json": func() any { return must(reg.ShowArtifact("nn", "", def)) },
		"show_nn_deprecated.json": func() any {
			return must(reg.ShowArtifact("nn", "", with(func(o *registry.ShowOptions) { o.Deprecated = true })))
		},
		"show_models_churn_rf.json": func() any { return must(reg.ShowArtifact("models/churn:rf", "", def)) },
		"history.json":              func() any { return reg.History("", false) },
		"history_nn.json":           func() any { return reg.History("nn", false) },
		"stages.json":               func() any { return reg.Stages(false, false) },
	}
	files, err := filepath.Glob(filepath.Join(referenceDir(t), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no reference files in %s: %v", referenceDir(t), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			run, ok := cases[name]
			if !ok {
				t.Fatalf("reference file %s has no conformance case", name)
			}
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			assertJSON(t, name, run(), want)
		})
	}
}

func TestConformanceCheckRef(t *testing.T) {
	reg := referenceRegistry(t)
	for _, c := range testenv.CheckRefs(t, referenceDir(t)) {
		t.Run(c.Tag, func(t *testing.T) {
			// gto prints the one event, or nothing for none; the
			// registry lists them.
			events := reg.CheckRef(c.Tag)
			if c.Want == "" {
				if len(events) != 0 {
					t.Errorf("check-ref %s = %+v, want no event", c.Tag, events)
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("check-ref %s = %+v, want one event", c.Tag, events)
			}
			assertJSON(t, "check-ref "+c.Tag, events[0], []byte(c.Want))
		})
	}
}
