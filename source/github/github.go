// Package github is a source.Source over the GitHub API: it lists a
// repository's tags with their tag objects, reads files, resolves commits
// and creates annotated tags, and it offers the deployment and dispatch
// calls that deploy actions report through.
//
// Reading is built for a reconciler that re-reads often: the ref listing,
// `.gto` and branch lookups are conditional REST requests (an unchanged
// repository costs 304s, which GitHub does not count against the rate
// limit), and tag objects and commits, being immutable, are fetched once
// per Repo, a hundred to a GraphQL query. GraphQL also keeps the UTC
// offsets of tagger, author and committer dates, which REST drops. Rate
// limits are waited out within a bounded time (or not at all, under
// source.WithoutWaiting: a *RateLimitError says until when), and failed
// reads are retried with a bounded backoff. No error carries a credential: what the
// requests carried is taken out of what the answers say (credentials.go).
//
// What listing costs, for a repository of 10,000 annotated tags (measured
// against the GitHub stand-in with
// `go test ./source/github -run TestListingCost -cost-tags=10000 -v`):
// cold, 101 requests: the listing (one of the 5,000 REST requests an hour)
// and 100 GraphQL queries (100 of the 5,000 GraphQL points an hour); warm
// and unchanged, one 304, not counted; warm after k new tags, the listing
// and ceil(k/100) queries.
package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"golang.org/x/oauth2"

	"github.com/hookd-dev/hookd/source"
)

// Repo is one GitHub repository. It is safe for concurrent use.
type Repo struct {
	owner, name string
	gh          *github.Client
	hc          *http.Client // gh's, for GraphQL, which go-github does not speak
	graphqlURL  string
	limits      Limits
	meter       *meter
	creds       *credentials // what to keep out of errors
	tags        tagCache
	commits     commitCache
	files       bounded[string, fileAt] // by "sha:path"
	recent      recentReads             // files at branches, by "ref:path"
	hold        hold                    // a rate limit every call waits out
}

var (
	_ source.Source       = (*Repo)(nil)
	_ source.CommitReader = (*Repo)(nil)
	_ source.HeadReader   = (*Repo)(nil)
)

// Limits bound how long a call may wait for GitHub.
type Limits struct {
	// MaxWait is the longest a call waits in total for rate limits (REST's
	// or GraphQL's) to reset (Retry-After or X-RateLimit-Reset). A call
	// that would have to wait longer fails at once with a *RateLimitError,
	// GitHub's message and when the limit lifts. Default 1 minute.
	MaxWait time.Duration
	// Retries is how many times a read answered with a 5xx is retried.
	// Default 3; negative means none.
	Retries int
	// Backoff is the wait before the first retry; it doubles each time.
	// Default 500ms.
	Backoff time.Duration
	// RequestTimeout bounds one HTTP request. GitHub itself ends API
	// requests that take over 10 s, so an answer later than that is not
	// coming (a hung connection or proxy), and a listing must not hold its
	// repository, and every delivery waiting for it, for good. Default 15s.
	RequestTimeout time.Duration
}

func (l *Limits) setDefaults() {
	if l.MaxWait == 0 {
		l.MaxWait = time.Minute
	}
	if l.Retries == 0 {
		l.Retries = 3
	}
	if l.Backoff == 0 {
		l.Backoff = 500 * time.Millisecond
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = 15 * time.Second
	}
}

// Option configures New and Open.
type Option func(*config)

type config struct {
	token      string
	app        *appAuth
	baseURL    string
	graphqlURL string
	enterprise string
	transport  http.RoundTripper
	limits     Limits
}

type appAuth struct {
	appID, installationID int64
	keyFile               string
}

// WithToken authenticates with a personal access token, an installation
// token or GITHUB_TOKEN from Actions. Without WithToken or WithApp, the
// token comes from the GITHUB_TOKEN (or GH_TOKEN) environment variable, and
// requests are anonymous if neither is set.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithApp authenticates as an installation of a GitHub App, with the App's
// private key (PEM) read from keyFile. Installation tokens are minted and
// renewed as needed.
func WithApp(appID, installationID int64, keyFile string) Option {
	return func(c *config) { c.app = &appAuth{appID, installationID, keyFile} }
}

// WithEnterprise points the client at a GitHub Enterprise Server, given
// its base URL ("https://ghe.example.com/"; "/api/v3/" is added).
func WithEnterprise(baseURL string) Option { return func(c *config) { c.enterprise = baseURL } }

// WithBaseURL sets the REST API base URL exactly as given (no "/api/v3/"
// is added), for API-compatible servers.
func WithBaseURL(apiURL string) Option { return func(c *config) { c.baseURL = apiURL } }

// WithGraphQLURL sets the GraphQL endpoint exactly as given. By default it
// follows the REST base URL: https://api.github.com/graphql, or
// https://HOST/api/graphql for a base URL ending in /api/v3/, or else the
// base URL with "graphql" added.
func WithGraphQLURL(u string) Option { return func(c *config) { c.graphqlURL = u } }

