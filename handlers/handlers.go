// Package handlers owns hookd's HTTP surface, and nothing behind it:
//
//   - webhook ingress from GitHub and from the git post-receive hook
//     (webhook.go): verify the signature, store the delivery with its
//     processing job in one transaction, answer; everything else happens in
//     the workers (a GitHub ping is recorded too, as an ignored delivery,
//     so that whoever set the hook up sees it arrive). Bodies (body.go)
//     must arrive within GitHub's 10 s, take their share of memory as their
//     bytes arrive, and one client's slow uploads are bounded, so idle or
//     slow connections cannot starve real deliveries. A repository hookd
//     does not know is answered as a bad signature, and GitHub's Redeliver
//     gets the delivery processed again;
//   - the operations API under /api/v1 (api.go): deliveries, events, deploy
//     runs and the audit log, with replay and retry;
//   - the companion API (repos.go): registry reads in gto's JSON shapes and
//     GTO writes, carried out by package change;
//   - chat commands (chat.go): Slack's slash command and a text endpoint
//     for other bots, parsed and answered by package chatops;
//   - the OpenAPI document of /api/v1 (openapi.go), the health and
//     readiness probes and /metrics;
//   - the web dashboard under /ui/, which package ui serves: it is
//     mounted here, nothing more.
//
// Every /api/v1 route but the document needs a bearer token; what the
// token may do is package access's to decide. The API's JSON shapes are
// package client's types, which the client and this package share.
package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/store"
)

// Deliveries stores accepted deliveries; *store.Store satisfies it. Accept
// must return only once the delivery and its job are durable.
type Deliveries interface {
	Accept(ctx context.Context, d store.Delivery) (store.AcceptResult, error)
}

// Readiness backs the readiness probe; *store.Store satisfies it (an open
// store has already applied its migrations). Ready fails while the store
// cannot store deliveries: unreachable, or refusing writes.
type Readiness interface {
	Ready(ctx context.Context) error
}

// Store is what the handlers need from the store.
type Store interface {
	Deliveries
	Readiness
	Records
}

// Secrets maps a repository's name (owner/name) to the secret its
// deliveries are signed with. A repository that is not in the map is not
// configured.
type Secrets map[string]string

// Options configures New.
type Options struct {
	Store  Store
	Logger *slog.Logger // default slog.Default()
	// Metrics is where the handlers register their metrics and what
	// /metrics serves; other packages register theirs in the same registry.
	// Default: a new registry.
	Metrics *prometheus.Registry
	// MetricsApart leaves /metrics out of the handler's routes: it is
	// served by MetricsHandler, on a listener of its own.
	MetricsApart bool
	// BodyBytes bounds the bytes of webhook bodies held at once while they
	// are read and verified (default 8 × 25 MiB). A body takes its share
	// as its bytes arrive, not as its Content-Length announces.
	BodyBytes int64
	// BodyTimeout bounds how long a webhook's body may take to arrive
	// (default 10s, as long as GitHub waits for an answer); a slower one
	// is answered 408.
	BodyTimeout time.Duration
	// SlowUpload is how long a webhook body may take before it counts as
	// a slow upload (default 2s), and SlowUploadsPerClient how many slow
	// uploads one client address may have at once (default 4); a further
	// one is cut off with 429, so that a few clients sending slowly cannot
	// hold the bodies' budget. Deliveries that arrive at once are never
	// counted, however many a client sends.
	SlowUpload           time.Duration
	SlowUploadsPerClient int
	// Changes carries out the writes of /api/v1/repos/... and chat
	// commands, and reads registries for them; without it those routes
	// answer 503.
	Changes *change.Service
	// UI is the web dashboard (package ui), served under /ui/, with / sent
	// there; without it neither is served.
	UI http.Handler
	// AcceptTimeout bounds storing one delivery; past it the answer is 503.
	// Default 8s, under the 10s GitHub waits before it counts a delivery
	// as failed.
	AcceptTimeout time.Duration
}

// Handler is hookd's HTTP handler.
type Handler struct {
	store         Store
	changes       *change.Service
	log           *slog.Logger
	acceptTimeout time.Duration
	bodies        *semaphore.Weighted
	bodyTimeout   time.Duration
	slowUpload    time.Duration
	slowPerClient int
	uploads       slowUploads
	secrets       atomic.Pointer[Secrets]
	tokens        atomic.Pointer[Tokens]
	paths         atomic.Pointer[map[string]string] // path repository → name
	chat          atomic.Pointer[Chat]
	metrics       metrics
	scrape        http.Handler // /metrics
	ui            http.Handler
	mux           *http.ServeMux
	// background is work that outlives its request (a Slack command
	// answered at its response_url); Drain waits for it, and past Drain's
	// deadline stopBackground cancels it.
	background     sync.WaitGroup
	backgroundCtx  context.Context
	stopBackground context.CancelFunc
}

