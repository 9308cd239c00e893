package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/registry"
)

// Remote mode: with --server (or HOOKD_SERVER), the registry commands ask
// a hookd server's API instead of reading and writing tags themselves. The
// server checks the token's scopes, applies the repository's promotion
// order, creates the tags and records who asked.
const (
	serverEnv = "HOOKD_SERVER"
	tokenEnv  = "HOOKD_TOKEN"
	// remoteTimeout bounds one call to the server, answer included. A
	// write waits for the tags' events (10s at most on the server's side)
	// and may go through the GitHub API.
	remoteTimeout = time.Minute
	// remoteBodyLimit bounds an answer read into memory: `show --json` of
	// a registry of tens of thousands of tags is tens of MB.
	remoteBodyLimit = 256 << 20
)

// remoteFlags are the global --server and --token.
type remoteFlags struct {
	server, token string
}

func (a *app) addRemoteFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.remote.server, "server", "", "hookd server to send registry commands to, e.g. https://hookd.example.com (default $"+serverEnv+")")
	f.StringVar(&a.remote.token, "token", "", "API token for --server; prefer $"+tokenEnv+": a command line is visible to other users")
}

// localOnlyFlags are write flags that act on a local clone, which a server
// does not have.
var localOnlyFlags = []string{"push", "delete", "author", "author-email"}

// apiRepo is a repository as the API calls it: owner/name.
var apiRepo = regexp.MustCompile(`^[^/\s]+/[^/\s]+$`)

// server returns the hookd server cmd is to ask, or nil in local mode. It
// is a usage error to give the server a flag it cannot honour, or no
// --repo.
func (a *app) server(cmd *cobra.Command, repo string) (*server, error) {
	base := a.remote.server
	if !cmd.Flags().Changed("server") {
		base = os.Getenv(serverEnv)
	}
	if base == "" {
		return nil, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, usagef("--server %q: want the server's http:// or https:// URL", base)
	}
	for _, name := range localOnlyFlags {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			return nil, usagef("--%s applies to a local repository only; with --server the server creates the tags", name)
		}
	}
	if !cmd.Flags().Changed("repo") {
		return nil, usagef("--server needs -r/--repo owner/name, the repository as the server calls it")
	}
	name := strings.TrimPrefix(repo, "github:")
	if !apiRepo.MatchString(name) {
		return nil, usagef("--repo %q: with --server, name the repository owner/name (or github:owner/name)", repo)
	}
	token := a.remote.token
	if cmd.Flags().Changed("token") {
		fmt.Fprintf(a.stderr, "warning: a token given with --token is visible to other users of this machine; prefer $%s\n", tokenEnv)
	} else {
		token = os.Getenv(tokenEnv)
	}
	owner, repoName, _ := strings.Cut(name, "/")
	u.RawQuery, u.Fragment = "", ""
	return &server{
		base:  strings.TrimSuffix(u.String(), "/"),
		repo:  "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repoName),
		token: token,
		client: &http.Client{
			Timeout: remoteTimeout,
			// A redirect is reported, not followed: following it turns a
			// POST into a GET, and drops the token on another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		},
	}, nil
}

// server is a hookd server's API for one repository.
type server struct {
	base   string // scheme://host[/prefix], no trailing slash
	repo   string // /api/v1/repos/{owner}/{repo}
	token  string
	client *http.Client
}

// apiError is an error answer: {"error": code, "message": text}. Its
// message is the server's, GTO's words for a rule GTO enforces.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// call sends one request to the repository's API and returns the answer's
// body when it is a success.
func (s *server) call(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	target := s.base + s.repo + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hookd-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.networkError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, remoteBodyLimit+1))
	if err != nil {
		return nil, s.networkError(ctx, err)
	}
	if len(raw) > remoteBodyLimit {
		return nil, fmt.Errorf("the hookd server at %s answered more than %d MiB", s.base, remoteBodyLimit>>20)
	}
	switch {
	case method == http.MethodPost && resp.StatusCode == http.StatusCreated, method != http.MethodPost && resp.StatusCode == http.StatusOK:
		return raw, nil
	case resp.StatusCode/100 == 2:
		// Not what hookd answers: a proxy's, or another service's.
		want := "200 OK"
		if method == http.MethodPost {
			want = "201 Created: nothing is known to have been created"
		}
		return nil, &apiError{status: resp.StatusCode, message: fmt.Sprintf("the hookd server at %s answered %s to %s %s, not %s",
			s.base, resp.Status, method, req.URL.Path, want)}
	case resp.StatusCode/100 == 3 && resp.Header.Get("Location") != "":
		return nil, s.redirected(resp)
	}
	return raw, s.errorOf(resp, raw)
}

