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
	// Signature is "hookd" (the default: X-Hookd-Signature-256 above) or
	// "standard": Standard Webhooks' webhook-id, webhook-timestamp and
	// webhook-signature (see standard.go), with whsec_ secrets.
	Signature string `yaml:"signature"`
	// SigningSecrets are more whsec_ secrets for signature: standard;
	// each signs the request, so a receiver can rotate its key.
	SigningSecrets []Secret `yaml:"signing_secrets"`
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
	method   string
	url      text
	headers  map[string]text
	body     *text // nil: the event as JSON
	secret   Secret
	standard *standardSigner // signature: standard
	limit    time.Duration
	accept   []int
	client   *http.Client
	gone     goneTargets
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
	c.checkURL(r.url, "http", "url")
	if r.body != nil {
		c.checkJSON(*r.body, "http", "body")
	}
	switch a.Signature {
	case "", "hookd":
		if len(a.SigningSecrets) > 0 {
			c.problem([]any{"http", "signing_secrets"}, "action %q: http.signing_secrets needs signature: standard (X-Hookd-Signature-256 carries one signature)", c.name)
		}
	case "standard":
		r.secret, r.standard = "", &standardSigner{}
		secrets := a.SigningSecrets
		if a.SigningSecret != "" {
			secrets = append([]Secret{a.SigningSecret}, secrets...)
		}
		if len(secrets) == 0 {
			c.problem([]any{"http", "signature"}, "action %q: signature: standard needs signing_secret (a whsec_ secret, as ${ENV_VAR})", c.name)
		}
		for _, sec := range secrets {
			key, err := standardKey(string(sec))
			if err != nil {
				c.problem([]any{"http", "signing_secret"}, "action %q: http signing secret: %v", c.name, err)
			}
			r.standard.keys = append(r.standard.keys, key)
		}
	default:
		c.problem([]any{"http", "signature"}, "action %q: http.signature: %q is not hookd or standard", c.name, a.Signature)
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
	switch {
	case r.body != nil:
		s, err := r.body.render(inv.ctx)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = []byte(s)
	case r.standard != nil:
		if body, err = standardBody(inv.ctx); err != nil {
			return nil, err
		}
	default:
		if body, err = eventJSON(inv.ctx); err != nil {
			return nil, err
		}
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
	if r.standard != nil {
		if err := r.standard.sign(req.Header, inv.ctx.IdempotencyKey, time.Now(), body); err != nil {
			return nil, err
		}
	}

	return nil, send(r.client, req, inv, &r.gone, r.accepted)
}

// send makes the request, reading the answer into the output; a status
// accepted refuses is an error (see answerError).
func send(client *http.Client, req *http.Request, inv *invocation, gone *goneTargets, accepted func(int) bool) error {
	if err := gone.check(req.URL.String()); err != nil {
		return err
	}
	inv.out.Printf("%s %s", req.Method, req.URL)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	inv.out.Printf("%s", resp.Status)
	_, _ = io.Copy(inv.out, io.LimitReader(resp.Body, MaxResponse))
	if !accepted(resp.StatusCode) {
		return answerError(resp, req.URL.String(), gone, time.Now())
	}
	return nil
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
