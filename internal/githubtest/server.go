package githubtest

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/testenv"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Owner and Name make the repository owner/name ("octo-org/models" if empty).
	Owner, Name string
	// Token is the credential every REST and git request must carry
	// ("Authorization: Bearer|token TOKEN", or basic auth with the token as
	// password). Defaults to "ghs_testtoken".
	Token string
	// DefaultBranch of the repository (default "main").
	DefaultBranch string
	// RateLimit is the hourly REST budget (default 5000, GitHub's for a token).
	RateLimit int
	// GraphQLRateLimit is the hourly GraphQL budget in points (default
	// 5000), kept apart from the REST budget as on GitHub.
	GraphQLRateLimit int
	// RESTTagEvents makes tag refs created or deleted through the REST API
	// emit push and create/delete webhooks as a one-ref push would. GitHub's
	// behaviour here is unconfirmed, so tests should run both ways.
	RESTTagEvents bool
	// AppID, when set, makes the server also play that GitHub App's
	// installation InstallationID (default 1): see AppPrivateKeyPEM.
	AppID, InstallationID int64
	// DeliveryTimeout is how long a webhook receiver has to answer
	// (default 10s as on github.com; GitHub Enterprise Server waits 30s).
	DeliveryTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Owner == "" {
		o.Owner = "octo-org"
	}
	if o.Name == "" {
		o.Name = "models"
	}
	if o.Token == "" {
		o.Token = "ghs_testtoken"
	}
	if o.DefaultBranch == "" {
		o.DefaultBranch = "main"
	}
	if o.RateLimit == 0 {
		o.RateLimit = 5000
	}
	if o.GraphQLRateLimit == 0 {
		o.GraphQLRateLimit = 5000
	}
	if o.InstallationID == 0 {
		o.InstallationID = 1
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = 10 * time.Second
	}
}

// Server is a GitHub stand-in for one repository. Create it with New.
type Server struct {
	t       testing.TB
	opts    Options
	srv     *httptest.Server
	bareDir string
	home    string
	backend *cgi.Handler
	appKey  *rsa.PrivateKey // nil unless Options.AppID is set
	created time.Time
	routes  []route
	closing chan struct{}

	// refMu serialises every change to refs, so that the refs compared
	// before and after a receive-pack changed only because of that push.
	refMu sync.Mutex

	// rateReset is when the hourly budget would renew; a test never lasts
	// that long, so it is fixed at start.
	rateReset time.Time

	mu          sync.Mutex
	pushedAt    time.Time // last ref change through git or REST
	rateUsed    int
	graphqlUsed int // points
	requests    []Request
	restFaults  armed[RESTFault]
	nextID      int64
	deployments []*Deployment
	workflows   []WorkflowDispatch
	repoEvents  []RepositoryDispatch
	webhooks    webhookState
}

// New starts a stand-in with an empty bare repository and stops it when the
// test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	gitPath := testenv.Git(t)
	opts.setDefaults()
	root := t.TempDir()
	s := &Server{
		t:         t,
		opts:      opts,
		bareDir:   filepath.Join(root, "repos", opts.Owner, opts.Name+".git"),
		home:      filepath.Join(root, "home"),
		created:   time.Now().UTC().Truncate(time.Second),
		pushedAt:  time.Now().UTC().Truncate(time.Second),
		closing:   make(chan struct{}),
		rateReset: time.Now().Add(time.Hour).Truncate(time.Second),
		nextID:    1000,
	}
	s.webhooks.init()
	for _, dir := range []string{s.bareDir, s.home} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.git("", "init", "--quiet", "--bare", "--initial-branch="+opts.DefaultBranch, s.bareDir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.git("", "config", "http.receivepack", "true"); err != nil {
		t.Fatal(err)
	}
	s.backend = &cgi.Handler{
		Path: gitPath, // cgi needs an absolute path
		Args: []string{"http-backend"},
		Env: append(gitEnv(s.home),
			"GIT_PROJECT_ROOT="+filepath.Join(root, "repos"),
			"GIT_HTTP_EXPORT_ALL=1"),
	}
	s.routes = s.restRoutes()
	if opts.AppID != 0 {
		key, err := newAppKey()
		if err != nil {
			t.Fatal(err)
		}
		s.appKey = key
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s}}
	s.srv.Start()
	go s.webhooks.run(s)
	t.Cleanup(func() {
		close(s.closing) // releases hung requests and held deliveries
		s.srv.Close()
		s.webhooks.wait()
	})
	return s
}

