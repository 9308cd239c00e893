package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
)

func problems(t *testing.T, src string) []Problem {
	t.Helper()
	_, err := Parse("hookd.yaml", []byte(src))
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("Parse: got %v, want *Problems", err)
	}
	return p.List
}

func wantProblem(t *testing.T, src string, line int, substr string) {
	t.Helper()
	for _, p := range problems(t, src) {
		if p.Line == line && strings.Contains(p.Message, substr) {
			return
		}
	}
	t.Errorf("no problem %q at line %d; got %v", substr, line, problems(t, src))
}

func TestEmptyFileIsDefaults(t *testing.T) {
	cfg, err := Parse("empty", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.DatabaseURL != DefaultDatabaseURL || cfg.Log.Format != "text" ||
		cfg.LogLevel() != slog.LevelInfo || cfg.Retention.RawPayloads.Std() != DefaultRawPayloadRetention {
		t.Errorf("defaults: %+v", cfg)
	}
	if got := cfg.BaseURL(); got != "http://"+DefaultListen {
		t.Errorf("BaseURL without public_url = %q", got)
	}
	cfg, err = Parse("public", []byte("public_url: https://hookd.example.com/\n"))
	if err != nil || cfg.BaseURL() != "https://hookd.example.com" {
		t.Errorf("BaseURL = %q, %v", cfg.BaseURL(), err)
	}
}

func TestFullConfig(t *testing.T) {
	t.Setenv("MODELS_SECRET", "s3cret")
	t.Setenv("GH_TOKEN", "ghp_x")
	cfg, err := Parse("hookd.yaml", []byte(`
listen: 0.0.0.0:9000
database_url: postgres://hookd@db/hookd
log:
  level: debug
retention:
  raw_payloads: 7d
repositories:
  - github: acme/models
    secret: ${MODELS_SECRET}
    token: ${GH_TOKEN}
  - path: /srv/git/../git/models.git
    secret: pre-${MODELS_SECRET}-post
    reconcile_interval: 5m
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Format != "text" || cfg.LogLevel() != slog.LevelDebug {
		t.Errorf("log: %+v (format default must survive a partial log: section)", cfg.Log)
	}
	if cfg.Retention.RawPayloads.Std() != 7*24*time.Hour {
		t.Errorf("retention %v", cfg.Retention.RawPayloads.Std())
	}
	gh, local := cfg.Repositories[0], cfg.Repositories[1]
	if gh.Name() != "acme/models" || string(gh.Secret) != "s3cret" || string(gh.Token) != "ghp_x" ||
		gh.ReconcileInterval.Std() != DefaultReconcileInterval {
		t.Errorf("github repository: %+v", gh)
	}
	if local.Path != "/srv/git/models.git" || local.Name() != "git/models" || string(local.Secret) != "pre-s3cret-post" || local.ReconcileInterval.Std() != 5*time.Minute {
		t.Errorf("local repository: %+v", local)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Setenv("S", "hunter2")
	cfg, err := Parse("x", []byte("repositories:\n  - github: a/b\n    secret: ${S}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "repo", cfg.Repositories[0].Secret)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", cfg, cfg.Repositories, cfg.Repositories, cfg.Repositories[0].Secret), logged.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestUnknownKeyNamesItsLine(t *testing.T) {
	t.Setenv("S", "x")
	src := `listen: 127.0.0.1:8080
repositories:
  - github: acme/models
    secret: ${S}
    reconcile_intervl: 30s
lsiten: x
`
	wantProblem(t, src, 5, `unknown key "reconcile_intervl" in repositories[0]`)
	wantProblem(t, src, 6, `unknown key "lsiten"`)
}

func TestMissingEnvVarIsNamed(t *testing.T) {
	src := "repositories:\n  - github: acme/models\n    secret: ${HOOKD_TEST_UNSET_VAR}\n"
	wantProblem(t, src, 3, "environment variable HOOKD_TEST_UNSET_VAR is not set")
	if n := len(problems(t, src)); n != 1 {
		t.Errorf("%d problems, want just the unset variable: %v", n, problems(t, src))
	}
}

func TestEnvIsExpandedInValuesOnly(t *testing.T) {
	t.Setenv("K", "listen")
	wantProblem(t, "${K}: 1.2.3.4:5\n", 1, `unknown key "${K}"`)
}

func TestRepositoryWithoutSecret(t *testing.T) {
	wantProblem(t, "repositories:\n  - github: acme/models\n", 2, "acme/models: secret is required")
	t.Setenv("EMPTY", "")
	wantProblem(t, "repositories:\n  - github: acme/models\n    secret: ${EMPTY}\n", 2, "secret is required")
}

func TestRepositoryProblems(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
		want string
	}{
		{"repositories:\n  - secret: x\n", 2, "set github: owner/name or path"},
		{"repositories:\n  - github: models\n    secret: x\n", 2, "github must be owner/name"},
		{"repositories:\n  - path: repo.git\n    secret: x\n", 2, "path must be absolute"},
		{"repositories:\n  - path: /r.git\n    secret: x\n    token: t\n", 2, "github repositories only"},
		{"repositories:\n  - github: a/b\n    secret: x\n  - github: a/b\n    secret: y\n", 4, "configured twice (first at line 2)"},
		{"repositories:\n  - github: a/b\n    secret: x\n    app:\n      app_id: 1\n", 4, "app needs app_id, installation_id and private_key_file"},
		{"repositories:\n  - github: a/b\n    secret: x\n    reconcile_interval: soon\n", 4, `"soon" is not a duration`},
		{"repositories:\n  - github: a/b\n    secret: x\n    app:\n      app_id: one\n", 5, "cannot unmarshal"},
		{"listen: 8080\n", 1, "not host:port"},
		{"metrics_listen: 9100\n", 1, `metrics_listen: "9100" is not host:port`},
		{"listen: 127.0.0.1:9\nmetrics_listen: 127.0.0.1:9\n", 2, "is also listen"},
		{"public_url: hookd.example.com\n", 1, "public_url: \"hookd.example.com\" is not an http(s) URL"},
		{"tokens:\n  - name: ops\n    sha256: s3cret-token\n", 3, "token ops: sha256 must be the token's SHA-256 in hex"},
		{"tokens:\n  - sha256: " + strings.Repeat("a", 64) + "\n", 2, "name is required"},
		{"tokens:\n  - name: a\n    sha256: " + strings.Repeat("a", 64) + "\n  - name: a\n    sha256: " + strings.Repeat("b", 64) + "\n", 4, "token a is configured twice"},
		{"tokens:\n  - name: a\n    sha256: " + strings.Repeat("a", 64) + "\n", 2, "token a: scopes is required"},
		// One token, two sets of scopes: whichever is read last would win.
		{"tokens:\n  - name: a\n    sha256: " + strings.Repeat("a", 64) + "\n  - name: b\n    sha256: " + strings.Repeat("A", 64) + "\n", 5,
			"token b: its sha256 is token a's (line 3); each token needs its own value"},
		{"tokens:\n  - name: a\n    sha256: " + strings.Repeat("a", 64) + "\n    scopes:\n      - operations: [asign]\n", 5, `token a: operation "asign" is none of`},
		{"tokens:\n  - name: a\n    sha256: " + strings.Repeat("a", 64) + "\n    scopes:\n      - repositories: '*'\n        operations: [assign]\n", 5, "token a: stages is required with assign"},
		{"repositories:\n  - github: a/b\n    secret: x\n    promotion: [dev, dev]\n", 4, "promotion lists dev twice"},
		{"repositories:\n  - github: a/b\n    secret: x\n    promotion: [dev, 'pr od']\n", 4, `promotion: "pr od" is not a stage name`},
		{"repositories:\n  - github: a/b\n    secret: x\n    as: c/d\n", 4, "as applies to path repositories only"},
		{"repositories:\n  - github: a/b\n    secret: x\n  - path: /srv/a/b.git\n    secret: y\n", 4, "its name a/b is taken (line 2)"},
		{"repositories:\n  - path: /b.git\n    secret: y\n", 2, `its name "//b" is not owner/name`},
		{"chat:\n  repository: a/b\n", 2, "chat.repository: a/b is not one of the configured repositories"},
		{"chat:\n  slack:\n    users: []\n", 2, "chat.slack: signing_secret is required"},
		{"chat:\n  slack:\n    signing_secret: x\n    users:\n      - name: bob\n        scopes: [{repositories: '*', operations: [read]}]\n", 5, "chat.slack user: id is required"},
		{"chat:\n  slack:\n    signing_secret: x\n    users:\n      - id: U1\n", 5, "chat.slack user U1: name is required"},
		{"public_url: ftp://hookd\n", 1, "is not an http(s) URL"},
		{"log:\n  format: xml\n", 2, "log.format"},
		{"listen: [\n", 1, "did not find expected node content"},
		{"- a\n", 1, "must be a mapping"},
	} {
		wantProblem(t, c.src, c.line, c.want)
	}
}

func TestExampleIsValid(t *testing.T) {
	for _, v := range []string{"ACME_MODELS_WEBHOOK_SECRET", "GITHUB_TOKEN", "ACME_FORECASTS_WEBHOOK_SECRET", "MODELS_HOOK_SECRET",
		"SLACK_SIGNING_SECRET", "DEPLOY_TOKEN", "NOTIFY_TOKEN", "NOTIFY_SIGNING_SECRET"} {
		t.Setenv(v, "x")
	}
	t.Setenv("DEPLOYER_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x")
	cfg, err := Load("hookd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Repositories) != 3 || cfg.Repositories[1].App == nil || cfg.Repositories[2].Path != "/srv/git/models.git" {
		t.Errorf("example read as %+v", cfg.Repositories)
	}
	if got := cfg.Repositories[2].Name(); got != "research/models" {
		t.Errorf("path repository's name %q", got)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("the example has warnings: %v", cfg.Warnings)
	}
	if cfg.MetricsListen != "10.0.0.5:9100" {
		t.Errorf("metrics_listen %q", cfg.MetricsListen)
	}
	if !slices.ContainsFunc(cfg.Actions, func(a deploy.Action) bool { return a.HTTP != nil && a.HTTP.Signature == "standard" }) {
		t.Errorf("the example shows no Standard Webhooks action")
	}
	if len(cfg.Tokens) != 3 || len(cfg.Tokens[1].Scopes) != 1 || cfg.Chat.Slack == nil || len(cfg.Chat.Slack.Users) != 1 {
		t.Errorf("tokens %+v, chat %+v", cfg.Tokens, cfg.Chat)
	}
	// The example shows every kind of action.
	kinds := map[string]bool{}
	for _, a := range cfg.Actions {
		for kind, set := range map[string]bool{"exec": a.Exec != nil, "http": a.HTTP != nil, "github_workflow": a.GitHubWorkflow != nil,
			"github_dispatch": a.GitHubDispatch != nil, "github_deployment": a.GitHubDeployment != nil, "slack": a.Slack != nil} {
			kinds[kind] = kinds[kind] || set
		}
	}
	if len(kinds) != 6 || slices.Contains(slices.Collect(maps.Values(kinds)), false) {
		t.Errorf("the example's actions show the kinds %v, want all six", kinds)
	}
}

func TestName(t *testing.T) {
	for _, c := range []struct {
		r    Repository
		want string
	}{
		{Repository{GitHub: "acme/models"}, "acme/models"},
		{Repository{Path: "/srv/git/acme/models.git"}, "acme/models"},
		{Repository{Path: "/srv/git/acme/models"}, "acme/models"},
		{Repository{Path: "/srv/git/models.git", As: "research/models"}, "research/models"},
	} {
		if got := c.r.Name(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

// hookd config validate points at the line of a template tag text can
// bend: a URL, a JSON body, a shell script.
func TestUnsafeTemplatesAreProblemsAtTheirLine(t *testing.T) {
	src := `actions:
  - name: a
    http:
      url: "https://x/artifacts/{{.Artifact}}"
      body: '{"m": "{{.Message}}"}'
  - name: b
    exec:
      command: [sh, -c, "deploy {{.Version}}"]
`
	_, err := Parse("hookd.yaml", []byte(src))
	p, ok := err.(*Problems)
	if !ok || len(p.List) != 3 {
		t.Fatalf("problems %v, want three", err)
	}
	for i, want := range []struct {
		line int
		text string
	}{{4, "tag text changes the URL"}, {5, "tag text breaks the JSON"}, {8, "sh -c script makes tag text shell code"}} {
		if q := p.List[i]; q.Line != want.line || !strings.Contains(q.Message, want.text) {
			t.Errorf("problem %d: %v, want line %d with %q", i, q, want.line, want.text)
		}
	}
}

// An action's on.repo matches repositories by name, as the API and the
// records call them: a pattern that matches none is a warning at its line
// (the configuration still loads), and one written as a path repository's
// path says what to write instead.
func TestOnRepoMatchingNoRepositoryIsAWarning(t *testing.T) {
	cfg, err := Parse("hookd.yaml", []byte(`repositories:
  - github: acme/models
    secret: x
  - path: /srv/git/models.git
    secret: y
    as: research/models
actions:
  - name: by-name
    on: {repo: research/models}
    exec: {command: [./deploy.sh]}
  - name: by-glob
    on: {repo: ["acme/*", "nobody/*"]}
    exec: {command: [./deploy.sh]}
  - name: by-path
    on:
      repo: /srv/git/models.git
    exec: {command: [./deploy.sh]}
  - name: everywhere
    exec: {command: [./deploy.sh]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{12, `action by-glob: on.repo "nobody/*" matches no configured repository (configured: acme/models, research/models)`},
		{16, `action by-path: on.repo "/srv/git/models.git" matches no configured repository (it matches the path of research/models, but on.repo matches a repository's name: write research/models)`},
	}
	if fmt.Sprint(cfg.Warnings) != fmt.Sprint(want) {
		t.Errorf("warnings\n %v\nwant\n %v", cfg.Warnings, want)
	}

	// Beside problems, the warnings are still told.
	_, err = Parse("hookd.yaml", []byte("listen: nowhere\nactions:\n  - name: a\n    on: {repo: acme/models}\n    exec: {command: [x]}\n"))
	var p *Problems
	if !errors.As(err, &p) || len(p.Warnings) != 1 || p.Warnings[0].Line != 4 || !strings.Contains(p.Warnings[0].Message, "none is configured") {
		t.Errorf("problems %+v", p)
	}
}

// An action's secrets come from the environment, written as deploy's
// documentation shows them.
func TestActionSecretsAsDocumented(t *testing.T) {
	t.Setenv("DEPLOY_TOKEN", "hunter2")
	cfg, err := Parse("hookd.yaml", []byte(`actions:
  - name: deploy
    secrets: {DEPLOY_TOKEN: "${DEPLOY_TOKEN}"}
    exec: {command: [./deploy.sh]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.Actions[0].Secrets["DEPLOY_TOKEN"]); got != "hunter2" {
		t.Errorf("secret %q", got)
	}
}
