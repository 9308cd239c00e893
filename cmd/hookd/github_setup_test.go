package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gogithub "github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

const setupToken = "setup-t0ken-0123456789"

// setupRig is a GitHub stand-in for acme/models and the configuration of
// a hookd that GitHub reaches at a fixed address, so that hookd can be
// restarted where the webhook points.
type setupRig struct {
	t      *testing.T
	gh     *githubtest.Server
	addr   string
	dir    string
	config string
	env    []string
}

func newSetupRig(t *testing.T, opts githubtest.Options) *setupRig {
	t.Helper()
	opts.Owner, opts.Name = "acme", "models"
	s := &setupRig{t: t, gh: githubtest.New(t, opts), dir: t.TempDir()}
	s.gh.Commit(t, "main", map[string]string{"model.txt": "v1"}, "Add the model")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.config = filepath.Join(s.dir, "hookd.yaml")
	s.env = append(gitEnv(t), "GITHUB_API_URL="+s.gh.APIURL(), "GITHUB_TOKEN="+s.gh.Token())
	return s
}

// writeConfig writes hookd's configuration with repositoriesYAML (the
// entries of repositories:, or "" for none).
func (s *setupRig) writeConfig(repositoriesYAML string) {
	s.t.Helper()
	cfg := fmt.Sprintf(`# hookd for the setup tests
database_url: %s
public_url: http://%s
tokens:
  - name: tests
    sha256: %x
    scopes:
      - {repositories: "*", operations: [read]}
`, filepath.Join(s.dir, "hookd.db"), s.addr, sha256.Sum256([]byte(setupToken)))
	if repositoriesYAML != "" {
		cfg += "repositories:\n" + repositoriesYAML
	}
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *setupRig) startHookd(env []string) *process {
	s.t.Helper()
	return startDaemon(s.t, s.dir, env, "--config", s.config, "--listen", s.addr)
}

func (s *setupRig) hooks() []*gogithub.Hook {
	s.t.Helper()
	c := gogithub.NewClient(nil).WithAuthToken(s.gh.Token())
	c.BaseURL, _ = url.Parse(s.gh.APIURL())
	hooks, _, err := c.Repositories.ListHooks(context.Background(), "acme", "models", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return hooks
}

// pings are the ping deliveries hookd recorded, from its API.
func (s *setupRig) pings() []map[string]any {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+"/api/v1/deliveries?event=ping", nil)
	req.Header.Set("Authorization", "Bearer "+setupToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /api/v1/deliveries: %d, %v", resp.StatusCode, err)
	}
	return list.Deliveries
}

const configuredEntry = `  - github: acme/models
    secret: ${ACME_MODELS_WEBHOOK_SECRET}
    token: ${GITHUB_TOKEN}
    api_url: ${GITHUB_API_URL}
    reconcile_interval: 1h
`

