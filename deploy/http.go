package deploy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// HTTPAction sends a request.
type HTTPAction struct {
	// Method defaults to POST.
	Method string `yaml:"method"`
	// URL is templated.
	URL string `yaml:"url"`
	// Headers have templated values.
	Headers map[string]string `yaml:"headers"`
	// Body is templated; without it the body is the event as JSON (with
	// the idempotency key and run id beside it).
	Body string `yaml:"body"`
	// SigningSecret, when set, signs the body: hookd sends
	// X-Hookd-Signature-256: sha256=<hex HMAC-SHA256 of the body>, as
	// GitHub does for its webhooks, so the receiver can tell the request
	// came from hookd. Write it as ${ENV_VAR}; it is redacted like the
	// action's secrets.
	SigningSecret Secret `yaml:"signing_secret"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// Accept lists the status codes that mean success (default: any 2xx).
	Accept []int `yaml:"accept"`
}

// SignatureHeader carries the body's HMAC-SHA256 with the signing secret.
const SignatureHeader = "X-Hookd-Signature-256"

// Sign returns the SignatureHeader value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is body's signature with secret,
// in constant time: what a receiver of hookd's requests runs.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}

type httpRunner struct {
	method  string
	url     text
	headers map[string]text
	body    *text // nil: the event as JSON
	secret  Secret
	limit   time.Duration
	accept  []int
	client  *http.Client
}

func (a *HTTPAction) compile(c *compiler) runner {
	r := &httpRunner{
		method:  a.Method,
		url:     c.text(a.URL, "http", "url"),
		headers: c.texts(a.Headers, "http", "headers"),
		secret:  a.SigningSecret,
		limit:   a.Timeout.Or(DefaultRequestTimeout),
		accept:  a.Accept,
		// Redirects are not followed: a 3xx is reported, not silently
		// turned into a GET somewhere else without the body.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if a.Body != "" {
		body := c.text(a.Body, "http", "body")
		r.body = &body
	}
	if a.URL == "" {
		c.problem([]any{"http", "url"}, "action %q: http.url is empty", c.name)
	} else if u, err := r.url.render(c.sample); err == nil {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			c.problem([]any{"http", "url"}, "action %q: http.url %q is not an http(s) URL", c.name, u)
		}
	}
	for _, code := range a.Accept {
		if code < 100 || code > 599 {
			c.problem([]any{"http", "accept"}, "action %q: http.accept: %d is not an HTTP status code", c.name, code)
		}
	}
	return r
}

func (r *httpRunner) timeout() time.Duration { return r.limit }

// MaxResponse bounds how much of a response body is read into the output.
const MaxResponse = 16 << 10

func (r *httpRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	u, err := r.url.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	headers, err := renderAll(r.headers, inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("headers.%w", err)
	}
	var body []byte
	if r.body != nil {
		s, err := r.body.render(inv.ctx)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = []byte(s)
	} else if body, err = eventJSON(inv.ctx); err != nil {
		return nil, err
	}

	req, err := http.NewRequestWithContext(ctx, r.method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookd")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// hookd's own headers come last so that configured headers cannot
	// forge them.
	req.Header.Set("Idempotency-Key", inv.ctx.IdempotencyKey)
	req.Header.Set("X-Hookd-Event", inv.ctx.Type)
	req.Header.Set("X-Hookd-Event-Id", strconv.FormatInt(inv.ctx.EventID, 10))
	req.Header.Set("X-Hookd-Run-Id", strconv.FormatInt(inv.ctx.RunID, 10))
	if r.secret != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(r.secret), body))
	}

	inv.out.Printf("%s %s", r.method, u)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	inv.out.Printf("%s", resp.Status)
	_, _ = io.Copy(inv.out, io.LimitReader(resp.Body, MaxResponse))
	if !r.accepted(resp.StatusCode) {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return nil, nil
}

func (r *httpRunner) accepted(code int) bool {
	if len(r.accept) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(r.accept, code)
}

// eventJSON is the default body of requests and payloads: the event, with
// the run's identity beside it so that a receiver can deduplicate.
func eventJSON(c *Context) ([]byte, error) {
	return json.Marshal(struct {
		*Event
		IdempotencyKey string `json:"idempotency_key"`
		RunID          int64  `json:"run_id"`
		Attempt        int    `json:"attempt"`
		RunURL         string `json:"run_url,omitempty"`
	}{&c.Event, c.IdempotencyKey, c.RunID, c.Attempt, c.RunURL})
}
