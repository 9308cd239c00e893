package ops

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/internal/hookdtest"
)

const secret = "ops-s3cret"

// serve starts hookd on databaseURL for a GitHub stand-in repository
// acme/models with a commit, so that every metric has its series.
func serve(t *testing.T, databaseURL string) *hookdtest.Process {
	t.Helper()
	env := gittest.Env(t)
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")
	for _, args := range [][]string{
		{"clone", "-q", gh.AuthGitURL(), clone},
		{"-C", clone, "commit", "-q", "--allow-empty", "-m", "first"},
		{"-C", clone, "push", "-q", "origin", "HEAD:main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `database_url: %s
repositories:
  - github: acme/models
    secret: %s
    token: %s
    api_url: %s
`, databaseURL, secret, gh.Token(), gh.APIURL()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := hookdtest.Serve(t, hookdBin, "", env, "--config", config)
	p.WaitLog("tags listed")
	return p
}

// TestAlertRulesNameRealMetrics checks the alerting rules with promtool,
// and that every hookd metric they name, with every label value they
// match exactly, is one a running hookd exports.
func TestAlertRulesNameRealMetrics(t *testing.T) {
	promtool := program(t, "promtool", "prometheus")
	run(t, promtool, "check", "rules", "prometheus/hookd-alerts.yaml")

	data, err := os.ReadFile("prometheus/hookd-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}

	p := serve(t, filepath.Join(t.TempDir(), "hookd.db"))
	// One delivery, so that the webhook's series exist.
	body := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/models"}}`)
	req, _ := http.NewRequest(http.MethodPost, p.URL()+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "ops-1")
	req.Header.Set("X-Hub-Signature-256", handlers.Sign(secret, body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %v %v", resp, err)
	}
	status, metrics := p.Get("/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics answered %d", status)
	}

	selector := regexp.MustCompile(`(hookd_[a-z_]+)(\{[^}]*\})?`)
	exact := regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: want a for:, a severity label and a summary", r.Alert)
			}
			for _, m := range selector.FindAllStringSubmatch(r.Expr, -1) {
				family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_count"), "_sum")
				if !strings.Contains(metrics, "# TYPE "+family+" ") {
					t.Errorf("%s names %s, which hookd does not export", r.Alert, m[1])
					continue
				}
				for _, l := range exact.FindAllStringSubmatch(m[2], -1) {
					if !regexp.MustCompile(`(?m)^` + m[1] + `\{[^}]*` + l[1] + `="` + regexp.QuoteMeta(l[2]) + `"`).MatchString(metrics) {
						t.Errorf("%s matches %s{%s=%q}: no such series", r.Alert, m[1], l[1], l[2])
					}
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d rules", n)
	}
}