// APIURL is the REST base URL for go-github, ending in "/". The same paths
// also answer under "/api/v3/", so NewClient(hc).WithEnterpriseURLs(APIURL(),
// APIURL()) works too.
func (s *Server) APIURL() string { return s.srv.URL + "/" }

// GitURL is the smart-HTTP clone and push URL of the repository.
func (s *Server) GitURL() string {
	return s.srv.URL + "/" + s.opts.Owner + "/" + s.opts.Name + ".git"
}

// AuthGitURL is GitURL with the token as basic-auth password
// (x-access-token:TOKEN@), the way GitHub Apps and Actions clone.
func (s *Server) AuthGitURL() string {
	return strings.Replace(s.GitURL(), "://", "://x-access-token:"+s.opts.Token+"@", 1)
}

// BareDir is the bare repository on disk that backs the server.
func (s *Server) BareDir() string { return s.bareDir }

// Token is the credential the server accepts.
func (s *Server) Token() string { return s.opts.Token }

// FullName is "owner/name".
func (s *Server) FullName() string { return s.opts.Owner + "/" + s.opts.Name }

// ServeHTTP routes git smart HTTP to git http-backend, POSTs to the
// GraphQL endpoint to it, and everything else to the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/"+s.opts.Owner+"/"+s.opts.Name+".git/"):
		s.serveGit(w, r)
	case r.Method == http.MethodPost && isGraphQLPath(r.URL.Path):
		s.serveGraphQL(w, r)
	default:
		s.serveREST(w, r)
	}
}

// authorized checks the credential the way GitHub accepts a token: as a
// bearer or "token" Authorization header, or as a basic-auth password.
func (s *Server) authorized(r *http.Request) bool {
	if _, pw, ok := r.BasicAuth(); ok {
		return pw == s.opts.Token
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return cred == s.opts.Token
	}
	return false
}

func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		// git only sends credentials after a 401 with a Basic challenge.
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		writeJSON(w, http.StatusUnauthorized, apiError("Bad credentials"))
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		s.backend.ServeHTTP(w, r)
		return
	}
	// A push: hold the ref lock across the receive-pack so the before/after
	// comparison sees this push only, and count it as pending webhook work
	// until its events are queued, so WaitIdle cannot return in between.
	s.webhooks.begin(s)
	defer s.webhooks.end(s)
	s.refMu.Lock()
	defer s.refMu.Unlock()
	before, err := s.listRefs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.backend.ServeHTTP(w, r)
	after, err := s.listRefs()
	if err != nil {
		return // the push already answered; nothing to report
	}
	s.emitRefUpdates(diffRefs(before, after), after, false)
}

// Request is one REST or GraphQL request as the server saw it.
type Request struct {
	Method string
	Path   string // escaped path without the /api/v3 prefix; "/graphql" for GraphQL
	// Endpoint is GitHub's name for the route, such as
	// "GET /repos/{owner}/{repo}/git/matching-refs/{ref}" or
	// "POST /graphql"; empty when no route matched.
	Endpoint string
	Status   int
	// Counted reports whether the request counted against its rate limit
	// (REST's or GraphQL's).
	Counted bool
	// Fault names the injected fault that answered the request, if any.
	Fault string
	// Nodes is how many objects a GraphQL query named, and Cost the points
	// it was charged.
	Nodes, Cost int
	// At is when the request was answered (when a hung one was held).
	At time.Time
	// LimitLifts is, for a rate-limited answer, when GitHub said its
	// limit lifts: Retry-After from At, or X-RateLimit-Reset.
	LimitLifts time.Time
}

// Requests returns every REST and GraphQL request so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCount is how many requests hit endpoint (see Request.Endpoint).
func (s *Server) RequestCount(endpoint string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// RateLimitUsed is how many REST requests counted against the rate limit.
func (s *Server) RateLimitUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateUsed
}

const docsURL = "https://docs.github.com/rest"

// errorBody is GitHub's error document.
type errorBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status,omitempty"`
}

func apiError(msg string) errorBody { return errorBody{Message: msg, DocumentationURL: docsURL} }

var notFound = apiError("Not Found")