// WithTransport sets the HTTP transport under authentication
// (http.DefaultTransport by default).
func WithTransport(rt http.RoundTripper) Option { return func(c *config) { c.transport = rt } }

// WithLimits sets the waiting and retry bounds; zero fields keep their
// defaults.
func WithLimits(l Limits) Option { return func(c *config) { c.limits = l } }

// New returns the repository owner/name.
func New(owner, name string, opts ...Option) (*Repo, error) {
	if owner == "" || name == "" || strings.Contains(owner, "/") || strings.Contains(name, "/") {
		return nil, fmt.Errorf("github: invalid repository %q", owner+"/"+name)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	c.limits.setDefaults()
	if c.transport == nil {
		c.transport = http.DefaultTransport
	}
	if c.token == "" && c.app == nil {
		c.token = cmp.Or(os.Getenv("GITHUB_TOKEN"), os.Getenv("GH_TOKEN"))
	}

	creds := &credentials{base: c.transport}
	var auth http.RoundTripper = creds
	var installation *ghinstallation.Transport
	switch {
	case c.app != nil:
		itr, err := ghinstallation.NewKeyFromFile(creds, c.app.appID, c.app.installationID, c.app.keyFile)
		if err != nil {
			return nil, fmt.Errorf("github: app key: %w", err)
		}
		installation, auth = itr, itr
	case c.token != "":
		auth = &oauth2.Transport{Base: creds, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.token})}
	}
	m := &meter{base: &revalidator{base: auth}}
	m.core.remaining, m.graphql.remaining = -1, -1
	hc := &http.Client{Transport: m, Timeout: c.limits.RequestTimeout}
	gh := github.NewClient(hc)

	switch {
	case c.baseURL != "":
		u, err := url.Parse(c.baseURL)
		if err != nil {
			return nil, fmt.Errorf("github: base URL: %w", err)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		gh.BaseURL, gh.UploadURL = u, u
	case c.enterprise != "":
		var err error
		if gh, err = gh.WithEnterpriseURLs(c.enterprise, c.enterprise); err != nil {
			return nil, fmt.Errorf("github: enterprise URL: %w", err)
		}
	}
	if installation != nil {
		// Installation tokens are minted by the same API the client talks to.
		installation.BaseURL = strings.TrimSuffix(gh.BaseURL.String(), "/")
	}
	if c.graphqlURL == "" {
		c.graphqlURL = graphqlEndpoint(gh.BaseURL)
	}
	return &Repo{owner: owner, name: name, gh: gh, hc: hc, graphqlURL: c.graphqlURL, limits: c.limits, meter: m, creds: creds}, nil
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.owner + "/" + r.name }

// Client is the underlying go-github client, for calls this package does
// not wrap. Calls made through it are counted in Stats but not retried.
func (r *Repo) Client() *github.Client { return r.gh }

// Error is an error answer from GitHub. Its text is GitHub's own message,
// e.g. "github: 422 Reference already exists"; Unwrap gives go-github's
// error (*github.ErrorResponse, *github.RateLimitError, ...), if any.
type Error struct {
	// Status is the HTTP status; 0 for GraphQL errors, which come in a 200.
	Status  int
	Message string
	err     error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "github: " + e.Message
	}
	return fmt.Sprintf("github: %d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// apiError turns go-github's errors, whose text carries the method and URL,
// into one-line GitHub messages, without the credentials they may echo.
// Other errors (network, context) pass through with a prefix.
func (r *Repo) apiError(err error) error {
	var (
		ge  *Error
		rl  *github.RateLimitError
		ab  *github.AbuseRateLimitError
		er  *github.ErrorResponse
		msg string
		hr  *http.Response
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ge):
		return err // already GitHub's message
	case errors.As(err, &rl):
		msg, hr = rl.Message, rl.Response
	case errors.As(err, &ab):
		msg, hr = ab.Message, ab.Response
	case errors.As(err, &er):
		msg, hr = er.Message, er.Response
		for _, d := range er.Errors {
			msg += "; " + cmp.Or(d.Message, strings.Trim(d.Resource+"."+d.Field+" "+d.Code, ". "))
		}
	default:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("github: %w", err)
	}
	e := &Error{Message: r.creds.redact(msg), err: err}
	// GraphQL answers its errors with a 200, which says nothing of them.
	if hr != nil && hr.StatusCode != http.StatusOK {
		e.Status = hr.StatusCode
	}
	if e.Message == "" && hr != nil {
		e.Message = http.StatusText(hr.StatusCode)
	}
	return e
}

// statusOf is the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// escapePath escapes each segment of a ref or path for use in a URL path,
// keeping the slashes: tag names contain '#', which would otherwise start
// a fragment.
func escapePath(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
