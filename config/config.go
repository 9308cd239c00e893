// Package config owns hookd's configuration file: its YAML shape, the
// defaults that let hookd run without one, `${ENV}` expansion for secrets and
// the checks that turn a mistake into a problem with a line number instead of
// a daemon that silently ignores a repository. hookd.example.yaml beside this
// file shows every key.
package config

import (
	"github.com/hookd-dev/hookd/internal/confval"

	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/deploy"
)

// Defaults used when the file (or the whole file) leaves a setting out.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultDatabaseURL       = "hookd.db"
	DefaultReconcileInterval = 60 * time.Second
	// DefaultRawPayloadRetention keeps raw webhook bodies for 30 days: long
	// enough to replay a week-old incident, short enough not to grow forever.
	DefaultRawPayloadRetention = 30 * 24 * time.Hour
)

// Config is the whole configuration file.
//
// Deploy actions (`actions:`) and API tokens (`tokens:`) are top-level keys
// owned by package deploy and the API; each adds its field here with its own
// validation, and the strict key check picks it up from the yaml tag.
type Config struct {
	// Listen is the HTTP address, host:port.
	Listen string `yaml:"listen"`
	// PublicURL is hookd's address as users reach it (behind a proxy, say);
	// deploy runs link to their record there. Default: http://LISTEN.
	PublicURL string `yaml:"public_url"`
	// DatabaseURL is a SQLite file path, or a postgres:// URL.
	DatabaseURL  string       `yaml:"database_url"`
	Log          Log          `yaml:"log"`
	Retention    Retention    `yaml:"retention"`
	Repositories []Repository `yaml:"repositories"`
	// Actions are the deploy actions events trigger (package deploy).
	Actions []deploy.Action `yaml:"actions"`
	// Tokens authorize the operations API under /api/v1. The file keeps
	// only each token's SHA-256, so reading it does not give access.
	Tokens []Token `yaml:"tokens"`
}

// Token is an API bearer token, known by the hex SHA-256 of its value
// (printf %s "$TOKEN" | sha256sum).
type Token struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
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

// Repository is one repository hookd watches. Its identity is either a
// GitHub "owner/name" or the absolute path of a repository on this machine
// (served by plain git, Gitea or GitLab and reported by the post-receive
// hook).
type Repository struct {
	GitHub string `yaml:"github"`
	Path   string `yaml:"path"`
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
}

// GitHubApp authenticates as a GitHub App installation.
type GitHubApp struct {
	AppID          int64  `yaml:"app_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// Name is the repository's identity: what webhooks name it by.
func (r Repository) Name() string {
	if r.GitHub != "" {
		return r.GitHub
	}
	return r.Path
}

// Secret is a string that never prints (fmt and slog show it redacted).
type Secret = confval.Secret

// Default is the configuration used without a file.
func Default() *Config {
	return &Config{
		Listen:      DefaultListen,
		DatabaseURL: DefaultDatabaseURL,
		Log:         Log{Level: "info", Format: "text"},
		Retention:   Retention{RawPayloads: Duration(DefaultRawPayloadRetention)},
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
	if len(p.List) > 0 {
		slices.SortStableFunc(p.List, func(a, b Problem) int { return a.Line - b.Line })
		return nil, p
	}
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
	names := map[string]bool{}
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
	}
	for _, q := range deploy.Validate(c.Actions) {
		p.add(root.line(q.Path...), "%s", q.Message)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add(root.line("listen"), "listen: %q is not host:port", c.Listen)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(root.line("public_url"), "public_url: %q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.DatabaseURL == "" {
		p.add(root.line("database_url"), "database_url is empty")
	}
	if !logLevels[c.Log.Level] {
		p.add(root.line("log", "level"), "log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add(root.line("log", "format"), "log.format: %q is not text or json", c.Log.Format)
	}
	seen := map[string]int{}
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
		name := r.Name()
		if first, dup := seen[name]; dup && name != "" {
			p.add(at(), "repository %s is configured twice (first at line %d)", name, first)
		}
		seen[name] = at()
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
		switch {
		case r.ReconcileInterval == 0:
			r.ReconcileInterval = Duration(DefaultReconcileInterval)
		case r.ReconcileInterval < Duration(time.Second):
			p.add(at("reconcile_interval"), "repository %s: reconcile_interval must be at least 1s", name)
		}
	}
}

// Problems is every problem found in a configuration file.
type Problems struct {
	File string
	List []Problem
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