// encode renders JSON the way GitHub does: no HTML escaping, no trailing
// newline.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // every value encoded here is built by this package
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_, _ = w.Write(encode(v))
	}
}

// serveREST authenticates, applies injected faults, routes, and wraps the
// answer in GitHub's rate-limit headers and ETag handling.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v3")
	rec := Request{Method: r.Method, Path: path}
	rt, params := s.match(r.Method, path)
	if rt != nil {
		rec.Endpoint = rt.endpoint
	}
	// record logs the request, counting it against the rate limit if asked,
	// and returns the requests used so far.
	record := func(status int, counted bool) (used int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if counted {
			s.rateUsed++
		}
		rec.Status, rec.Counted, rec.At = status, counted, time.Now()
		s.requests = append(s.requests, rec)
		return s.rateUsed
	}
	// answer writes the rate-limit headers as they stand after this
	// request, the status and the body.
	answer := func(status int, counted bool, raw []byte) {
		writeRateHeaders(w, "core", s.opts.RateLimit, record(status, counted), s.rateReset)
		if raw != nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		_, _ = w.Write(raw)
	}

	// App endpoints take the app's JWT, everything else the token.
	authorized := s.authorized(r)
	if rt != nil && rt.appJWT {
		authorized = s.validAppJWT(r)
	}
	if !authorized {
		answer(http.StatusUnauthorized, false, encode(apiError("Bad credentials")))
		return
	}
	if f, ok := s.takeRESTFault(r.Method, path); ok {
		rec.Fault = f.Kind.String()
		s.serveFault(w, r, f, "core", func(status int, lifts time.Time) {
			rec.LimitLifts = lifts
			record(status, false)
		})
		return
	}
	// /rate_limit does not count against the limit on GitHub.
	counts := rt == nil || rt.endpoint != "GET /rate_limit"
	if counts && s.remaining() <= 0 {
		s.writePrimaryRateLimit(w, s.rateReset)
		rec.LimitLifts = time.Unix(s.rateReset.Unix(), 0)
		record(http.StatusForbidden, false)
		return
	}
	status, body := http.StatusNotFound, any(notFound)
	if rt != nil && params != nil { // nil params: another repository
		status, body = rt.handle(r, params)
	}
	if rp, ok := body.(reply); ok {
		for k, v := range rp.header {
			w.Header()[k] = v
		}
		body = rp.body
	}
	var raw []byte
	if body != nil {
		raw = encode(body)
	}
	if r.Method == http.MethodGet && status == http.StatusOK {
		sum := sha256.Sum256(raw)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			answer(http.StatusNotModified, false, nil) // a 304 is free
			return
		}
	}
	answer(status, counts, raw)
}

func etagMatches(header, etag string) bool {
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimPrefix(strings.TrimSpace(c), "W/")
		if c == etag || c == "*" {
			return true
		}
	}
	return false
}

func (s *Server) remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.RateLimit - s.rateUsed
}

// setRateHeaders writes the X-RateLimit-* headers of resource ("core",
// REST's, or "graphql") as they stand.
func (s *Server) setRateHeaders(w http.ResponseWriter, resource string) {
	s.mu.Lock()
	limit, used := s.opts.RateLimit, s.rateUsed
	if resource == "graphql" {
		limit, used = s.opts.GraphQLRateLimit, s.graphqlUsed
	}
	s.mu.Unlock()
	writeRateHeaders(w, resource, limit, used, s.rateReset)
}

func writeRateHeaders(w http.ResponseWriter, resource string, limit, used int, reset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

// writePrimaryRateLimit answers as GitHub does once the hourly budget is
// gone: 403, X-RateLimit-Remaining 0, and when it comes back.
func (s *Server) writePrimaryRateLimit(w http.ResponseWriter, reset time.Time) {
	writeRateHeaders(w, "core", s.opts.RateLimit, s.opts.RateLimit, reset)
	writeJSON(w, http.StatusForbidden, errorBody{
		Message:          "API rate limit exceeded for installation ID 1.",
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
	})
}

// newID hands out ids for deployments, statuses and deliveries.
func (s *Server) newID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return s.nextID
}

// nodeID imitates GitHub's opaque global node ids.
func nodeID(kind string, id any) string {
	return base64.RawStdEncoding.EncodeToString([]byte(fmt.Sprint(kind, ":", id)))
}
