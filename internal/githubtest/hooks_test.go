package githubtest_test

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// createHook makes a push-only JSON hook through the API, as a client
// setting hookd up would.
func createHook(t *testing.T, c *github.Client, target string, events ...string) *github.Hook {
	t.Helper()
	if len(events) == 0 {
		events = []string{"push"}
	}
	h, resp, err := c.Repositories.CreateHook(ctx(t), owner, repo, &github.Hook{
		Events: events, Active: github.Bool(true),
		Config: &github.HookConfig{URL: github.String(target), ContentType: github.String("json"), Secret: github.String(hookSecret)},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateHook: %v", err)
	}
	return h
}

// Fact: POST .../hooks answers 201 with the hook (its secret masked) and a
// Location, and GitHub pings the new hook, signed with its secret.
func TestCreateHookAnswers201AndPings(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	c := newClient(t, gh)
	h, resp, err := c.Repositories.CreateHook(ctx(t), owner, repo, &github.Hook{
		Events: []string{"push"}, Active: github.Bool(true),
		Config: &github.HookConfig{URL: github.String(rc.srv.URL), ContentType: github.String("json"), Secret: github.String(hookSecret)},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateHook: %v", err)
	}
	if resp.Header.Get("Location") != h.GetURL() || !strings.HasSuffix(h.GetURL(), "/repos/octo-org/models/hooks/"+strconv.FormatInt(h.GetID(), 10)) {
		t.Errorf("Location %q, url %q", resp.Header.Get("Location"), h.GetURL())
	}
	if h.GetName() != "web" || h.GetType() != "Repository" || !h.GetActive() || len(h.Events) != 1 || h.Events[0] != "push" {
		t.Errorf("hook = %+v", h)
	}
	if cfg := h.GetConfig(); cfg.GetSecret() != "********" || cfg.GetContentType() != "json" || cfg.GetInsecureSSL() != "0" || cfg.GetURL() != rc.srv.URL {
		t.Errorf("config = %+v, want the secret masked", cfg)
	}
	if h.LastResponse["status"] != "unused" || h.LastResponse["code"] != nil {
		t.Errorf("last_response = %v, want unused", h.LastResponse)
	}
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := rc.since(0)
	if len(got) != 1 || got[0].event() != "ping" {
		t.Fatalf("received %s, want one ping", events(got))
	}
	if sig := got[0].header.Get("X-Hub-Signature-256"); sig != githubtest.Signature256(hookSecret, got[0].body) {
		t.Errorf("ping signature %q does not match", sig)
	}
	p := got[0].decode(t)
	if p["hook_id"] != float64(h.GetID()) || str(p, "hook.config.secret") != "********" {
		t.Errorf("ping hook_id=%v secret=%q", p["hook_id"], str(p, "hook.config.secret"))
	}
	again, _, err := c.Repositories.GetHook(ctx(t), owner, repo, h.GetID())
	if err != nil || again.LastResponse["status"] != "active" || again.LastResponse["code"] != float64(http.StatusAccepted) || again.LastResponse["message"] != "OK" {
		t.Errorf("after the ping, last_response = %v, %v", again.LastResponse, err)
	}
}

// Fact: a second hook with the same URL and an overlapping event is 422
// "Validation Failed" with GitHub's "Hook already exists on this
// repository"; a name other than "web" and an unusable URL are 422 too.
func TestCreateHookRefusesDuplicatesAndBadInput(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	c := newClient(t, gh)
	createHook(t, c, rc.srv.URL)

	_, _, err := c.Repositories.CreateHook(ctx(t), owner, repo, &github.Hook{
		Events: []string{"push", "create"}, Config: &github.HookConfig{URL: github.String(rc.srv.URL)},
	})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || er.Message != "Validation Failed" ||
		len(er.Errors) != 1 || er.Errors[0].Resource != "Hook" || er.Errors[0].Code != "custom" || er.Errors[0].Message != "Hook already exists on this repository" {
		t.Fatalf("duplicate hook: %v, want 422 Hook already exists on this repository", err)
	}
	// Another URL, or the same URL for other events, is another hook.
	createHook(t, c, rc.srv.URL+"/other")
	createHook(t, c, rc.srv.URL, "issues")

	req, err := c.NewRequest(http.MethodPost, "repos/octo-org/models/hooks", map[string]any{
		"name": "travis", "config": map[string]any{"url": rc.srv.URL + "/travis"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(ctx(t), req, nil)
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || len(er.Errors) != 1 || er.Errors[0].Field != "name" || er.Errors[0].Code != "invalid" {
		t.Errorf("name travis: %v, want 422 invalid name", err)
	}
	for _, u := range []string{"", "not a url", "ftp://example.com/hook"} {
		_, _, err := c.Repositories.CreateHook(ctx(t), owner, repo, &github.Hook{Config: &github.HookConfig{URL: github.String(u)}})
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || er.Message != "Validation Failed" {
			t.Errorf("url %q: %v, want 422", u, err)
		}
	}
	hooks, _, err := c.Repositories.ListHooks(ctx(t), owner, repo, nil)
	if err != nil || len(hooks) != 3 {
		t.Errorf("ListHooks = %d hooks, %v; want the three created", len(hooks), err)
	}
}

// Fact: a hook gets only the events it subscribes to, and none while
// inactive; GET answers 404 for a hook that does not exist; PATCH with a
// config replaces it whole, dropping a secret not given again.
func TestUpdateHookEventsActiveAndSecret(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	rc := newReceiver(t)
	h := createHook(t, c, rc.srv.URL)
	if _, resp, err := c.Repositories.GetHook(ctx(t), owner, repo, h.GetID()+1000); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GetHook of an unknown id: %v, want 404", err)
	}

	f.work.annotate("churn-model@v1.0.0", "v1")
	f.work.git("push", "origin", "refs/tags/churn-model@v1.0.0")
	f.settle(t)
	if got := events(rc.since(1)); got != "push" {
		t.Errorf("push-only hook received %q, want push alone (no create)", got)
	}

	edited, _, err := c.Repositories.EditHook(ctx(t), owner, repo, h.GetID(), &github.Hook{Active: github.Bool(false)})
	if err != nil || edited.GetActive() || edited.GetConfig().GetSecret() != "********" {
		t.Fatalf("EditHook active=false: %+v, %v", edited, err)
	}
	n := rc.count()
	f.work.annotate("churn-model@v1.1.0", "v1.1")
	f.work.git("push", "origin", "refs/tags/churn-model@v1.1.0")
	f.settle(t)
	if got := rc.since(n); len(got) != 0 {
		t.Errorf("inactive hook received %s", events(got))
	}

	edited, _, err = c.Repositories.EditHook(ctx(t), owner, repo, h.GetID(), &github.Hook{
		Active: github.Bool(true), Config: &github.HookConfig{URL: github.String(rc.srv.URL), ContentType: github.String("json")},
	})
	if err != nil || edited.GetConfig().Secret != nil || len(edited.Events) != 1 {
		t.Fatalf("EditHook with a config and no secret: %+v, %v; want the secret gone, events kept", edited.GetConfig(), err)
	}
	if _, err := c.Repositories.PingHook(ctx(t), owner, repo, h.GetID()); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	got := rc.since(n)
	if len(got) != 1 || got[0].event() != "ping" || got[0].header.Get("X-Hub-Signature-256") != "" {
		t.Errorf("after dropping the secret: %s, signature %q; want one unsigned ping", events(got), got[0].header.Get("X-Hub-Signature-256"))
	}
	if resp, err := c.Repositories.PingHook(ctx(t), owner, repo, h.GetID()+1000); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("PingHook of an unknown id: %v, want 404", err)
	}
}

// Fact: a hook created with content type "form" gets the JSON in a form's
// payload field, signed over the form body (go-playground/webhooks, which
// hookd uses, verifies it).
func TestFormHookSendsAFormBody(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	c := newClient(t, gh)
	if _, _, err := c.Repositories.CreateHook(ctx(t), owner, repo, &github.Hook{
		Config: &github.HookConfig{URL: github.String(rc.srv.URL), Secret: github.String(hookSecret)}, // content_type defaults to form
	}); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := rc.since(0)
	if len(got) != 1 || got[0].header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("received %d, content type %q", len(got), got[0].header.Get("Content-Type"))
	}
	form, err := url.ParseQuery(string(got[0].body))
	if err != nil || !strings.Contains(form.Get("payload"), `"zen"`) {
		t.Fatalf("form %q: %v", got[0].body, err)
	}
	if got[0].header.Get("X-Hub-Signature-256") != githubtest.Signature256(hookSecret, got[0].body) {
		t.Error("the signature does not cover the form body")
	}
}

// Fact: deliveries are listed newest first, per_page at a time with a
// cursor in the Link header, and status=success|failure splits them at
// 400.
func TestHookDeliveriesPagesAndStatusFilter(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	c := newClient(t, gh)
	h := createHook(t, c, rc.srv.URL)
	if err := gh.WaitIdle(ctx(t)); err != nil { // the creation's ping, answered 202
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.status = http.StatusInternalServerError
	rc.mu.Unlock()
	for range 2 {
		if _, err := c.Repositories.PingHook(ctx(t), owner, repo, h.GetID()); err != nil {
			t.Fatal(err)
		}
		if err := gh.WaitIdle(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	list, resp, err := c.Repositories.ListHookDeliveries(ctx(t), owner, repo, h.GetID(), &github.ListCursorOptions{PerPage: 2})
	if err != nil || len(list) != 2 || list[0].GetStatusCode() != http.StatusInternalServerError || resp.Cursor == "" {
		t.Fatalf("first page: %d deliveries, cursor %q, %v", len(list), resp.Cursor, err)
	}
	if list[0].GetStatus() != "Invalid HTTP Response: 500" || list[0].GetEvent() != "ping" {
		t.Errorf("newest = %+v", list[0])
	}
	rest, resp, err := c.Repositories.ListHookDeliveries(ctx(t), owner, repo, h.GetID(), &github.ListCursorOptions{PerPage: 2, Cursor: resp.Cursor})
	if err != nil || len(rest) != 1 || rest[0].GetStatusCode() != http.StatusAccepted || resp.Cursor != "" {
		t.Fatalf("second page: %d deliveries, cursor %q, %v; want the first ping alone", len(rest), resp.Cursor, err)
	}
	for status, want := range map[string]int{"success": 1, "failure": 2} {
		req, err := c.NewRequest(http.MethodGet, "repos/octo-org/models/hooks/"+strconv.FormatInt(h.GetID(), 10)+"/deliveries?status="+status, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []*github.HookDelivery
		if _, err := c.Do(ctx(t), req, &got); err != nil || len(got) != want {
			t.Errorf("status=%s: %d deliveries, %v; want %d", status, len(got), err, want)
		}
	}
}