// With the repository already in hookd's configuration, one command makes
// a working hook: created with the configuration's secret, pinged, and
// the ping recorded by the running hookd. A second run finds the hook
// instead of adding another, --check passes, a hook broken by hand is
// reported line by line and repaired by running setup again.
func TestGitHubSetupOneCommand(t *testing.T) {
	s := newSetupRig(t, githubtest.Options{})
	s.writeConfig(configuredEntry)
	env := append(slices.Clone(s.env), "ACME_MODELS_WEBHOOK_SECRET=the-configured-s3cret")
	s.startHookd(env)

	res := runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config)
	if res.code != 0 || !strings.Contains(res.stdout, "✅ Created webhook") || !strings.Contains(res.stdout, "✅ GitHub's ping reached hookd") ||
		strings.Contains(res.stdout, "the-configured-s3cret") || strings.Contains(res.stdout, "Add to hookd's configuration") {
		t.Fatalf("setup: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	hooks := s.hooks()
	if len(hooks) != 1 {
		t.Fatalf("%d hooks, want one", len(hooks))
	}
	h := hooks[0]
	if h.GetConfig().GetURL() != "http://"+s.addr+"/webhooks/github" || h.GetConfig().GetContentType() != "json" || !h.GetActive() ||
		!slices.Equal(h.Events, []string{"push"}) || h.GetConfig().GetSecret() != "********" {
		t.Errorf("hook = %+v, config %+v", h, h.GetConfig())
	}
	pings := s.pings()
	if len(pings) != 1 || pings[0]["status"] != "ignored" || !strings.HasPrefix(pings[0]["reason"].(string), "ping: the webhook reaches hookd") {
		t.Fatalf("hookd's ping deliveries: %v", pings)
	}

	res = runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config)
	if res.code != 0 || !strings.Contains(res.stdout, "✅ Found webhook") || !strings.Contains(res.stdout, "✅ GitHub's ping reached hookd") {
		t.Fatalf("second setup: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if n := len(s.hooks()); n != 1 {
		t.Errorf("after a second setup, %d hooks", n)
	}
	if res := runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config, "--check"); res.code != 0 ||
		!strings.HasPrefix(res.stdout, "✅ Webhook") || !strings.Contains(res.stdout, "the last delivery (ping,") {
		t.Errorf("--check: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	// Broken by hand: other events, form content type, inactive, and a
	// config without the secret (which GitHub then drops).
	c := gogithub.NewClient(nil).WithAuthToken(s.gh.Token())
	c.BaseURL, _ = url.Parse(s.gh.APIURL())
	if _, _, err := c.Repositories.EditHook(context.Background(), "acme", "models", h.GetID(), &gogithub.Hook{
		Events: []string{"issues"}, Active: gogithub.Bool(false),
		Config: &gogithub.HookConfig{URL: h.GetConfig().URL, ContentType: gogithub.String("form")},
	}); err != nil {
		t.Fatal(err)
	}
	res = runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config, "--check")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 1 || len(lines) != 4 || !strings.Contains(res.stdout, "is not sent push events (it has issues)") ||
		!strings.Contains(res.stdout, "sends form payloads, not JSON") || !strings.Contains(res.stdout, "is inactive") ||
		!strings.Contains(res.stdout, "has no secret") || !strings.Contains(res.stderr, "4 problem(s)") {
		t.Errorf("--check of a broken hook: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	res = runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config)
	if res.code != 0 || !strings.Contains(res.stdout, "✅ Repaired webhook") || !strings.Contains(res.stdout, "✅ GitHub's ping reached hookd") {
		t.Fatalf("repairing setup: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if res := runHookd(t, s.dir, env, "github", "setup", "acme/models", "--config", s.config, "--check"); res.code != 0 {
		t.Errorf("--check after the repair: exit %d\nstdout: %s", res.code, res.stdout)
	}
}

// A repository hookd does not know yet: setup creates the hook with a new
// secret, writes the entry into the configuration and the secret into an
// environment file, and waits, pinging again, until hookd restarted with
// both accepts the ping.
func TestGitHubSetupWritesTheEntryAndWaitsForTheRestart(t *testing.T) {
	s := newSetupRig(t, githubtest.Options{})
	s.writeConfig("")
	first := s.startHookd(s.env)
	envFile := filepath.Join(s.dir, "hookd.env")

	cmd := exec.Command(hookdBin, "github", "setup", "acme/models", "--config", s.config, "--write", "--env-file", envFile, "--wait", "90s")
	cmd.Dir, cmd.Env = s.dir, s.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	out := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out <- sc.Text()
		}
		close(out)
	}()
	var printed []string
	next := func(prefix string) {
		t.Helper()
		deadline := time.After(waitLimit)
		for {
			select {
			case line, ok := <-out:
				if !ok {
					t.Fatalf("setup ended before printing %q: %q, stderr %q", prefix, printed, stderr.String())
				}
				printed = append(printed, line)
				if strings.HasPrefix(line, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("setup did not print %q: %q", prefix, printed)
			}
		}
	}
	// The running hookd does not know the repository: the ping is refused
	// (as a bad signature, which tells nothing of what hookd has), and
	// setup says what to do.
	next("hookd at http://" + s.addr + "/webhooks/github answered the ping with 401: hookd does not know the repository yet")
	written, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(envFile)
	secret, ok := strings.CutPrefix(strings.TrimSpace(string(written)), "ACME_MODELS_WEBHOOK_SECRET=")
	if !ok || len(secret) != 64 || info.Mode().Perm() != 0o600 {
		t.Fatalf("env file %q, mode %v", written, info.Mode())
	}
	cfg, _ := os.ReadFile(s.config)
	if !strings.Contains(string(cfg), "# hookd for the setup tests\n") ||
		!strings.Contains(string(cfg), "repositories:\n  - github: acme/models\n    secret: ${ACME_MODELS_WEBHOOK_SECRET}\n    token: ${GITHUB_TOKEN}\n    api_url: "+s.gh.APIURL()+"\n") {
		t.Fatalf("configuration after --write:\n%s", cfg)
	}

	first.Stop()
	s.startHookd(append(slices.Clone(s.env), "ACME_MODELS_WEBHOOK_SECRET="+secret))
	next("✅ GitHub's ping reached hookd")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("setup: %v; stdout %q, stderr %q", err, printed, stderr.String())
	}
	if strings.Contains(strings.Join(printed, "\n"), secret) {
		t.Error("the secret was printed although --env-file was given")
	}
	if len(s.hooks()) != 1 || len(s.pings()) != 1 {
		t.Errorf("%d hooks, %d pings recorded", len(s.hooks()), len(s.pings()))
	}
}

// --app authenticates as the GitHub App's installation, and the entry it
// prints says so.
func TestGitHubSetupAsAnApp(t *testing.T) {
	s := newSetupRig(t, githubtest.Options{AppID: 42, InstallationID: 7})
	key := filepath.Join(s.dir, "app.pem")
	if err := os.WriteFile(key, s.gh.AppPrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(slices.Clone(s.env), func(kv string) bool { return strings.HasPrefix(kv, "GITHUB_TOKEN=") })
	if res := runHookd(t, s.dir, env, "github", "setup", "acme/models", "--url", "http://"+s.addr+"/webhooks/github", "--wait", "0"); res.code != 1 ||
		!strings.Contains(res.stderr, "no GitHub credentials") {
		t.Errorf("without credentials: exit %d, stderr %q", res.code, res.stderr)
	}
	res := runHookd(t, s.dir, env, "github", "setup", "acme/models", "--url", "http://"+s.addr+"/webhooks/github", "--wait", "0",
		"--app", "--app-id", "42", "--installation-id", "7", "--private-key", key)
	if res.code != 0 || !strings.Contains(res.stdout, "✅ Created webhook") ||
		!strings.Contains(res.stdout, "    app:\n      app_id: 42\n      installation_id: 7\n      private_key_file: "+key+"\n") ||
		!strings.Contains(res.stdout, "ACME_MODELS_WEBHOOK_SECRET=") {
		t.Fatalf("setup --app: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if n := s.gh.RequestCount("POST /app/installations/{installation_id}/access_tokens"); n == 0 {
		t.Error("no installation token was minted")
	}
	if res := runHookd(t, s.dir, env, "github", "setup", "nope"); res.code != 2 {
		t.Errorf("a bad OWNER/NAME: exit %d", res.code)
	}
}
