// Package config owns hookd's configuration file: its YAML shape, the
// defaults that let hookd run without one, `${ENV}` expansion for secrets and
// the checks that turn a mistake into a problem with a line number instead of
// a daemon that silently ignores a repository. hookd.example.yaml beside this
// file shows every key.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/internal/confval"
	"github.com/hookd-dev/hookd/internal/glob"
	"github.com/hookd-dev/hookd/store"
)

// Defaults used when the file (or the whole file) leaves a setting out.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultDatabaseURL       = "hookd.db"
	DefaultReconcileInterval = 60 * time.Second
	// DefaultRawPayloadRetention keeps raw webhook bodies for 30 days: long
	// enough to replay a week-old incident, short enough not to grow forever.
	DefaultRawPayloadRetention = 30 * 24 * time.Hour
	// DefaultMaxConcurrentRuns is the store's (store.DefaultRunConcurrency).
	DefaultMaxConcurrentRuns = store.DefaultRunConcurrency
)

// maxConcurrentRuns bounds max_concurrent_runs: each run may be a process.
const maxConcurrentRuns = 1024

// Config is the whole configuration file.
//
// Deploy actions (`actions:`) and API tokens (`tokens:`) are top-level keys
// owned by package deploy and the API; each adds its field here with its own
// validation, and the strict key check picks it up from the yaml tag.
type Config struct {
	// Listen is the HTTP address, host:port.
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is where /metrics is served instead
	// (host:port), so that it need not be reachable where webhooks are.
	MetricsListen string `yaml:"metrics_listen"`
	// PublicURL is hookd's address as users reach it (behind a proxy, say);
	// deploy runs link to their record there. Default: http://LISTEN.
	PublicURL string `yaml:"public_url"`
	// DebugListen, when set, is where hookd serves net/http/pprof's
	// profiles, on a listener of its own (never Listen's, which faces
	// GitHub): host:port, or :port or a port alone for 127.0.0.1.
	DebugListen string `yaml:"debug_listen"`
	// DatabaseURL is a SQLite file path, or a postgres:// URL.
	DatabaseURL string `yaml:"database_url"`
	// MaxConcurrentRuns is how many deploy runs this process executes at
	// once, across lanes (a lane runs one at a time anyway).
	MaxConcurrentRuns int          `yaml:"max_concurrent_runs"`
	Log               Log          `yaml:"log"`
	Retention         Retention    `yaml:"retention"`
	Repositories      []Repository `yaml:"repositories"`
	// Actions are the deploy actions events trigger (package deploy).
	Actions []deploy.Action `yaml:"actions"`
	// Tokens authorize the API under /api/v1. The file keeps only each
	// token's SHA-256, so reading it does not give access.
	Tokens []Token `yaml:"tokens"`
	// Chat configures chat commands (Slack's slash command).
	Chat Chat `yaml:"chat"`

	// Warnings are what Parse found suspicious without being wrong, such
	// as an action's on.repo that matches no configured repository.
	Warnings []Problem `yaml:"-"`
}

// Token is an API bearer token, known by the hex SHA-256 of its value
// (printf %s "$TOKEN" | sha256sum), and what it may do.
type Token struct {
	Name   string         `yaml:"name"`
	SHA256 string         `yaml:"sha256"`
	Scopes []access.Scope `yaml:"scopes"`
}

// Chat configures chat commands: `/gto assign churn-model v1.2.0 prod`.
type Chat struct {
	// Repository is the repository commands act on unless they name one
	// with --repo.
	Repository string `yaml:"repository"`
	Slack      *Slack `yaml:"slack"`
}

// Slack configures Slack's slash command endpoint, /chat/slack.
type Slack struct {
	// SigningSecret is the Slack app's signing secret; every request must
	// carry its signature.
	SigningSecret Secret `yaml:"signing_secret"`
	// Users are the Slack users who may run commands, each with scopes as
	// a token has; anyone else is refused.
	Users []ChatUser `yaml:"users"`
}

