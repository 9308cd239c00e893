package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// workflow is the part of a GitHub Actions workflow the recipes use.
type workflow struct {
	Name string `yaml:"name"`
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			ID   string            `yaml:"id"`
			If   string            `yaml:"if"`
			Uses string            `yaml:"uses"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// recipes are the workflows of docs/github-actions.md, by name.
func recipes(t *testing.T) map[string]workflow {
	t.Helper()
	doc, err := os.ReadFile("../../docs/github-actions.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]workflow{}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		var w workflow
		if err := yaml.Unmarshal([]byte(m[1]), &w); err != nil {
			t.Fatalf("a workflow in docs/github-actions.md: %v\n%s", err, m[1])
		}
		out[w.Name] = w
	}
	return out
}

var expression = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// runStep runs a step's script as Actions would: bash -e, in dir, with
// hookd on PATH, the step's env (its ${{ }} expressions taken from
// values) and the variables Actions sets.
func runStep(t *testing.T, dir string, env []string, script string, stepEnv, values map[string]string) result {
	t.Helper()
	env = append(slices.Clone(env), "PATH="+filepath.Dir(hookdBin)+":"+os.Getenv("PATH"), "GITHUB_ACTIONS=true")
	for k, v := range stepEnv {
		v = expression.ReplaceAllStringFunc(v, func(e string) string {
			name := expression.FindStringSubmatch(e)[1]
			val, ok := values[name]
			if !ok {
				t.Fatalf("the recipe uses ${{ %s }}, which the test does not provide", name)
			}
			return val
		})
		if override, ok := values["env."+k]; ok {
			v = override
		}
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

// readOutputs parses a $GITHUB_OUTPUT file: name=value lines and
// name<<DELIMITER heredocs.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var value []string
			for sc.Scan() && sc.Text() != delim {
				value = append(value, sc.Text())
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		name, value, _ := strings.Cut(line, "=")
		out[name] = value
	}
	return out
}

// condition evaluates the recipes' if: (comparisons of outputs joined by
// &&) over values.
func condition(t *testing.T, cond string, values map[string]string) bool {
	t.Helper()
	for _, part := range strings.Split(cond, "&&") {
		left, right, ok := strings.Cut(part, "==")
		if !ok {
			t.Fatalf("the test reads only a == 'b' && ... conditions, not %q", cond)
		}
		if values[strings.TrimSpace(left)] != strings.Trim(strings.TrimSpace(right), "'") {
			return false
		}
	}
	return true
}

// The recipes of docs/github-actions.md work as written: the promote job
// assigns through a running hookd, and the tag workflow's outputs are
// gto-action's for a registration, an assignment and a branch push, its
// deploy step running for the prod assignment only.
func TestGitHubActionsRecipes(t *testing.T) {
	ws := recipes(t)
	r := newRepo(t)
	if err := os.WriteFile(filepath.Join(r.dir, "artifacts.yaml"),
		[]byte("churn-model:\n  type: model\n  path: models/churn.pkl\n  description: |-\n    Churn prediction\n    trained weekly\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("add", "artifacts.yaml")
	r.git("commit", "-q", "-m", "Annotate churn-model")
	r.ok("register", "churn-model", "--version", "v1.2.0")
	s := serve(t, r)

	promote, ok := ws["promote"]
	if !ok {
		t.Fatal("docs/github-actions.md has no promote workflow")
	}
	ran := 0
	for _, st := range promote.Jobs["promote"].Steps {
		if st.Uses != "" || strings.Contains(st.Run, "go install") {
			continue // the test brings its own hookd
		}
		ran++
		res := runStep(t, t.TempDir(), append(slices.Clone(r.env), "GITHUB_WORKFLOW=promote", "GITHUB_RUN_ID=42"), st.Run, st.Env, map[string]string{
			"secrets.HOOKD_TOKEN": devToken, "inputs.version": "v1.2.0", "env.HOOKD_SERVER": s.url,
		})
		if res.code != 0 || res.stdout != "Created git tag 'churn-model#staging#1' that assigns stage to version 'v1.2.0'\n" {
			t.Fatalf("%s: exit %d\nstdout %q\nstderr %q", st.Name, res.code, res.stdout, res.stderr)
		}
	}
	if msg := r.tag("churn-model#staging#1").message; ran != 1 || !strings.HasPrefix(msg, "promoted by promote run 42") || !strings.HasSuffix(msg, "Requested-by: dev via api") {
		t.Errorf("%d steps ran; the tag's message %q", ran, msg)
	}
	r.ok("assign", "churn-model", "--version", "v1.2.0", "--stage", "prod")

	act, ok := ws["act on GTO tags"]
	if !ok {
		t.Fatal(`docs/github-actions.md has no "act on GTO tags" workflow`)
	}
	description := "Churn prediction\ntrained weekly"
	for _, c := range []struct {
		ref    string
		want   map[string]string
		deploy bool
	}{
		{"refs/tags/churn-model@v1.2.0", map[string]string{"event": "registration", "name": "churn-model", "version": "v1.2.0", "stage": "",
			"type": "model", "path": "models/churn.pkl", "description": description}, false},
		{"refs/tags/churn-model#prod#2", map[string]string{"event": "assignment", "name": "churn-model", "version": "v1.2.0", "stage": "prod",
			"type": "model", "path": "models/churn.pkl", "description": description}, true},
		{"refs/heads/main", map[string]string{"event": "", "name": "", "version": "", "stage": "", "type": "", "path": "", "description": ""}, false},
	} {
		output := filepath.Join(t.TempDir(), "github_output")
		values := map[string]string{}
		deployed := false
		for _, st := range act.Jobs["act"].Steps {
			if st.Uses != "" || strings.Contains(st.Run, "go install") {
				continue
			}
			if st.If != "" && !condition(t, st.If, values) {
				continue
			}
			res := runStep(t, r.dir, append(slices.Clone(r.env), "GITHUB_REF="+c.ref, "GITHUB_OUTPUT="+output), st.Run, st.Env, values)
			if res.code != 0 {
				t.Fatalf("%s, step %q: exit %d: %s", c.ref, st.Name, res.code, res.stderr)
			}
			if st.ID == "gto" {
				got := readOutputs(t, output)
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("%s: output %s = %q, want %q (gto-action's)", c.ref, k, got[k], v)
					}
				}
				if len(got) != len(c.want) {
					t.Errorf("%s: outputs %v, want exactly gto-action's %d", c.ref, got, len(c.want))
				}
				for k, v := range got {
					values["steps.gto.outputs."+k] = v
				}
			}
			if st.Name == "deploy" {
				deployed = true
				if want := "deploying churn-model v1.2.0 from models/churn.pkl\n"; res.stdout != want {
					t.Errorf("deploy printed %q, want %q", res.stdout, want)
				}
			}
		}
		if deployed != c.deploy {
			t.Errorf("%s: deployed %v, want %v", c.ref, deployed, c.deploy)
		}
	}
	os.Remove(filepath.Join(r.dir, "deploy.log"))
}
