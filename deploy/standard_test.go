package deploy_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/store"
)

// verifyStandard is a Standard Webhooks receiver's check, written from
// the specification: the secret is whsec_ and base64; the signed content
// is "id.timestamp.body"; webhook-signature is a space-separated list of
// "v1,<base64 HMAC-SHA256>", any one of which may match (compared in
// constant time); the timestamp must be within tolerance of now.
func verifyStandard(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook-timestamp is %s off", d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// The verifier agrees with the specification's test vector (its Go
// library's TestWebhookSign): key, message id, timestamp and payload, and
// the signature they give.
func TestStandardVerifierMatchesTheSpecificationVector(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	when := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := verifyStandard(secret, h, body, when, 5*time.Minute); err != nil {
		t.Fatalf("the specification's own vector: %v", err)
	}
	// Several signatures, one of them good, as during rotation.
	h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := verifyStandard(secret, h, body, when, 5*time.Minute); err != nil {
		t.Errorf("a good signature among others: %v", err)
	}
	for name, mutate := range map[string]func(){
		"bad signature": func() { h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=") },
		"other id":      func() { h.Set("webhook-id", "msg_other") },
		"old":           func() { when = when.Add(6 * time.Minute) },
	} {
		saved, savedWhen := h.Clone(), when
		mutate()
		if err := verifyStandard(secret, h, body, when, 5*time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
		h, when = saved, savedWhen
	}
}

// Standard Webhooks keys for the tests: 32 random-looking bytes each.
var (
	whsecNew = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	whsecOld = "whsec_" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

// signature: standard sends what a Standard Webhooks receiver verifies:
// webhook-id is the run's idempotency key on every attempt, the timestamp
// is the attempt's, there is one signature per secret (either verifies
// during rotation), and the body is {type: gto.<event>, timestamp, data}.
// X-Hookd-Signature-256 stays the default for the other actions.
func TestStandardWebhooksSignedRequest(t *testing.T) {
	rc := newStatusReceiver(t, http.StatusServiceUnavailable, http.StatusOK)
	actions := parseActions(t, `
actions:
  - name: standard
    on: {event: assignment}
    backoff: {initial: 10ms, max: 20ms}
    http: {url: `+rc.url+`, signature: standard, signing_secret: "`+whsecNew+`", signing_secrets: ["`+whsecOld+`"]}
`)
	r := newRig(t, actions, deploy.Options{})
	ev, runs := r.event(assignment("churn", "v1.2.3", "prod"))
	run := r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if run.Status != store.RunSucceeded || run.Attempts != 2 {
		t.Fatalf("run %s after %d attempts: %+v", run.Status, run.Attempts, run.History)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want a failed one and a retry", len(reqs))
	}
	for i, q := range reqs {
		for _, secret := range []string{whsecNew, whsecOld} {
			if err := verifyStandard(secret, q.Header, q.Body, q.Start, 5*time.Minute); err != nil {
				t.Errorf("request %d with %s…: %v", i, secret[:10], err)
			}
		}
		if got := q.Header.Get("webhook-id"); got != run.IdempotencyKey {
			t.Errorf("request %d: webhook-id %q, want the idempotency key %q", i, got, run.IdempotencyKey)
		}
		if n := len(strings.Fields(q.Header.Get("webhook-signature"))); n != 2 {
			t.Errorf("request %d: %d signatures, want one per secret", i, n)
		}
		if q.Header.Get(deploy.SignatureHeader) != "" {
			t.Errorf("request %d also carries %s", i, deploy.SignatureHeader)
		}
	}
	var body struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			deploy.Event
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"data"`
	}
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	// The timestamp is when the event happened (the tag's date), not the
	// attempt's.
	if d := body.Timestamp.Sub(ev.Tagger.When); body.Type != "gto.assignment" || body.Timestamp.IsZero() || !body.Timestamp.Equal(body.Data.Date) || d > time.Millisecond || d < -time.Millisecond ||
		body.Data.Artifact != "churn" || body.Data.Stage != "prod" || body.Data.IdempotencyKey != run.IdempotencyKey {
		t.Errorf("body = %s", reqs[1].Body)
	}
	if err := verifyStandard(whsecNew, reqs[1].Header, append(reqs[1].Body, ' '), reqs[1].Start, 5*time.Minute); err == nil {
		t.Error("a changed body verified")
	}
}

func TestStandardWebhooksConfigProblems(t *testing.T) {
	for _, tc := range []struct{ http, want string }{
		{`{url: "http://x", signature: standard}`, "signature: standard needs signing_secret"},
		{`{url: "http://x", signature: standard, signing_secret: plain-secret}`, "starts with whsec_"},
		{`{url: "http://x", signature: standard, signing_secret: "whsec_c2hvcnQ="}`, "Standard Webhooks wants 24 to 64"},
		{`{url: "http://x", signature: standard, signing_secret: "whsec_!!"}`, "not base64"},
		{`{url: "http://x", signature: github}`, `"github" is not hookd or standard`},
		{`{url: "http://x", signing_secret: a, signing_secrets: [b]}`, "signing_secrets needs signature: standard"},
	} {
		wantProblem(t, "http: "+tc.http, tc.want)
	}
}

// statusReceiver is an endpoint on 127.0.0.1 that answers the statuses
// given in turn (the last one from then on), with the headers header sets
// for each answer, and records what it was sent.
type statusReceiver struct {
	url      string
	mu       sync.Mutex
	statuses []int
	header   func(i int, h http.Header)
	got      []statusRequest
}

type statusRequest struct {
	Path, URI  string
	Header     http.Header
	Body       []byte
	Start, End time.Time
}

func newStatusReceiver(t *testing.T, statuses ...int) *statusReceiver {
	t.Helper()
	rc := &statusReceiver{statuses: statuses}
	srv := httptest.NewServer(rc) // 127.0.0.1
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *statusReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	i := min(len(rc.got), len(rc.statuses)-1)
	status, header := rc.statuses[i], rc.header
	rc.got = append(rc.got, statusRequest{Path: r.URL.Path, URI: r.RequestURI, Header: r.Header.Clone(), Body: body, Start: start, End: time.Now()})
	rc.mu.Unlock()
	if header != nil {
		header(i, w.Header())
	}
	w.WriteHeader(status)
}

func (rc *statusReceiver) requests() []statusRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// A Retry-After is waited out before the next attempt, however short the
// backoff; a redirect is a failure, not followed.
func TestHTTPRetryAfterAndRedirects(t *testing.T) {
	rc := newStatusReceiver(t, http.StatusTooManyRequests, http.StatusOK)
	rc.header = func(i int, h http.Header) {
		if i == 0 {
			h.Set("Retry-After", "2")
		}
	}
	moved := newStatusReceiver(t, http.StatusFound)
	moved.header = func(_ int, h http.Header) { h.Set("Location", rc.url+"/elsewhere") }
	actions := parseActions(t, `
actions:
  - name: throttled
    on: {event: assignment}
    backoff: {initial: 10ms, max: 20ms}
    http: {url: `+rc.url+`}
  - name: moved
    on: {event: assignment}
    max_attempts: 2
    backoff: {initial: 10ms, max: 20ms}
    http: {url: `+moved.url+`}
`)
	r := newRig(t, actions, deploy.Options{})
	_, runs := r.event(assignment("churn", "v1.2.3", "prod"))
	for _, run := range runs {
		got := r.wait(run.ID, store.RunSucceeded, store.RunFailed)
		switch run.Action {
		case "throttled":
			reqs := rc.requests()
			if got.Status != store.RunSucceeded || len(reqs) != 2 {
				t.Fatalf("throttled: %s with %d requests", got.Status, len(reqs))
			}
			if wait := reqs[1].Start.Sub(reqs[0].End); wait < 2*time.Second {
				t.Errorf("the retry came %s after a Retry-After of 2s", wait)
			}
			if !strings.Contains(got.History[0].Error, "retry after 2s") {
				t.Errorf("first attempt's error %q", got.History[0].Error)
			}
		case "moved":
			if got.Status != store.RunFailed || got.Attempts != 2 || !strings.Contains(got.History[0].Error, "302 Found: redirects are not followed") {
				t.Errorf("moved: %s after %d attempts: %+v", got.Status, got.Attempts, got.History)
			}
			if n := len(rc.requestsTo("/elsewhere")); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
		}
	}
}

func (rc *statusReceiver) requestsTo(path string) []statusRequest {
	var out []statusRequest
	for _, q := range rc.requests() {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}

// 410 Gone fails the run at once, whatever max_attempts says, and marks
// the target gone: the next run of the action sends it nothing and says
// why. A reload forgets it.
func TestHTTPGoneStopsRetrying(t *testing.T) {
	rc := newStatusReceiver(t, http.StatusGone)
	actions := parseActions(t, `
actions:
  - name: notify
    on: {event: assignment}
    max_attempts: 5
    backoff: {initial: 10ms, max: 20ms}
    http: {url: `+rc.url+`/hook}
`)
	r := newRig(t, actions, deploy.Options{})
	_, runs := r.event(assignment("churn", "v1.2.3", "prod"))
	got := r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if got.Status != store.RunFailed || got.Attempts != 1 || !strings.Contains(got.History[0].Error, "410 Gone from "+rc.url+"/hook") ||
		!strings.Contains(got.History[0].Error, "marked it gone") {
		t.Fatalf("after a 410: %s, %d attempts: %+v", got.Status, got.Attempts, got.History)
	}
	_, runs = r.event(assignment("churn", "v1.2.4", "prod"))
	got = r.wait(runs[0].ID, store.RunSucceeded, store.RunFailed)
	if got.Status != store.RunFailed || got.Attempts != 1 || !strings.Contains(got.History[0].Error, "not sent: "+rc.url+"/hook answered 410 Gone") {
		t.Fatalf("the next run: %s: %+v", got.Status, got.History)
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("the gone target got %d requests, want 1", n)
	}
	if err := r.engine.SetActions(actions); err != nil {
		t.Fatal(err)
	}
	_, runs = r.event(assignment("churn", "v1.2.5", "prod"))
	r.wait(runs[0].ID, store.RunFailed)
	if n := len(rc.requests()); n != 2 {
		t.Errorf("after a reload, the target got %d requests in all, want 2", n)
	}
}