// ChatUser maps a chat account to a principal.
type ChatUser struct {
	// ID is the chat service's user id (Slack's user_id, e.g. U024BE7LH):
	// display names can be changed by their owner, ids cannot.
	ID string `yaml:"id"`
	// Name is who the user is in hookd's audit log and tag messages.
	Name   string         `yaml:"name"`
	Scopes []access.Scope `yaml:"scopes"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Retention says how long stored data is kept.
type Retention struct {
	// RawPayloads is how long a delivery's raw body is kept after it was
	// received (0: forever); the delivery's record and the events derived
	// from it are kept.
	RawPayloads Duration `yaml:"raw_payloads"`
}

// Repository is one repository hookd watches: a GitHub "owner/name", or
// the absolute path of a repository on this machine (served by plain git,
// Gitea or GitLab and reported by the post-receive hook). Either way it has
// one name, its Name, wherever hookd speaks of it.
type Repository struct {
	GitHub string `yaml:"github"`
	Path   string `yaml:"path"`
	// As is a path repository's owner/name; default: the path's last two
	// folders, without ".git" (/srv/git/acme/models.git is acme/models).
	As string `yaml:"as"`
	// Secret signs webhooks (GitHub's webhook secret, or the post-receive
	// hook's). Required: hookd never accepts unsigned deliveries.
	Secret Secret `yaml:"secret"`
	// Token or App authenticate hookd to the GitHub API (GitHub only).
	Token Secret     `yaml:"token"`
	App   *GitHubApp `yaml:"app"`
	// APIURL is a GitHub Enterprise Server API base URL; empty is github.com.
	APIURL string `yaml:"api_url"`
	// ReconcileInterval is how often the tags are re-listed to find those no
	// webhook announced (GitHub sends none for a push of more than three).
	ReconcileInterval Duration `yaml:"reconcile_interval"`
	// Promotion is the order stages are entered in, e.g. [dev, staging,
	// prod]: through the API a version may enter a listed stage only after
	// it was assigned the one before (unless forced by a principal allowed
	// to force). Stages not listed are not ordered.
	Promotion []string `yaml:"promotion"`
}

// Name is the repository's owner/name: what the API's
// /repos/{owner}/{repo}, scopes, chat commands, actions' on.repo, the
// CLI's -r and every record (deliveries, events, runs, tags, the audit
// log) call it by.
func (r Repository) Name() string {
	switch {
	case r.GitHub != "":
		return r.GitHub
	case r.As != "":
		return r.As
	}
	dir, base := filepath.Split(filepath.Clean(r.Path))
	return filepath.Base(dir) + "/" + strings.TrimSuffix(base, ".git")
}

// GitHubApp authenticates as a GitHub App installation.
type GitHubApp struct {
	AppID          int64  `yaml:"app_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// where is what the repository is found by: its GitHub owner/name, or
// its path.
func (r Repository) where() string {
	if r.GitHub != "" {
		return r.GitHub
	}
	return r.Path
}

// Secret is a string that never prints (fmt and slog show it redacted).
type Secret = confval.Secret

// debugAddress puts 127.0.0.1 in front of a debug_listen given as :port or
// a port alone: profiles show secrets' neighbours in memory and cost CPU, so
// they are never served to the network unless a host says so.
func debugAddress(addr string) string {
	if _, err := strconv.ParseUint(addr, 10, 16); err == nil {
		return "127.0.0.1:" + addr
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// Default is the configuration used without a file.
func Default() *Config {
	return &Config{
		Listen:            DefaultListen,
		DatabaseURL:       DefaultDatabaseURL,
		MaxConcurrentRuns: DefaultMaxConcurrentRuns,
		Log:               Log{Level: "info", Format: "text"},
		Retention:         Retention{RawPayloads: Duration(DefaultRawPayloadRetention)},
	}
}

// Load reads and checks the file at path. Problems come back as a *Problems.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads and checks a configuration file's content; name is used in
// messages. Every problem found comes back at once, as a *Problems.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	p := &Problems{File: name}
	root := decode(data, cfg, p)
	if root != nil {
		cfg.check(root, p)
	}
	byLine := func(a, b Problem) int { return a.Line - b.Line }
	slices.SortStableFunc(p.Warnings, byLine)
	if len(p.List) > 0 {
		slices.SortStableFunc(p.List, byLine)
		return nil, p
	}
	cfg.Warnings = p.Warnings
	return cfg, nil
}

// BaseURL is PublicURL, or the listen address as a URL when unset.
func (c *Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	return "http://" + c.Listen
}

// LogLevel is Log.Level as a slog level.
func (c *Config) LogLevel() slog.Level {
	var l slog.Level
	// check already rejected anything UnmarshalText refuses.
	_ = l.UnmarshalText([]byte(c.Log.Level))
	return l
}

var (
	ownerName = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)
	logLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
)

// check validates what types alone cannot, fills per-repository defaults
// and reports each problem at the line of the offending value.
func (c *Config) check(root *tree, p *Problems) {
	names, hashes := map[string]bool{}, map[string]int{}
	for i := range c.Tokens {
		tok := &c.Tokens[i]
		at := func(keys ...any) int { return root.line(append([]any{"tokens", i}, keys...)...) }
		switch {
		case tok.Name == "":
			p.add(at(), "token: name is required (it says who called, in the logs)")
		case names[tok.Name]:
			p.add(at("name"), "token %s is configured twice", tok.Name)
		}
		names[tok.Name] = true
		if !sha256Hex.MatchString(tok.SHA256) {
			p.add(at("sha256"), "token %s: sha256 must be the token's SHA-256 in hex (printf %%s \"$TOKEN\" | sha256sum), not the token itself", tok.Name)
		}
		tok.SHA256 = strings.ToLower(tok.SHA256)
		if first, ok := hashes[tok.SHA256]; ok && sha256Hex.MatchString(tok.SHA256) {
			// The API knows a token by its hash: one of the two sets of
			// scopes would silently win.
			p.add(at("sha256"), "token %s: its sha256 is token %s's (line %d); each token needs its own value", tok.Name, c.Tokens[first].Name, root.line("tokens", first, "sha256"))
		} else {
			hashes[tok.SHA256] = i
		}
		if len(tok.Scopes) == 0 {
			p.add(at(), "token %s: scopes is required, e.g. scopes: [{repositories: \"*\", operations: [read]}]", tok.Name)
		}
		checkScopes(tok.Scopes, "token "+tok.Name, func(j int) int { return at("scopes", j) }, p)
	}
	c.checkChat(root, p)
	for _, q := range deploy.Validate(c.Actions) {
		p.add(root.line(q.Path...), "%s", q.Message)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add(root.line("listen"), "listen: %q is not host:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.MetricsListen); c.MetricsListen != "" && err != nil {
		p.add(root.line("metrics_listen"), "metrics_listen: %q is not host:port", c.MetricsListen)
	} else if c.MetricsListen != "" && c.MetricsListen == c.Listen {
		p.add(root.line("metrics_listen"), "metrics_listen: %q is also listen; leave it out to serve /metrics there", c.MetricsListen)
	}
	if c.DebugListen != "" {
		c.DebugListen = debugAddress(c.DebugListen)
		if _, _, err := net.SplitHostPort(c.DebugListen); err != nil {
			p.add(root.line("debug_listen"), "debug_listen: %q is not host:port, :port or a port", c.DebugListen)
		} else if c.DebugListen == c.Listen {
			p.add(root.line("debug_listen"), "debug_listen: %q is the listen address; profiles need an address of their own", c.DebugListen)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(root.line("public_url"), "public_url: %q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.DatabaseURL == "" {
		p.add(root.line("database_url"), "database_url is empty")
	}
	if c.MaxConcurrentRuns < 1 || c.MaxConcurrentRuns > maxConcurrentRuns {
		p.add(root.line("max_concurrent_runs"), "max_concurrent_runs: %d is not between 1 and %d", c.MaxConcurrentRuns, maxConcurrentRuns)
	}
	if !logLevels[c.Log.Level] {
		p.add(root.line("log", "level"), "log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add(root.line("log", "format"), "log.format: %q is not text or json", c.Log.Format)
	}
	seen, named := map[string]int{}, map[string]int{}
	for i := range c.Repositories {
		r := &c.Repositories[i]
		at := func(keys ...any) int { return root.line(append([]any{"repositories", i}, keys...)...) }
		switch {
		case r.GitHub != "" && r.Path != "":
			p.add(at("path"), "repository %s: set github or path, not both", r.GitHub)
		case r.GitHub == "" && r.Path == "":
			p.add(at(), "repository: set github: owner/name or path: /absolute/path")
		case r.GitHub != "" && !ownerName.MatchString(r.GitHub):
			p.add(at("github"), "repository %q: github must be owner/name", r.GitHub)
		case r.Path != "" && !filepath.IsAbs(r.Path):
			p.add(at("path"), "repository %q: path must be absolute", r.Path)
		case r.Path != "":
			r.Path = filepath.Clean(r.Path)
		}
		where := r.where()
		first, dup := seen[where]
		if dup && where != "" {
			p.add(at(), "repository %s is configured twice (first at line %d)", where, first)
		}
		seen[where] = at()
		if r.GitHub != "" && r.As != "" {
			p.add(at("as"), "repository %s: as applies to path repositories only (a GitHub repository is called by its owner/name)", where)
		}
		name := r.Name()
		switch {
		case r.Path != "" && !ownerName.MatchString(name):
			p.add(at(), "repository %s: its name %q is not owner/name; set as: owner/name", where, name)
		case named[name] != 0 && !dup:
			p.add(at(), "repository %s: its name %s is taken (line %d); set as: owner/name on the path repository", where, name, named[name])
		default:
			named[name] = at()
		}
		// An unset ${VAR} on the secret's own line already explains why
		// it is empty.
		if secretLine := at("secret"); r.Secret == "" && (secretLine == at() || !p.at(secretLine)) {
			p.add(at(), "repository %s: secret is required (it signs webhooks; use secret: ${ENV_VAR})", name)
		}
		if r.Path != "" && (r.Token != "" || r.App != nil || r.APIURL != "") {
			p.add(at(), "repository %s: token, app and api_url apply to github repositories only", name)
		}
		if r.Token != "" && r.App != nil {
			p.add(at("app"), "repository %s: set token or app, not both", name)
		}
		if a := r.App; a != nil && (a.AppID == 0 || a.InstallationID == 0 || a.PrivateKeyFile == "") {
			p.add(at("app"), "repository %s: app needs app_id, installation_id and private_key_file", name)
		}
		checkPromotion(r.Promotion, name, at, p)
		switch {
		case r.ReconcileInterval == 0:
			r.ReconcileInterval = Duration(DefaultReconcileInterval)
		case r.ReconcileInterval < Duration(time.Second):
			p.add(at("reconcile_interval"), "repository %s: reconcile_interval must be at least 1s", name)
		}
	}
	c.checkActionRepositories(root, p)
}

// checkActionRepositories warns about an action's on.repo pattern that
// matches no configured repository: the action could never run. One that
// matches a path repository's path rather than its name says so, since
// that is the likely mistake.
func (c *Config) checkActionRepositories(root *tree, p *Problems) {
	names := make([]string, len(c.Repositories))
	for i, r := range c.Repositories {
		names[i] = r.Name()
	}
	configured := "none is configured"
	if len(names) > 0 {
		configured = "configured: " + strings.Join(names, ", ")
	}
	for i, a := range c.Actions {
		for j, pattern := range a.On.Repository {
			if slices.ContainsFunc(names, func(name string) bool { return glob.Match(pattern, name) }) {
				continue
			}
			why := configured
			if k := slices.IndexFunc(c.Repositories, func(r Repository) bool { return r.Path != "" && glob.Match(pattern, r.Path) }); k >= 0 {
				why = fmt.Sprintf("it matches the path of %s, but on.repo matches a repository's name: write %s", names[k], names[k])
			}
			p.warn(root.line("actions", i, "on", "repo", j), "action %s: on.repo %q matches no configured repository (%s)", a.Name, pattern, why)
		}
	}
}

func checkScopes(scopes []access.Scope, who string, at func(j int) int, p *Problems) {
	for j, sc := range scopes {
		for _, msg := range sc.Problems() {
			p.add(at(j), "%s: %s", who, msg)
		}
	}
}

func checkPromotion(order []string, repo string, at func(keys ...any) int, p *Problems) {
	seen := map[string]bool{}
	for k, stage := range order {
		switch {
		case !stageName.MatchString(stage):
			p.add(at("promotion", k), "repository %s: promotion: %q is not a stage name", repo, stage)
		case seen[stage]:
			p.add(at("promotion", k), "repository %s: promotion lists %s twice", repo, stage)
		}
		seen[stage] = true
	}
}

// stageName is GTO's rule for stage (and artifact) names.
var stageName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_/-]*[a-zA-Z0-9])?$`)

func (c *Config) checkChat(root *tree, p *Problems) {
	if c.Chat.Repository != "" && !slices.ContainsFunc(c.Repositories, func(r Repository) bool { return r.Name() == c.Chat.Repository }) {
		p.add(root.line("chat", "repository"), "chat.repository: %s is not one of the configured repositories", c.Chat.Repository)
	}
	sl := c.Chat.Slack
	if sl == nil {
		return
	}
	if secretLine := root.line("chat", "slack", "signing_secret"); sl.SigningSecret == "" && !p.at(secretLine) {
		p.add(root.line("chat", "slack"), "chat.slack: signing_secret is required (the Slack app's signing secret; use ${ENV_VAR})")
	}
	ids := map[string]bool{}
	for i, u := range sl.Users {
		at := func(keys ...any) int { return root.line(append([]any{"chat", "slack", "users", i}, keys...)...) }
		switch {
		case u.ID == "":
			p.add(at(), "chat.slack user: id is required (Slack's user id, e.g. U024BE7LH)")
		case ids[u.ID]:
			p.add(at("id"), "chat.slack user %s is configured twice", u.ID)
		}
		ids[u.ID] = true
		if u.Name == "" {
			p.add(at(), "chat.slack user %s: name is required (it says who asked, in the audit log and tag messages)", u.ID)
		}
		if len(u.Scopes) == 0 {
			p.add(at(), "chat.slack user %s: scopes is required", u.ID)
		}
		checkScopes(u.Scopes, "chat.slack user "+u.ID, func(j int) int { return at("scopes", j) }, p)
	}
}

// Problems is every problem found in a configuration file, and the
// warnings found beside them.
type Problems struct {
	File     string
	List     []Problem
	Warnings []Problem
}

// Problem is one mistake; Line is 0 when it has no single place.
type Problem struct {
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Message
	}
	return fmt.Sprintf("line %d: %s", p.Line, p.Message)
}

// at reports whether a problem was already found on line.
func (p *Problems) at(line int) bool {
	return slices.ContainsFunc(p.List, func(q Problem) bool { return q.Line == line })
}

func (p *Problems) add(line int, format string, args ...any) {
	p.List = append(p.List, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *Problems) warn(line int, format string, args ...any) {
	p.Warnings = append(p.Warnings, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *Problems) Error() string {
	s := p.File + ": "
	for i, q := range p.List {
		if i > 0 {
			s += "; "
		}
		s += q.String()
	}
	return s
}