// redirected says where a redirect leads, and the --server that goes
// there directly.
func (s *server) redirected(resp *http.Response) error {
	to, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return &apiError{status: resp.StatusCode, message: fmt.Sprintf("the hookd server at %s answered %s with a Location that is no URL", s.base, resp.Status)}
	}
	msg := fmt.Sprintf("the hookd server at %s redirects to %s (%s)", s.base, to.Redacted(), resp.Status)
	// The API's path, without the --server URL's own path, is what the
	// new base is followed by.
	var prefix string
	if u, err := url.Parse(s.base); err == nil {
		prefix = u.Path
	}
	if base, ok := strings.CutSuffix(to.Path, strings.TrimPrefix(resp.Request.URL.Path, prefix)); ok {
		u := *to
		u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = base, "", "", "", nil
		msg += "; use --server " + strings.TrimSuffix(u.String(), "/")
	}
	return &apiError{status: resp.StatusCode, message: msg}
}

// errorOf is the error an answer that is not a success stands for.
func (s *server) errorOf(resp *http.Response, raw []byte) error {
	var e struct {
		Code    string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		// Not hookd's answer: a proxy's, or no hookd at that URL.
		return &apiError{status: resp.StatusCode, message: fmt.Sprintf("the hookd server at %s answered %s to %s %s",
			s.base, resp.Status, resp.Request.Method, resp.Request.URL.Path)}
	}
	msg := e.Message
	if resp.StatusCode == http.StatusUnauthorized && s.token == "" {
		msg += " (no token given: set $" + tokenEnv + ")"
	}
	return &apiError{status: resp.StatusCode, code: e.Code, message: msg}
}

// networkError says why the server could not be asked.
func (s *server) networkError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the hookd server at %s did not answer within %s", s.base, remoteTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the hookd server at %s: %v", s.base, err)
}

// write asks the server for one write and prints what gto prints for the
// tags it created: the same lines local mode prints for a repository whose
// tags are created remotely, with nothing to push.
func (s *server) write(ctx context.Context, stdout io.Writer, op access.Operation, req change.Request) error {
	raw, err := s.call(ctx, http.MethodPost, "/"+string(op), nil, req)
	// An answer may report tags created before a later step failed; the
	// user must know they exist.
	var res struct {
		Output []string `json:"output"`
	}
	if jerr := json.Unmarshal(raw, &res); jerr != nil && err == nil {
		return fmt.Errorf("the hookd server at %s answered with a body that is not JSON: %v", s.base, jerr)
	}
	for _, line := range res.Output {
		fmt.Fprintln(stdout, line)
	}
	// Without the server's answer, whether the tags were created is not
	// known: running the write again could create them twice.
	if ae := (*apiError)(nil); err != nil && !errors.As(err, &ae) {
		return fmt.Errorf("%w; the write may have been carried out: check with hookd history %s before running it again", err, req.Artifact)
	}
	return err
}

// remoteReader answers the read commands from a hookd server: the same
// JSON `gto ... --json` prints, which --json prints as received and the
// tables are drawn from.
type remoteReader struct{ s *server }

// get reads one JSON answer, and keeps it for --json.
func get[T any](ctx context.Context, s *server, path string, query url.Values) (answer[T], error) {
	raw, err := s.call(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return answer[T]{}, err
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return answer[T]{}, fmt.Errorf("the hookd server at %s answered %s with unexpected JSON: %v", s.base, path, err)
	}
	return answer[T]{data: v, raw: raw}, nil
}

// showQuery is show's options as query parameters, named after the
// flags; defaults are left out.
func showQuery(o registry.ShowOptions) url.Values {
	q := url.Values{}
	d := registry.DefaultShowOptions()
	if o.RegisteredOnly {
		q.Set("registered_only", "true")
	}
	if o.Deprecated {
		q.Set("deprecated", "true")
	}
	if o.AssignmentsPerVersion != d.AssignmentsPerVersion {
		q.Set("assignments_per_version", strconv.Itoa(o.AssignmentsPerVersion))
	}
	if o.VersionsPerStage != d.VersionsPerStage {
		q.Set("versions_per_stage", strconv.Itoa(o.VersionsPerStage))
	}
	if o.Sort == registry.SortSemVer {
		q.Set("sort", "semver")
	}
	return q
}

func (r remoteReader) show(ctx context.Context, opts registry.ShowOptions) (answer[registry.Overview], error) {
	an, err := get[overviewJSON](ctx, r.s, "/artifacts", showQuery(opts))
	return answer[registry.Overview]{data: registry.Overview(an.data), raw: an.raw}, err
}

func (r remoteReader) showArtifact(ctx context.Context, name, ref string, opts registry.ShowOptions) (answer[[]registry.VersionState], error) {
	q := showQuery(opts)
	if ref != "" {
		q.Set("ref", ref)
	}
	return get[[]registry.VersionState](ctx, r.s, "/artifacts/"+url.PathEscape(name), q)
}

// registered asks the overview, which says for every artifact, deprecated
// ones included, whether it is registered.
func (r remoteReader) registered(ctx context.Context, artifact string) (bool, error) {
	an, err := r.show(ctx, registry.ShowOptions{Deprecated: true, AssignmentsPerVersion: -1, VersionsPerStage: 1})
	if err != nil {
		return false, err
	}
	s, ok := an.data.Get(artifact)
	return !ok || s.Registered, nil
}

func (r remoteReader) history(ctx context.Context, name string, ascending bool) (answer[[]registry.HistoryEntry], error) {
	path := "/history"
	if name != "" {
		path = "/artifacts/" + url.PathEscape(name) + "/history"
	}
	q := url.Values{}
	if ascending {
		q.Set("ascending", "true")
	}
	return get[[]registry.HistoryEntry](ctx, r.s, path, q)
}

func (r remoteReader) stages(ctx context.Context, allowed, used bool) (answer[[]string], error) {
	q := url.Values{}
	if allowed {
		q.Set("allowed", "true")
	}
	if used {
		q.Set("used", "true")
	}
	return get[[]string](ctx, r.s, "/stages", q)
}

func (r remoteReader) checkRef(ctx context.Context, tag string) (answer[[]registry.EventState], error) {
	return get[[]registry.EventState](ctx, r.s, "/check-ref", url.Values{"tag": {tag}})
}

// overviewJSON reads `gto show --json`, keeping the order of artifacts and
// of each artifact's stages, which the table's columns follow.
type overviewJSON registry.Overview

func (o *overviewJSON) UnmarshalJSON(b []byte) error {
	*o = overviewJSON{}
	return eachKey(b, func(name string, value []byte) error {
		var s struct {
			Version    *string         `json:"version"`
			Stage      json.RawMessage `json:"stage"`
			Registered bool            `json:"registered"`
			Active     bool            `json:"active"`
		}
		if err := json.Unmarshal(value, &s); err != nil {
			return err
		}
		sum := registry.ArtifactSummary{Version: s.Version, Stage: registry.OrderedMap[*string]{}, Registered: s.Registered, Active: s.Active}
		err := eachKey(s.Stage, func(stage string, value []byte) error {
			var v *string
			if err := json.Unmarshal(value, &v); err != nil {
				return err
			}
			sum.Stage = append(sum.Stage, registry.KeyValue[*string]{Key: stage, Value: v})
			return nil
		})
		*o = append(*o, registry.KeyValue[registry.ArtifactSummary]{Key: name, Value: sum})
		return err
	})
}

// eachKey calls fn with each key of the JSON object b and its value, in
// order.
func eachKey(b []byte, fn func(key string, value []byte) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want a JSON object, not %.40s", b)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := fn(t.(string), v); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// writeRawJSON prints JSON received from a server as writeJSON prints the
// same value: keys in the order received, indented by four spaces, strings
// escaped as writeJSON escapes them (whatever escaping the server chose).
func writeRawJSON(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var compact bytes.Buffer
	type level struct {
		object bool
		n      int // tokens written inside it
	}
	var stack []level
	str := json.NewEncoder(&compact)
	str.SetEscapeHTML(false)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("the server's JSON: %v", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			compact.WriteByte(byte(d))
			continue
		}
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.n%2 == 1:
				compact.WriteByte(':')
			case top.n > 0:
				compact.WriteByte(',')
			}
			top.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			compact.WriteByte(byte(t))
			stack = append(stack, level{object: t == '{'})
		case string:
			if err := str.Encode(t); err != nil {
				return err
			}
			compact.Truncate(compact.Len() - 1) // Encode's newline
		case json.Number:
			compact.WriteString(t.String())
		case bool:
			compact.WriteString(strconv.FormatBool(t))
		case nil:
			compact.WriteString("null")
		}
	}
	return registry.IndentJSON(w, compact.Bytes())
}
