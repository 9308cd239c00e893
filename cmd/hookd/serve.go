package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/ui"
)

// serveFlags override the configuration file; empty means "not given".
type serveFlags struct {
	config, listen, databaseURL, logFormat string
	shutdownTimeout                        time.Duration
}

func (a *app) addServe(root *cobra.Command) {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: receive webhooks and git hooks, store them, act on them",
		Long: `Run hookd's HTTP server: POST /webhooks/github, POST /webhooks/git,
the API under /api/v1, the web dashboard under /ui/ (sign in with an API
token), /healthz, /readyz and /metrics (on metrics_listen instead, when
configured).

Without a configuration file hookd starts with defaults (listen on
` + config.DefaultListen + `, SQLite database ./` + config.DefaultDatabaseURL + `) and no
repositories, so every webhook is answered 401 until one is configured (a
repository hookd does not know is answered as a bad signature, so that its
configured repositories cannot be probed; the log says which it was).

A webhook's body must arrive within 10 seconds (GitHub's own wait), and one
client address may have at most 4 deliveries arriving slowly at once.

Signals: SIGTERM or SIGINT stop accepting requests, let the ones in flight
and running jobs finish (up to --shutdown-timeout), then exit. SIGHUP
reloads the configuration file; if the new one is invalid the problems are
logged and the running configuration is kept.`,
		Example: `  hookd serve
  hookd serve --config /etc/hookd/hookd.yaml
  hookd serve --database-url postgres://hookd@db.internal/hookd --log-format json`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				f.config = os.Getenv(configEnv)
			}
			return a.serve(cmd.Context(), f)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (default $"+configEnv+"; none: built-in defaults)")
	fl.StringVar(&f.listen, "listen", "", "address to listen on, host:port (default from the config, else "+config.DefaultListen+")")
	fl.StringVar(&f.databaseURL, "database-url", "", "SQLite file path, or postgres://... for PostgreSQL (default from the config, else "+config.DefaultDatabaseURL+")")
	fl.StringVar(&f.logFormat, "log-format", "", "log format: text or json (default from the config, else text)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests and jobs in flight")
	root.AddCommand(cmd)
}

// load reads the configuration (or the defaults) and applies the flags.
func (f serveFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.databaseURL != "" {
		cfg.DatabaseURL = f.databaseURL
	}
	if f.logFormat != "" {
		if f.logFormat != "text" && f.logFormat != "json" {
			return nil, usagef("--log-format must be text or json")
		}
		cfg.Log.Format = f.logFormat
	}
	return cfg, nil
}

// configure gives the HTTP handler and the dashboard what they take from
// the configuration; at start and at each reload.
func configure(h *handlers.Handler, dash *ui.Handler, cfg *config.Config) {
	h.SetSecrets(secretsOf(cfg))
	h.SetTokens(tokensOf(cfg))
	h.SetRepositoryPaths(pathsOf(cfg))
	h.SetChat(chatOf(cfg))
	dash.SetTokens(ui.Tokens(tokensOf(cfg)))
	dash.SetRepositories(dashboardRepositories(cfg))
}

// dashboardRepositories are the configured repositories as the dashboard
// shows them, with their GitHub pages to link to.
func dashboardRepositories(cfg *config.Config) []ui.Repository {
	out := make([]ui.Repository, len(cfg.Repositories))
	for i, r := range cfg.Repositories {
		out[i] = ui.Repository{Name: r.Name(), Identity: r.Name(), Promotion: r.Promotion}
		if r.GitHub != "" && r.APIURL == "" {
			out[i].WebURL = "https://github.com/" + r.GitHub
		}
	}
	return out
}

// chatOf is the chat commands' configuration, Slack users as principals.
func chatOf(cfg *config.Config) handlers.Chat {
	c := handlers.Chat{Repository: cfg.Chat.Repository}
	if sl := cfg.Chat.Slack; sl != nil {
		c.Slack = &handlers.Slack{SigningSecret: string(sl.SigningSecret), Users: make(map[string]access.Principal, len(sl.Users))}
		for _, u := range sl.Users {
			c.Slack.Users[u.ID] = access.Principal{Name: u.Name, Scopes: u.Scopes}
		}
	}
	return c
}

