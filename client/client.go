package client

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
	"strings"
	"time"
)

// Client talks to one hookd server's /api/v1. It is safe for concurrent
// use. Create it with New.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	hc        *http.Client
	userAgent string
}

// Option configures New.
type Option func(*Client)

// WithToken sends token as the bearer token of every call. Keep tokens
// out of command lines; read them from the environment.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces the HTTP client. Its CheckRedirect should stop
// at the first redirect, as the default one does: following one turns a
// write into a GET and sends the token to another host.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent names the program in the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// DefaultTimeout bounds one call, answer included, with the default HTTP
// client. A write waits for its tags' events (10s at most on the server's
// side) and may go through the GitHub API.
const DefaultTimeout = time.Minute

// MaxBody bounds an answer read into memory: `show` of a registry of tens
// of thousands of tags is tens of MB.
const MaxBody = 256 << 20

// New returns a client for the hookd server at baseURL
// ("https://hookd.example.com", with a path prefix if it is served under
// one).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("hookd client: %q is not the server's http:// or https:// URL", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	c := &Client{
		base:      strings.TrimSuffix(u.String(), "/"),
		userAgent: "hookd-client",
		hc: &http.Client{
			Timeout:       DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an answer that is not a success. For hookd's own refusals
// Code is its stable error code ("forbidden", "not_found", "conflict",
// ...) and Message its words: for a rule GTO enforces, GTO's own. Other
// answers (a proxy's, another service at that URL, a redirect) have no
// Code and a Message that says what came back.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	// Tags and Output are what a write created before a later step
	// failed: those tags exist.
	Tags   []string
	Output []string
	// Location is where a redirect leads.
	Location string
}

func (e *Error) Error() string { return e.Message }

// CallOption changes one call.
type CallOption func(*callOptions)

type callOptions struct {
	body *[]byte
}

// KeepBody stores the answer's body, as the server sent it, in *dst: for
// printing exactly what the server said (its JSON keeps the order of keys
// and values such as custom annotations that typed answers do not).
func KeepBody(dst *[]byte) CallOption { return func(o *callOptions) { o.body = dst } }

// do sends one call and decodes a successful answer into out (when not
// nil). want is the success status: 200, 201 or 202.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, want int, opts []CallOption) error {
	var co callOptions
	for _, o := range opts {
		o(&co)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.networkError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return c.networkError(ctx, err)
	}
	if len(raw) > MaxBody {
		return fmt.Errorf("the hookd server at %s answered more than %d MiB", c.base, MaxBody>>20)
	}
	if co.body != nil {
		*co.body = raw
	}
	switch {
	case resp.StatusCode == want:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("the hookd server at %s answered %s %s with unexpected JSON: %v", c.base, method, req.URL.Path, err)}
		}
		return nil
	case resp.StatusCode/100 == 2:
		// Not what hookd answers: a proxy's, or another service's.
		what := http.StatusText(want)
		switch want {
		case http.StatusCreated:
			what += ": nothing is known to have been created"
		case http.StatusAccepted:
			what += ": nothing is known to have been queued"
		}
		return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("the hookd server at %s answered %s to %s %s, not %d %s",
			c.base, resp.Status, method, req.URL.Path, want, what)}
	case resp.StatusCode/100 == 3 && resp.Header.Get("Location") != "":
		return c.redirected(resp)
	}
	return c.errorOf(resp, raw)
}

// redirected says where a redirect leads, and the base URL that goes
// there directly.
func (c *Client) redirected(resp *http.Response) error {
	to, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("the hookd server at %s answered %s with a Location that is no URL", c.base, resp.Status)}
	}
	e := &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("the hookd server at %s redirects to %s (%s)", c.base, to.Redacted(), resp.Status)}
	// The API's path, without the base URL's own path, is what the new
	// base is followed by.
	var prefix string
	if u, err := url.Parse(c.base); err == nil {
		prefix = u.Path
	}
	if base, ok := strings.CutSuffix(to.Path, strings.TrimPrefix(resp.Request.URL.Path, prefix)); ok {
		u := *to
		u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = base, "", "", "", nil
		e.Location = strings.TrimSuffix(u.String(), "/")
	}
	return e
}

// errorOf is the error an answer that is not a success stands for.
func (c *Client) errorOf(resp *http.Response, raw []byte) error {
	var e struct {
		Code    string   `json:"error"`
		Message string   `json:"message"`
		Tags    []string `json:"tags"`
		Output  []string `json:"output"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		// Not hookd's answer: a proxy's, or no hookd at that URL.
		return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("the hookd server at %s answered %s to %s %s",
			c.base, resp.Status, resp.Request.Method, resp.Request.URL.Path)}
	}
	return &Error{StatusCode: resp.StatusCode, Code: e.Code, Message: e.Message, Tags: e.Tags, Output: e.Output}
}

// networkError says why the server could not be asked.
func (c *Client) networkError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.hc.Timeout > 0 {
			return fmt.Errorf("the hookd server at %s did not answer within %s", c.base, c.hc.Timeout)
		}
		return fmt.Errorf("the hookd server at %s did not answer in time", c.base)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the hookd server at %s: %v", c.base, err)
}
