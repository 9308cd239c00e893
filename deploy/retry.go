package deploy

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// How a receiver's answer steers the retries of an http (or slack) run,
// as HTTP and the Standard Webhooks specification ask: a Retry-After is
// waited out before the next attempt; 410 Gone means the receiver wants
// nothing more, so the run fails at once and the target is marked gone;
// a redirect is a failure (the body is not re-sent elsewhere).

// MaxRetryAfter caps how long a receiver's Retry-After can hold a run.
const MaxRetryAfter = 24 * time.Hour

// retryAfterError is a failed attempt whose answer said when to come back.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (the receiver asks to retry after %s)", e.err, e.after)
}

func (e *retryAfterError) Unwrap() error { return e.err }

// goneError is an answer of 410 Gone, or a request not sent because an
// earlier one got it.
type goneError struct {
	url   string
	since time.Time
	again bool // not sent: the target was already gone
}

func (e *goneError) Error() string {
	if e.again {
		return fmt.Sprintf("not sent: %s answered 410 Gone at %s and is marked gone; hookd sends it nothing until the configuration is reloaded",
			e.url, e.since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("410 Gone from %s: the receiver wants no more deliveries; hookd marked it gone, stops retrying, and sends it nothing until the configuration is reloaded", e.url)
}

// permanent reports whether a failed attempt must not be retried.
func permanent(err error) bool {
	var gone *goneError
	return errors.As(err, &gone)
}

// retryDelay is the wait before the next attempt: the backoff's, or
// longer when the receiver asked for it.
func retryDelay(err error, backoff time.Duration) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return max(backoff, ra.after)
	}
	return backoff
}

// goneTargets are the URLs of one action that answered 410 Gone. A reload
// compiles the action anew, forgetting them, so fixing the receiver and
// reloading (SIGHUP) resumes deliveries.
type goneTargets struct {
	mu   sync.Mutex
	urls map[string]time.Time
}

// check returns the error for a URL already gone, or nil.
func (g *goneTargets) check(u string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if since, ok := g.urls[u]; ok {
		return &goneError{url: u, since: since, again: true}
	}
	return nil
}

func (g *goneTargets) mark(u string, at time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.urls == nil {
		g.urls = map[string]time.Time{}
	}
	g.urls[u] = at
	return &goneError{url: u, since: at}
}

// answerError is the error for a response that is not a success: gone,
// waited on, or plain.
func answerError(resp *http.Response, u string, gone *goneTargets, now time.Time) error {
	if resp.StatusCode == http.StatusGone {
		return gone.mark(u, now)
	}
	err := fmt.Errorf("status %s", resp.Status)
	if resp.StatusCode/100 == 3 {
		err = fmt.Errorf("status %s: redirects are not followed; point the action at %s", resp.Status, resp.Header.Get("Location"))
	}
	if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		return &retryAfterError{err: err, after: after}
	}
	return err
}

// parseRetryAfter reads Retry-After: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), MaxRetryAfter), true
}