func tokensOf(cfg *config.Config) handlers.Tokens {
	t := make(handlers.Tokens, len(cfg.Tokens))
	for _, tok := range cfg.Tokens {
		var hash [sha256.Size]byte
		// config checked it is 64 hex digits.
		_, _ = hex.Decode(hash[:], []byte(tok.SHA256))
		t[hash] = access.Principal{Name: tok.Name, Scopes: tok.Scopes}
	}
	return t
}

// pathsOf maps each path repository's path to its name.
func pathsOf(cfg *config.Config) map[string]string {
	paths := map[string]string{}
	for _, r := range cfg.Repositories {
		if r.Path != "" {
			paths[r.Path] = r.Name()
		}
	}
	return paths
}

func secretsOf(cfg *config.Config) handlers.Secrets {
	s := make(handlers.Secrets, len(cfg.Repositories))
	for _, r := range cfg.Repositories {
		s[r.Name()] = string(r.Secret)
	}
	return s
}

func (a *app) serve(ctx context.Context, f serveFlags) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	var level slog.LevelVar // SIGHUP may change it
	level.Set(cfg.LogLevel())
	opts := &slog.HandlerOptions{Level: &level}
	var logger *slog.Logger
	if cfg.Log.Format == "json" {
		logger = slog.New(slog.NewJSONHandler(a.stderr, opts))
	} else {
		logger = slog.New(slog.NewTextHandler(a.stderr, opts))
	}

	// Signals are caught before anything slow starts, so a SIGTERM during
	// migrations is not lost.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)

	st, err := store.Open(ctx, cfg.DatabaseURL, store.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("open the database %s: %w", redactURL(cfg.DatabaseURL), err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d, err := newDaemon(logger, st, cfg, reg)
	if err != nil {
		st.Close()
		return err
	}
	dash := ui.New(ui.Options{Store: st, Changes: d.changes(), Sources: d.source, Logger: logger,
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://")})
	h := handlers.New(handlers.Options{Store: st, Logger: logger, Metrics: reg, Changes: d.changes(), UI: dash,
		MetricsApart: cfg.MetricsListen != ""})
	configure(h, dash, cfg)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return err
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(logger, cfg.MetricsListen, h.MetricsHandler())
		if err != nil {
			ln.Close()
			st.Close()
			return err
		}
		defer stopMetrics()
	}
	stopDebug, err := serveDebug(logger, cfg.DebugListen)
	if err != nil {
		ln.Close()
		st.Close()
		return err
	}
	defer stopDebug()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Webhook bodies get GitHub's 10 s from the handler; the API's
		// bodies are small, and this bounds them.
		ReadTimeout:  60 * time.Second,
		WriteTimeout: 90 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if err := d.start(ctx, cfg); err != nil {
		ln.Close()
		st.Close()
		return fmt.Errorf("start the workers: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("hookd listening", "address", ln.Addr().String(), "database", redactURL(cfg.DatabaseURL),
		"config", f.config, "repositories", len(cfg.Repositories))
	explain(logger, f.config, cfg)

	var retention atomic.Int64 // SIGHUP may change it
	retention.Store(int64(cfg.Retention.RawPayloads))
	stopPruning := startPruning(ctx, logger, st, &retention)
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				cfg = reload(ctx, logger, f, cfg, d, h, dash, &level)
				retention.Store(int64(cfg.Retention.RawPayloads))
				continue
			}
			logger.Info("shutting down", "signal", sig.String(), "deadline", f.shutdownTimeout)
		case <-ctx.Done():
			logger.Info("shutting down", "reason", context.Cause(ctx).Error(), "deadline", f.shutdownTimeout)
		case err := <-served:
			stopPruning()
			d.stopSchedule()
			st.Close()
			return fmt.Errorf("http server: %w", err)
		}
		stopPruning()
		d.stopSchedule()
		return shutdown(logger, srv, h, st, f.shutdownTimeout)
	}
}

// serveMetrics serves /metrics alone on address (config metrics_listen)
// until the returned function stops it.
func serveMetrics(logger *slog.Logger, address string, metrics http.Handler) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	return serveAside(logger, listener{key: "metrics_listen", up: "metrics listening",
		down: "the metrics listener stopped; /metrics is not served"}, address, mux, 30*time.Second)
}

