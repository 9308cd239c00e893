package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	alice       = "U024BE7LH" // may assign dev and staging
	botToken    = "chat-b0t"
)

// chatRig is hookd's chat endpoints over a real repository holding
// churn-model v1.2.0, a real SQLite store and real HTTP on 127.0.0.1.
type chatRig struct {
	t     *testing.T
	url   string
	h     *handlers.Handler
	repo  *gittest.Repo
	store *store.Store
	// settle is how long recording the events of new tags takes.
	settle time.Duration
	// logs is what the handler logged.
	logs *syncBuffer
}

func newChatRig(t *testing.T) *chatRig {
	t.Helper()
	c := &chatRig{t: t, repo: gittest.New(t), logs: &syncBuffer{}}
	commit := c.repo.Commit("model.pkl", "weights", "2024-03-01T10:00:00Z")
	c.repo.Tag("churn-model@v1.2.0", commit, "2024-03-01T10:00:00Z", "Registering artifact churn-model version v1.2.0")
	src, err := gitdir.Open(ctx(t), c.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c.store = openStore(t, filepath.Join(t.TempDir(), "hookd.db"))
	svc := &change.Service{
		Repository: func(name string) (change.Repository, error) {
			if name != repo {
				return change.Repository{}, change.ErrUnknownRepository
			}
			return change.Repository{Source: src}, nil
		},
		Store: c.store,
		Settle: func(ctx context.Context, repository string) error {
			select {
			case <-time.After(c.settle):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
	c.h = handlers.New(handlers.Options{Store: c.store, Changes: svc, Logger: slog.New(slog.NewTextHandler(c.logs, nil))})
	deployer := []access.Scope{{Repositories: []string{repo}, Operations: []string{"read", "assign"}, Stages: []string{"dev", "staging"}}}
	c.h.SetTokens(handlers.Tokens{sha256.Sum256([]byte(botToken)): {Name: "chat-bot", Scopes: deployer}})
	c.h.SetChat(handlers.Chat{Repository: repo, Slack: &handlers.Slack{
		SigningSecret: slackSecret,
		Users:         map[string]access.Principal{alice: {Name: "alice", Scopes: deployer}},
	}})
	srv := httptest.NewServer(c.h)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// tags lists the repository's tags.
func (c *chatRig) tags() string {
	c.t.Helper()
	return c.repo.Git("tag", "--list")
}

func (c *chatRig) assertNoNewTags() {
	c.t.Helper()
	if got := c.tags(); got != "churn-model@v1.2.0" {
		c.t.Errorf("tags created: %q", got)
	}
}

// slackForm is a slash command's body as Slack sends it.
func slackForm(user, text, responseURL string) []byte {
	return []byte(url.Values{
		"token": {"gIkuvaNzQIHg97ATvDxqgjtO"}, "team_id": {"T0001"}, "team_domain": {"example"},
		"channel_id": {"C2147483705"}, "channel_name": {"models"}, "user_id": {user}, "user_name": {"someone"},
		"command": {"/gto"}, "text": {text}, "response_url": {responseURL}, "trigger_id": {"13345224609.738474920.8088930838d88f008e0"},
		"api_app_id": {"A123456"},
	}.Encode())
}

// signed signs body as Slack would at time at.
func signed(secret string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	return http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {handlers.SignSlack(secret, ts, body)},
	}
}

func (c *chatRig) post(path string, header http.Header, body []byte) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx(c.t), http.MethodPost, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("POST %s: %d %q is not JSON: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

// slack sends a correctly signed slash command from user.
func (c *chatRig) slack(user, text, responseURL string) (int, map[string]any) {
	c.t.Helper()
	body := slackForm(user, text, responseURL)
	return c.post("/chat/slack", signed(slackSecret, time.Now(), body), body)
}

func TestSlackSignatureVector(t *testing.T) {
	// Slack's documented example request.
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	const want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got := handlers.SignSlack(slackSecret, "1531420618", body); got != want {
		t.Fatalf("signature %s, want Slack's %s", got, want)
	}
	if _, err := handlers.VerifySlack(slackSecret, "1531420618", want, body, time.Unix(1531420618+60, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestSlackAssignAnswersInChannel(t *testing.T) {
	c := newChatRig(t)
	status, body := c.slack(alice, `assign churn-model v1.2.0 staging -m “R&amp;D says &lt;ship it&gt;”`, "")
	if status != http.StatusOK || body["response_type"] != "in_channel" {
		t.Fatalf("%d %v", status, body)
	}
	text, _ := body["text"].(string)
	if !strings.Contains(text, "Created git tag 'churn-model#staging#1' that assigns stage to version 'v1.2.0'") ||
		!strings.Contains(text, "asked by alice") {
		t.Errorf("text %q", text)
	}
	msg := c.repo.Git("tag", "--list", "--format=%(contents)", "churn-model#staging#1")
	if !strings.Contains(msg, "R&D says <ship it>") || !strings.Contains(msg, "Requested-by: alice via slack") {
		t.Errorf("tag message %q: Slack's escaping should be undone", msg)
	}
}

func TestSlackRefusesUnverifiedRequests(t *testing.T) {
	c := newChatRig(t)
	body := slackForm(alice, "assign churn-model v1.2.0 dev", "")
	tampered := slackForm(alice, "assign churn-model v1.2.0 staging", "")
	noSignature := signed(slackSecret, time.Now(), body)
	noSignature.Del("X-Slack-Signature")
	noTimestamp := signed(slackSecret, time.Now(), body)
	noTimestamp.Del("X-Slack-Request-Timestamp")
	badTimestamp := signed(slackSecret, time.Now(), body)
	badTimestamp.Set("X-Slack-Request-Timestamp", "yesterday")
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		reason string
	}{
		{"forged", signed("not-the-secret", time.Now(), body), body, "does not match"},
		{"tampered body", signed(slackSecret, time.Now(), body), tampered, "does not match"},
		{"stale", signed(slackSecret, time.Now().Add(-6*time.Minute), body), body, "more than 5m0s"},
		{"from the future", signed(slackSecret, time.Now().Add(6*time.Minute), body), body, "more than 5m0s"},
		{"no signature", noSignature, body, "required"},
		{"no timestamp", noTimestamp, body, "required"},
		{"bad timestamp", badTimestamp, body, "not a Unix time"},
	}
	for _, tt := range tests {
		status, resp := c.post("/chat/slack", tt.header, tt.body)
		if msg, _ := resp["message"].(string); status != http.StatusUnauthorized || !strings.Contains(msg, tt.reason) {
			t.Errorf("%s: %d %v, want 401 saying %q", tt.name, status, resp, tt.reason)
		}
	}
	c.assertNoNewTags()
	if audit, _ := c.store.Audit(ctx(t), store.AuditFilter{}); len(audit) != 0 {
		t.Errorf("unverified requests reached the change service: %+v", audit)
	}
}

func TestSlackRequestIsUsedOnce(t *testing.T) {
	c := newChatRig(t)
	body := slackForm(alice, "assign churn-model v1.2.0 dev", "")
	header := signed(slackSecret, time.Now(), body)
	if status, resp := c.post("/chat/slack", header, body); status != http.StatusOK || resp["response_type"] != "in_channel" {
		t.Fatalf("first: %d %v", status, resp)
	}
	if status, resp := c.post("/chat/slack", header, body); status != http.StatusUnauthorized {
		t.Fatalf("replay: %d %v, want 401", status, resp)
	}
	if got := c.tags(); got != "churn-model#dev#1\nchurn-model@v1.2.0" {
		t.Errorf("tags %q: the replay must create nothing", got)
	}
}

func TestSlackUnknownUserIsRefusedPolitely(t *testing.T) {
	c := newChatRig(t)
	status, body := c.slack("U999STRANGER", "assign churn-model v1.2.0 dev", "")
	text, _ := body["text"].(string)
	if status != http.StatusOK || body["response_type"] != "ephemeral" ||
		!strings.Contains(text, "does not know your Slack account (U999STRANGER)") || !strings.Contains(text, "chat.slack.users") {
		t.Fatalf("%d %v", status, body)
	}
	c.assertNoNewTags()
}

func TestSlackUserOutsideScopes(t *testing.T) {
	c := newChatRig(t)
	status, body := c.slack(alice, "assign churn-model v1.2.0 prod", "")
	text, _ := body["text"].(string)
	if status != http.StatusOK || body["response_type"] != "ephemeral" ||
		!strings.Contains(text, `alice may not assign stage "prod" in acme/models`) || !strings.Contains(text, "ask whoever runs hookd") {
		t.Fatalf("%d %v", status, body)
	}
	c.assertNoNewTags()
	audit, err := c.store.Audit(ctx(t), store.AuditFilter{Principal: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Status != http.StatusForbidden || audit[0].Via != "slack" || audit[0].Stage != "prod" || len(audit[0].Tags) != 0 {
		t.Errorf("audit %+v", audit)
	}
}

func TestSlackHelpAndUsageAreEphemeral(t *testing.T) {
	c := newChatRig(t)
	for text, want := range map[string]string{
		"":                       "`/gto assign NAME VERSION STAGE",
		"promote churn-model":    `"promote" is not a command`,
		"show":                   "churn-model  v1.2.0",
		"assign churn-model --x": "assign does not take --x",
	} {
		status, body := c.slack(alice, text, "")
		got, _ := body["text"].(string)
		if status != http.StatusOK || body["response_type"] != "ephemeral" || !strings.Contains(got, want) {
			t.Errorf("%q: %d %v, want ephemeral with %q", text, status, body, want)
		}
	}
}

func TestSlackSlowCommandAnswersAtResponseURL(t *testing.T) {
	c := newChatRig(t)
	c.settle = 1500 * time.Millisecond
	c.h.SetChat(handlers.Chat{Repository: repo, Slack: &handlers.Slack{
		SigningSecret: slackSecret, AckAfter: 100 * time.Millisecond,
		Users: map[string]access.Principal{alice: {Name: "alice", Scopes: []access.Scope{
			{Repositories: []string{repo}, Operations: []string{"assign"}, Stages: []string{"dev"}}}}},
	}})
	late := make(chan map[string]any, 2)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&m) != nil {
			t.Errorf("response_url got %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		late <- m
	}))
	defer receiver.Close()

	start := time.Now()
	status, body := c.slack(alice, "assign churn-model v1.2.0 dev", receiver.URL+"/commands/T1/1/x")
	if status != http.StatusOK || body["response_type"] != "ephemeral" || !strings.Contains(body["text"].(string), "Working on it") {
		t.Fatalf("ack: %d %v", status, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the acknowledgement took %s; Slack waits 3s", d)
	}
	select {
	case m := <-late:
		if m["response_type"] != "in_channel" || !strings.Contains(m["text"].(string), "churn-model#dev#1") {
			t.Errorf("late answer %v", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nothing was posted to response_url")
	}
	if !strings.Contains(c.tags(), "churn-model#dev#1") {
		t.Errorf("tags %q", c.tags())
	}
}

func TestSlackNotConfigured(t *testing.T) {
	c := newChatRig(t)
	c.h.SetChat(handlers.Chat{Repository: repo})
	body := slackForm(alice, "assign churn-model v1.2.0 dev", "")
	if status, resp := c.post("/chat/slack", signed(slackSecret, time.Now(), body), body); status != http.StatusNotFound {
		t.Errorf("%d %v, want 404", status, resp)
	}
	c.assertNoNewTags()
}

func TestSlackBodyIsBounded(t *testing.T) {
	c := newChatRig(t)
	body := slackForm(alice, "show "+strings.Repeat("x", 70<<10), "")
	if status, resp := c.post("/chat/slack", signed(slackSecret, time.Now(), body), body); status != http.StatusRequestEntityTooLarge {
		t.Errorf("%d %v, want 413", status, resp)
	}
}

func TestCommandEndpoint(t *testing.T) {
	c := newChatRig(t)
	bearer := func(token string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}
	}
	body := []byte(`{"text": "assign churn-model v1.2.0 dev -m 'from the bot'"}`)

	if status, resp := c.post("/api/v1/command", http.Header{"Content-Type": {"application/json"}}, body); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d %v", status, resp)
	}
	if status, resp := c.post("/api/v1/command", bearer("wrong"), body); status != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d %v", status, resp)
	}
	c.assertNoNewTags()

	status, resp := c.post("/api/v1/command", bearer(botToken), body)
	if status != http.StatusOK || resp["ok"] != true || !strings.Contains(resp["text"].(string), "churn-model#dev#1") {
		t.Fatalf("%d %v", status, resp)
	}
	if tags, _ := resp["tags"].([]any); len(tags) != 1 || tags[0] != "churn-model#dev#1" {
		t.Errorf("tags %v", resp["tags"])
	}
	if msg := c.repo.Git("tag", "--list", "--format=%(contents)", "churn-model#dev#1"); !strings.Contains(msg, "Requested-by: chat-bot via command") {
		t.Errorf("tag message %q", msg)
	}

	// A refused command is answered 200 with ok false and the reason.
	status, resp = c.post("/api/v1/command", bearer(botToken), []byte(`{"text": "assign churn-model v1.2.0 prod", "repository": "acme/models"}`))
	if status != http.StatusOK || resp["ok"] != false || resp["error"] != "forbidden" || !strings.Contains(resp["text"].(string), "may not assign") {
		t.Errorf("refused: %d %v", status, resp)
	}
	status, resp = c.post("/api/v1/command", bearer(botToken), []byte(`{"text": "show", "repository": "acme/other"}`))
	if status != http.StatusOK || resp["ok"] != false || resp["error"] != "forbidden" {
		t.Errorf("another repository: %d %v", status, resp)
	}
	for _, bad := range []string{`{"text": 1}`, `{"txt": "show"}`, `not json`, `{"text": "show"} {}`} {
		if status, resp := c.post("/api/v1/command", bearer(botToken), []byte(bad)); status != http.StatusUnprocessableEntity || resp["error"] != "invalid_json" {
			t.Errorf("%s: %d %v, want 422", bad, status, resp)
		}
	}
	if got := c.tags(); got != "churn-model#dev#1\nchurn-model@v1.2.0" {
		t.Errorf("tags %q", got)
	}
}

// assignAckedLater has alice, who may assign dev, send a Slack assign
// that is acknowledged after ackAfter (the rig's settle makes it slower)
// and answered later at responseURL.
func (c *chatRig) assignAckedLater(responseURL string, ackAfter time.Duration) {
	c.t.Helper()
	c.h.SetChat(handlers.Chat{Repository: repo, Slack: &handlers.Slack{
		SigningSecret: slackSecret, AckAfter: ackAfter,
		Users: map[string]access.Principal{alice: {Name: "alice", Scopes: []access.Scope{
			{Repositories: []string{repo}, Operations: []string{"assign"}, Stages: []string{"dev"}}}}},
	}})
	if status, body := c.slack(alice, "assign churn-model v1.2.0 dev", responseURL); status != http.StatusOK ||
		!strings.Contains(body["text"].(string), "Working on it") {
		c.t.Fatalf("ack: %d %v", status, body)
	}
}

// A Slack command that runs on after its acknowledgement is work in
// flight: Drain, which shutdown calls before closing the store, waits for
// it to finish and be audited, and past its deadline cancels it and still
// waits for it to return.
func TestDrainWaitsForSlackCommandsAnsweredLater(t *testing.T) {
	receiver := func(t *testing.T) (string, chan map[string]any) {
		late := make(chan map[string]any, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			_ = json.NewDecoder(r.Body).Decode(&m)
			late <- m
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/commands/T1/1/x", late
	}
	audited := func(c *chatRig) int {
		entries, err := c.store.Audit(ctx(c.t), store.AuditFilter{Principal: "alice"})
		if err != nil {
			c.t.Fatal(err)
		}
		return len(entries)
	}

	t.Run("finishing in time", func(t *testing.T) {
		c := newChatRig(t)
		c.settle = time.Second
		url, late := receiver(t)
		c.assignAckedLater(url, 50*time.Millisecond)
		dctx, cancel := context.WithTimeout(ctx(t), 30*time.Second)
		defer cancel()
		if err := c.h.Drain(dctx); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		if n := audited(c); n != 1 {
			t.Errorf("%d audit entries once drained, want 1", n)
		}
		select {
		case m := <-late:
			if !strings.Contains(m["text"].(string), "churn-model#dev#1") {
				t.Errorf("late answer %v", m)
			}
		default:
			t.Error("Drain returned before the answer was posted to response_url")
		}
	})

	t.Run("past the deadline", func(t *testing.T) {
		c := newChatRig(t)
		c.settle = time.Minute
		url, _ := receiver(t)
		c.assignAckedLater(url, 50*time.Millisecond)
		dctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.h.Drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Drain: %v, want the deadline's error", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Drain took %s: the command was not cancelled", d)
		}
		if n := audited(c); n != 1 {
			t.Errorf("%d audit entries once drained, want 1: the cancelled command must still be audited before Drain returns", n)
		}
	})
}

// response_url lets whoever holds it post to the channel for half an
// hour: when posting the late answer fails, the log says why without it.
func TestSlackResponseURLIsNotLogged(t *testing.T) {
	c := newChatRig(t)
	c.settle = 200 * time.Millisecond
	gone := httptest.NewServer(http.NotFoundHandler())
	responseURL := gone.URL + "/commands/T1/1/s3cretR3sp0nse"
	gone.Close()
	c.assignAckedLater(responseURL, 10*time.Millisecond)
	if err := c.h.Drain(ctx(t)); err != nil {
		t.Fatal(err)
	}
	logs := c.logs.String()
	if !strings.Contains(logs, "could not post its answer to response_url") {
		t.Fatalf("the failed post was not logged:\n%s", logs)
	}
	if strings.Contains(logs, "s3cretR3sp0nse") {
		t.Errorf("the log holds the response_url:\n%s", logs)
	}
}
