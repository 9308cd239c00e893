package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/source"
)

// secondaryDefault is how long GitHub asks clients to wait after a
// secondary rate limit that names no Retry-After.
const secondaryDefault = time.Minute

// hold is when the last rate limit GitHub answered lifts. A limit is the
// token's, not one request's: every call waits it out before sending,
// instead of meeting it again (GitHub bans clients that keep sending).
type hold struct {
	mu    sync.Mutex
	until time.Time
	cause error // GitHub's answer that set until
}

func (h *hold) extend(until time.Time, cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if until.After(h.until) {
		h.until, h.cause = until, cause
	}
}

// get returns when the limit lifts and why, or a zero time once it has.
func (h *hold) get(now time.Time) (time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.until.After(now) {
		return time.Time{}, nil
	}
	return h.until, h.cause
}

// RateLimitError is GitHub's rate limit, met by a call or still in force
// when one was to be sent: Repo sends nothing before Until. Unwrap gives
// GitHub's answer that set the limit (an *Error).
type RateLimitError struct {
	Until time.Time
	// MaxWait is the bound the call had on waiting, which Until is
	// beyond; zero when its context asked for no wait at all
	// (source.WithoutWaiting).
	MaxWait time.Duration
	err     error
}

func (e *RateLimitError) Error() string {
	// In whole seconds, rounded up: never earlier than the limit lifts.
	until := e.Until.UTC().Add(time.Second - 1).Truncate(time.Second).Format(time.RFC3339)
	if e.MaxWait > 0 {
		return fmt.Sprintf("%v (rate limited until %s; waiting at most %v)", e.err, until, e.MaxWait)
	}
	return fmt.Sprintf("%v (rate limited until %s)", e.err, until)
}

func (e *RateLimitError) Unwrap() error { return e.err }

// RetryAt is when GitHub's limit lifts, for source.WithoutWaiting.
func (e *RateLimitError) RetryAt() time.Time { return e.Until }

// call runs one API call, waiting out rate limits within Limits.MaxWait and
// retrying 5xx answers with backoff when the call is a read (writes are not
// retried: GitHub may have acted before failing). Rate-limit answers are
// retried for writes too, since GitHub rejected them before acting. Under
// source.WithoutWaiting, a rate limit fails the call at once instead; a
// limit that lasts longer than MaxWait does too. Either way the error is a
// *RateLimitError.
//
// The wait happens here rather than in the transport because go-github
// itself refuses to send requests while it believes a limit is exhausted,
// so the transport would never see them.
func (r *Repo) call(ctx context.Context, read bool, fn func() (*github.Response, error)) (*github.Response, error) {
	var waited time.Duration
	retries := 0
	// refusal is the error for a call that may not wait until until, or nil.
	refusal := func(until time.Time, cause error) error {
		if wait := time.Until(until); !source.MayWait(ctx) || waited+wait > r.limits.MaxWait {
			e := &RateLimitError{Until: until, err: cause}
			if source.MayWait(ctx) {
				e.MaxWait = r.limits.MaxWait
			}
			return e
		}
		return nil
	}
	for {
		if until, cause := r.hold.get(time.Now()); !until.IsZero() {
			if err := refusal(until, cause); err != nil {
				return nil, err
			}
			wait := time.Until(until)
			waited += wait
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		resp, err := fn()
		if err == nil || ctx.Err() != nil {
			return resp, r.creds.scrub(err)
		}
		now := time.Now()
		until, isLimit := rateLimitUntil(resp, err, now)
		var wait time.Duration
		switch {
		case isLimit:
			// A reset already due still gets a second's wait, so a server
			// whose clock lags ours cannot make this spin.
			if until.Before(now.Add(time.Second)) {
				until = now.Add(time.Second)
			}
			cause := r.creds.scrub(r.apiError(err))
			r.hold.extend(until, cause)
			if err := refusal(until, cause); err != nil {
				return resp, err
			}
			wait = time.Until(until)
			waited += wait
		case read && retries < r.limits.Retries && retryable(resp):
			wait = r.limits.Backoff << retries
			retries++
		default:
			return resp, r.creds.scrub(r.apiError(err))
		}
		if err := sleep(ctx, wait); err != nil {
			return resp, err
		}
	}
}

// rateLimitUntil reports whether err is a primary or secondary rate limit
// and when it lifts. GitHub answers 403 or 429; go-github only recognises
// some of these, and also invents 403s of its own while it remembers an
// exhausted limit.
func rateLimitUntil(resp *github.Response, err error, now time.Time) (time.Time, bool) {
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return rl.Rate.Reset.Time, true
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		if ab.RetryAfter != nil {
			return now.Add(*ab.RetryAfter), true
		}
		return now.Add(secondaryDefault), true
	}
	if resp == nil || (resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests) {
		return time.Time{}, false
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return now.Add(time.Duration(n) * time.Second), true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" && !resp.Rate.Reset.IsZero() {
		return resp.Rate.Reset.Time, true
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return now.Add(secondaryDefault), true
	}
	return time.Time{}, false
}

// retryable reports whether a failed read may succeed if sent again: a 5xx
// answer or a request that got no answer at all, a hung one that
// RequestTimeout cut off included (call has returned already when the
// caller's own context ended).
func retryable(resp *github.Response) bool {
	return resp == nil || resp.Response == nil || resp.StatusCode >= 500
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats is what a Repo has seen of GitHub, for metrics.
type Stats struct {
	// Requests is the number of HTTP requests sent to the API, REST and
	// GraphQL, including 304s and retries.
	Requests int64
	// RateLimit, RateRemaining and RateReset are the latest REST
	// rate-limit headers seen; RateRemaining is -1 before the first.
	RateLimit     int
	RateRemaining int
	RateReset     time.Time
	// GraphQLLimit, GraphQLRemaining and GraphQLReset are the same for
	// GraphQL's budget of points, which is apart from REST's.
	GraphQLLimit     int
	GraphQLRemaining int
	GraphQLReset     time.Time
}

// Stats returns the request count and the last seen rate limits.
func (r *Repo) Stats() Stats {
	m := r.meter
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{
		Requests:         m.requests.Load(),
		RateLimit:        m.core.limit,
		RateRemaining:    m.core.remaining,
		RateReset:        m.core.reset,
		GraphQLLimit:     m.graphql.limit,
		GraphQLRemaining: m.graphql.remaining,
		GraphQLReset:     m.graphql.reset,
	}
}

// meter counts requests and records the rate-limit headers of answers. It
// sits above authentication, so a GitHub App's token requests, which have
// their own budget, are not counted.
type meter struct {
	base     http.RoundTripper
	requests atomic.Int64

	mu            sync.Mutex
	core, graphql budget
}

// budget is the state of one of GitHub's rate limits.
type budget struct {
	limit, remaining int
	reset            time.Time
}

func (m *meter) RoundTrip(req *http.Request) (*http.Response, error) {
	m.requests.Add(1)
	resp, err := m.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	h := resp.Header
	if rem, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil {
		limit, _ := strconv.Atoi(h.Get("X-RateLimit-Limit"))
		reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		at := time.Unix(reset, 0)
		m.mu.Lock()
		b := &m.core
		if h.Get("X-RateLimit-Resource") == "graphql" {
			b = &m.graphql
		}
		// Answers to concurrent requests arrive out of order: within one
		// window the lowest count is the latest.
		if b.remaining < 0 || !at.Equal(b.reset) || rem < b.remaining {
			b.limit, b.remaining, b.reset = limit, rem, at
		}
		m.mu.Unlock()
	}
	return resp, nil
}