// pruneEvery is how often raw payloads past their retention are dropped;
// pruning also runs at start, so a daemon restarted often still prunes.
const pruneEvery = time.Hour

// startPruning drops raw payloads older than retention (0: keep them) in the
// background; the returned function stops it and waits.
func startPruning(ctx context.Context, logger *slog.Logger, st *store.Store, retention *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(pruneEvery)
		defer tick.Stop()
		for {
			if keep := time.Duration(retention.Load()); keep > 0 {
				n, err := st.PrunePayloads(ctx, keep)
				switch {
				case err != nil && ctx.Err() == nil:
					logger.Error("pruning raw payloads failed; will retry", "error", err)
				case n > 0:
					logger.Info("pruned raw payloads past their retention", "deliveries", n, "retention", keep)
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// shutdown stops accepting, lets requests in flight finish (each either
// stored its delivery or answered an error) and the chat commands that
// answer later, stops the workers and commits whatever the store still
// holds, all within timeout.
func shutdown(logger *slog.Logger, srv *http.Server, h *handlers.Handler, st *store.Store, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		logger.Error("requests still in flight at the shutdown deadline were cut off", "error", err)
	}
	if derr := h.Drain(ctx); derr != nil {
		logger.Error("chat commands still running at the shutdown deadline were cancelled; their askers may get no answer", "error", derr)
	}
	if werr := st.StopWorkers(ctx); werr != nil {
		logger.Error("jobs still running at the shutdown deadline were cancelled; they will run again", "error", werr)
	}
	err = errors.Join(err, st.Close())
	if err == nil {
		logger.Info("stopped")
	}
	return err
}

// reload applies a changed configuration file. Repositories and secrets
// switch at once; an invalid file changes nothing.
func reload(ctx context.Context, logger *slog.Logger, f serveFlags, old *config.Config, d *daemon, h *handlers.Handler, dash *ui.Handler, level *slog.LevelVar) *config.Config {
	if f.config == "" {
		logger.Warn("SIGHUP: no configuration file to reload (start with --config FILE)")
		return old
	}
	cfg, err := f.load()
	if err != nil {
		logger.Error("config reload failed; keeping the running configuration", "file", f.config, "error", err)
		return old
	}
	if err := d.reload(ctx, cfg); err != nil {
		logger.Error("config reload failed; keeping the running configuration", "file", f.config, "error", err)
		return old
	}
	configure(h, dash, cfg)
	level.Set(cfg.LogLevel())
	if cfg.Listen != old.Listen || cfg.MetricsListen != old.MetricsListen || cfg.DatabaseURL != old.DatabaseURL ||
		cfg.Log.Format != old.Log.Format || cfg.MaxConcurrentRuns != old.MaxConcurrentRuns {
		logger.Warn("listen, metrics_listen, database_url, max_concurrent_runs and log.format changes take effect at the next restart")
	}
	logger.Info("config reloaded", "file", f.config, "repositories", len(cfg.Repositories))
	explain(logger, f.config, cfg)
	return cfg
}

// explain says what is configured and, when nothing is, what to do about it.
func explain(logger *slog.Logger, file string, cfg *config.Config) {
	if file == "" {
		logger.Warn("no configuration file: running on defaults; write one and start with --config FILE (check it with: hookd config validate FILE)")
	}
	if len(cfg.Repositories) == 0 {
		logger.Warn("no repositories configured: every webhook is answered 401; add one to the configuration file " +
			"(repositories: [{github: owner/name, secret: \"${WEBHOOK_SECRET}\"}], or path: /srv/git/repo.git for a post-receive hook) " +
			"and reload with SIGHUP")
	}
	for _, r := range cfg.Repositories {
		attrs := []any{"repository", r.Name(), "source", "github"}
		if r.Path != "" {
			attrs = []any{"repository", r.Name(), "source", "git", "path", r.Path}
		}
		logger.Info("repository configured", append(attrs, "reconcile_interval", r.ReconcileInterval.Std())...)
	}
	for _, w := range cfg.Warnings {
		logger.Warn("configuration: "+w.Message, "file", file, "line", w.Line)
	}
}

// redactURL hides a password in a database URL before it is logged.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		return p.Redacted()
	}
	return u
}