// New builds the handler. It answers 401 to every webhook until SetSecrets
// configures a repository.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, changes: o.Changes, log: o.Logger, acceptTimeout: o.AcceptTimeout, ui: o.UI,
		bodyTimeout: cmp.Or(o.BodyTimeout, defaultBodyTimeout), slowUpload: cmp.Or(o.SlowUpload, defaultSlowUpload),
		slowPerClient: cmp.Or(o.SlowUploadsPerClient, defaultSlowUploadsPerClient)}
	h.backgroundCtx, h.stopBackground = context.WithCancel(context.Background())
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.acceptTimeout == 0 {
		h.acceptTimeout = 8 * time.Second
	}
	if o.BodyBytes <= 0 {
		o.BodyBytes = 8 * MaxBodyBytes
	}
	h.bodies = semaphore.NewWeighted(o.BodyBytes)
	reg := o.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	h.metrics = newMetrics(reg)
	h.secrets.Store(&Secrets{})
	h.tokens.Store(&Tokens{})
	h.SetRepositoryPaths(nil)
	h.scrape = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	h.routes(!o.MetricsApart)
	return h
}

// MetricsHandler serves /metrics: the registry of Options.Metrics.
func (h *Handler) MetricsHandler() http.Handler { return h.scrape }

// SetSecrets replaces the configured repositories at once: a request sees
// either the old set or the new one, never a mix.
func (h *Handler) SetSecrets(s Secrets) { h.secrets.Store(&s) }

func (h *Handler) secret(repository string) (string, bool) {
	s, ok := (*h.secrets.Load())[repository]
	return s, ok
}

// Drain waits for the work requests left running after they were answered
// (Slack commands that answer at their response_url) until ctx ends; then
// it cancels that work and waits for it to return, which is quick: a
// cancelled write stops, and is still audited. Call it once the HTTP
// server has stopped taking requests (http.Server.Shutdown), before
// closing the store. It returns ctx's error when it had to cancel.
func (h *Handler) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.background.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.stopBackground()
		<-done
		return ctx.Err()
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) routes(withMetrics bool) {
	h.mux = http.NewServeMux()
	h.mux.Handle("/webhooks/github", h.timed("github", h.webhook(github{})))
	h.mux.Handle("/webhooks/git", h.timed("git", h.webhook(gitHook{})))
	h.mux.Handle("/healthz", h.timed("healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})))
	h.mux.Handle("/readyz", h.timed("readyz", http.HandlerFunc(h.ready)))
	if withMetrics {
		h.mux.Handle("/metrics", h.scrape)
	}
	h.apiRoutes()
	h.chatRoutes()
	if h.ui != nil {
		h.mux.Handle("/ui/", h.timed("ui", h.ui))
		h.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	h.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "no such endpoint: " + r.URL.Path
		// A monorepo artifact's name (models/churn:rf) is one segment of
		// the path.
		if _, name, ok := strings.Cut(r.URL.Path, "/artifacts/"); ok && strings.HasPrefix(r.URL.Path, "/api/v1/repos/") && strings.Contains(name, "/") {
			name, history := strings.CutSuffix(name, "/history")
			msg += "; send an artifact name's / as %2F: artifacts/" + strings.ReplaceAll(name, "/", "%2F")
			if history {
				msg += "/history"
			}
		}
		writeError(w, http.StatusNotFound, "not_found", msg)
	}))
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ready(ctx); err != nil {
		h.log.Warn("readiness: the store cannot store deliveries", "error", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer or does not take writes")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// metrics are the ingress metrics. Event, queue and deploy metrics are
// registered by their own packages in the same registry.
type metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_webhook_deliveries_total",
			Help: "Webhook deliveries received, by source (github, git) and outcome (accepted, known_tag, redelivered, duplicate, ignored, ping, or the error code).",
		}, []string{"source", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.deliveries, m.latency)
	return m
}

// timed records a route's latency by status code.
func (h *Handler) timed(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		h.metrics.latency.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (webhooks set
// their body's read deadline through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes hookd's error body: a stable code for programs and a
// message for people.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}
