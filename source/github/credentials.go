package github

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/hookd-dev/hookd/internal/confval"
)

// credentials remembers the credentials this Repo's requests carried (its
// token, a GitHub App's JWT, installation tokens as they are renewed), so
// that an answer echoing one cannot carry it into a log, a job's error or
// a run's record: some proxies, and some API-compatible servers, repeat
// the Authorization header in their error pages. It sits under
// authentication, where every credential has been added.
type credentials struct {
	base http.RoundTripper

	mu   sync.Mutex
	seen []string // the latest last
}

// remembered bounds the credentials kept: a token, an App's JWT and its
// installation token, and the ones they replaced lately.
const remembered = 8

func (c *credentials) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		c.note(h)
	}
	return c.base.RoundTrip(req)
}

func (c *credentials) note(header string) {
	scheme, cred, ok := strings.Cut(header, " ")
	cred = strings.TrimSpace(cred)
	if !ok || cred == "" {
		cred = header
	}
	found := []string{cred}
	if strings.EqualFold(scheme, "basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			if _, pw, ok := strings.Cut(string(raw), ":"); ok && pw != "" {
				found = append(found, pw)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range found {
		if !slices.Contains(c.seen, s) {
			c.seen = append(c.seen, s)
		}
	}
	if n := len(c.seen) - remembered; n > 0 {
		c.seen = slices.Delete(c.seen, 0, n)
	}
}

// redact replaces every credential in s.
func (c *credentials) redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cred := range c.seen {
		s = strings.ReplaceAll(s, cred, confval.Redacted)
	}
	return s
}

// scrub returns err with every credential taken out of its text; it still
// unwraps to err.
func (c *credentials) scrub(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if clean := c.redact(text); clean != text {
		return &scrubbed{text: clean, err: err}
	}
	return err
}

type scrubbed struct {
	text string
	err  error
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }
