package ui

import (
	"context"
	"crypto/sha256"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Store is what the dashboard reads, and re-queues for retry and replay;
// *store.Store has it.
type Store interface {
	Tags(ctx context.Context, repository string, deleted bool) ([]store.Tag, error)
	TagsVersion(ctx context.Context, repository string) (string, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Event(ctx context.Context, id int64) (store.Event, error)
	Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	Delivery(ctx context.Context, id string) (store.Delivery, error)
	Replay(ctx context.Context, id string) error
	Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Run(ctx context.Context, id int64) (store.Run, error)
	RetryRun(ctx context.Context, id int64) error
	LatestRuns(ctx context.Context, repository, artifact string) ([]store.LaneRuns, error)
	RunsVersion(ctx context.Context, repository string) (time.Time, error)
	RunsChangedSince(ctx context.Context, repository string, since time.Time, limit int) ([]store.Run, error)
	// Lanes tells each environment's desired and deployed state.
	Lanes(ctx context.Context, f store.LaneFilter) ([]store.Lane, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// Repository is a configured repository as the dashboard shows it.
type Repository struct {
	// Name is what the API and scopes call it (owner/name).
	Name string
	// Identity is what records call it (a GitHub owner/name, or a local
	// repository's path).
	Identity string
	// WebURL is its page on GitHub ("" for a local repository): the
	// dashboard links to it and to its commits.
	WebURL string
	// Promotion is the order stages are entered in; empty: none.
	Promotion []string
}

// Tokens maps the SHA-256 of each API token to who holds it, as the API
// knows them.
type Tokens map[[sha256.Size]byte]access.Principal

// Options configures New.
type Options struct {
	Store Store
	// Changes carries out writes, as for the companion API; without it
	// the dashboard offers none.
	Changes *change.Service
	// Sources finds a repository's source by identity, to read its
	// `.gto` and artifacts index (never its tags).
	Sources func(identity string) (source.Source, error)
	// SecureCookies marks cookies Secure on plain HTTP requests too: hookd
	// behind a proxy that terminates TLS (public_url is https).
	SecureCookies bool
	Logger        *slog.Logger
}

// Handler serves the dashboard under /ui/.
type Handler struct {
	store   Store
	changes *change.Service
	log     *slog.Logger
	secure  bool
	regs    *registries
	events  *eventCache
	envRuns *laneRuns
	tokens  atomic.Pointer[Tokens]
	repos   atomic.Pointer[repositories]
	pages   map[string]*template.Template
	mux     *http.ServeMux
}

// New builds the dashboard. It lets nobody in until SetTokens configures
// tokens, and shows nothing until SetRepositories names repositories.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, changes: o.Changes, log: o.Logger, secure: o.SecureCookies}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.regs = newRegistries(o.Store, o.Sources, h.log)
	h.events = newEventCache(o.Store)
	h.envRuns = newLaneRuns(o.Store)
	h.tokens.Store(&Tokens{})
	h.SetRepositories(nil)
	h.pages = parsePages()
	h.routes()
	return h
}

// SetTokens replaces the tokens that may sign in, at once; sessions of a
// token that is gone end with it.
func (h *Handler) SetTokens(t Tokens) { h.tokens.Store(&t) }

// SetRepositories replaces the repositories shown, at once.
func (h *Handler) SetRepositories(rs []Repository) {
	set := &repositories{list: rs, byName: map[string]Repository{}, byIdentity: map[string]Repository{}}
	for _, r := range rs {
		set.byName[r.Name] = r
		set.byIdentity[r.Identity] = r
	}
	h.repos.Store(set)
}

type repositories struct {
	list       []Repository
	byName     map[string]Repository
	byIdentity map[string]Repository
}

// named is the repository the path's {owner}/{repo} names.
func (h *Handler) named(r *http.Request) (Repository, bool) {
	repo, ok := h.repos.Load().byName[r.PathValue("owner")+"/"+r.PathValue("repo")]
	return repo, ok
}

// apiName is what scopes call the repository a record names by identity.
func (h *Handler) apiName(identity string) string {
	if r, ok := h.repos.Load().byIdentity[identity]; ok {
		return r.Name
	}
	return identity
}

// readable lists the repositories the principal may read.
func (h *Handler) readable(p access.Principal) []Repository {
	var out []Repository
	for _, r := range h.repos.Load().list {
		if p.Allows(access.Request{Repository: r.Name, Operation: access.Read}) {
			out = append(out, r)
		}
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	h.mux.ServeHTTP(w, r)
}

// securityHeaders keep pages out of frames and scripts to the embedded
// ones: htmx never evaluates code (see the htmx-config meta tag), and no
// template has inline script or style.
func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
}

func (h *Handler) routes() {
	h.mux = http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	h.mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	h.mux.HandleFunc("GET /ui/signin", h.signInPage)
	h.mux.HandleFunc("POST /ui/signin", h.signIn)
	h.mux.Handle("POST /ui/signout", h.session(h.signOut))

	h.mux.Handle("GET /ui/{$}", h.session(h.models))
	h.mux.Handle("GET /ui/repos/{owner}/{repo}/artifacts/{name}", h.session(h.model))
	h.mux.Handle("GET /ui/repos/{owner}/{repo}/{op}", h.session(h.writeDialog))
	h.mux.Handle("POST /ui/repos/{owner}/{repo}/{op}/preview", h.session(h.writePreview))
	h.mux.Handle("POST /ui/repos/{owner}/{repo}/{op}", h.session(h.write))
	h.mux.Handle("GET /ui/runs", h.session(h.runs))
	h.mux.Handle("GET /ui/runs/{id}", h.session(h.run))
	h.mux.Handle("POST /ui/runs/{id}/retry", h.session(h.retry))
	h.mux.Handle("GET /ui/deliveries", h.session(h.deliveries))
	h.mux.Handle("POST /ui/deliveries/{id}/replay", h.session(h.replay))
	h.mux.Handle("GET /ui/audit", h.session(h.audit))
	h.mux.Handle("/ui/", h.session(func(w http.ResponseWriter, r *http.Request, s *session) {
		h.notFound(w, r, s, "There is no page at "+r.URL.Path+".")
	}))
}

// htmx reports whether r was sent by htmx for a part of a page.
func htmx(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// target is the id of the element an htmx request will swap.
func target(r *http.Request) string {
	if !htmx(r) {
		return ""
	}
	return strings.TrimPrefix(r.Header.Get("HX-Target"), "#")
}
