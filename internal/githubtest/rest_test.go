package githubtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

const owner, repo = "octo-org", "models"

// createAnnotated creates an annotated tag the way hookd does: tag object,
// then ref. It returns the tag object sha.
func createAnnotated(t *testing.T, c *github.Client, name, commit string) string {
	t.Helper()
	tag, resp, err := c.Git.CreateTag(ctx(t), owner, repo, &github.Tag{
		Tag: github.String(name), Message: github.String("Assigning prod"),
		Object: &github.GitObject{SHA: github.String(commit), Type: github.String("commit")},
		Tagger: &github.CommitAuthor{Name: github.String("Grace"), Email: github.String("grace@example.com"),
			Date: &github.Timestamp{Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))}},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateTag: %v", err)
	}
	if _, resp, err := c.Git.CreateRef(ctx(t), owner, repo, &github.Reference{
		Ref: github.String("refs/tags/" + name), Object: &github.GitObject{SHA: tag.SHA},
	}); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateRef: %v", err)
	}
	return tag.GetSHA()
}

// Fact: POST git/tags makes the tag object only; POST git/refs makes the
// ref, and a second one for the same name is a 422 "Reference already exists".
func TestCreateTagThenRefAnd422OnExistingRef(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	commit := f.work.git("rev-parse", "HEAD")

	tag, _, err := c.Git.CreateTag(ctx(t), owner, repo, &github.Tag{
		Tag: github.String("churn-model#prod#1"), Message: github.String("Assigning prod"),
		Object: &github.GitObject{SHA: github.String(commit), Type: github.String("commit")},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := c.Git.GetRef(ctx(t), owner, repo, "tags/churn-model#prod#1")
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the ref exists after CreateTag alone (err %v)", err)
	}

	ref := &github.Reference{Ref: github.String("refs/tags/churn-model#prod#1"), Object: &github.GitObject{SHA: tag.SHA}}
	if _, _, err := c.Git.CreateRef(ctx(t), owner, repo, ref); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Git.CreateRef(ctx(t), owner, repo, ref)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || er.Message != "Reference already exists" {
		t.Fatalf("second CreateRef: %v, want 422 Reference already exists", err)
	}
	_, _, err = c.Git.CreateRef(ctx(t), owner, repo, &github.Reference{
		Ref: github.String("refs/tags/other"), Object: &github.GitObject{SHA: github.String(strings.Repeat("ab", 20))},
	})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("CreateRef to an unknown sha: %v, want 422", err)
	}
	if resp, err := c.Git.DeleteRef(ctx(t), owner, repo, "tags/churn-model#prod#1"); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DeleteRef: %v", err)
	}
	if out, err := f.work.runErr("ls-remote", "--tags", "origin"); err != nil || strings.Contains(out, "prod") {
		t.Errorf("tag still on the remote after DeleteRef: %q %v", out, err)
	}
}

// Fact: git/ref says object.type tag for annotated and commit for
// lightweight tags; git/tags/{sha} returns tagger, message and object.
func TestRefObjectTypeAndTagObject(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	commit := f.work.git("rev-parse", "HEAD")
	tagSHA := f.work.annotate("churn-model@v1.0.0", "Release v1.0.0")
	f.work.git("tag", "light")
	f.pushAndCollect(t, "--tags")

	ann, _, err := c.Git.GetRef(ctx(t), owner, repo, "tags/churn-model@v1.0.0")
	if err != nil || ann.Object.GetType() != "tag" || ann.Object.GetSHA() != tagSHA {
		t.Fatalf("annotated ref = %v, %v; want type tag, sha %s", ann, err, tagSHA)
	}
	light, _, err := c.Git.GetRef(ctx(t), owner, repo, "tags/light")
	if err != nil || light.Object.GetType() != "commit" || light.Object.GetSHA() != commit {
		t.Fatalf("lightweight ref = %v, %v; want type commit", light, err)
	}
	tag, _, err := c.Git.GetTag(ctx(t), owner, repo, tagSHA)
	if err != nil {
		t.Fatal(err)
	}
	wantDate := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	if tag.GetTag() != "churn-model@v1.0.0" || tag.GetMessage() != "Release v1.0.0\n" ||
		tag.Tagger.GetName() != "Ada Lovelace" || tag.Tagger.GetEmail() != "ada@example.com" || !tag.Tagger.GetDate().Time.Equal(wantDate) ||
		tag.Object.GetSHA() != commit || tag.Object.GetType() != "commit" {
		t.Errorf("tag = %v", tag)
	}
	// A tag created through the API keeps the tagger it was given.
	apiTag, _, err := c.Git.GetTag(ctx(t), owner, repo, createAnnotated(t, c, "churn-model#prod#5", commit))
	if err != nil || !apiTag.Tagger.GetDate().Time.Equal(time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)) || apiTag.Tagger.GetName() != "Grace" {
		t.Errorf("API tag = %v, %v", apiTag, err)
	}
}

// Fact: matching-refs returns every match in one response, ignoring per_page.
func TestMatchingRefsIgnoresPerPage(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	for _, n := range []string{"churn@v1.0.0", "churn@v1.1.0", "churn#prod", "churn#dev", "churn@v2.0.0", "fraud@v1.0.0"} {
		f.work.annotate(n, n)
	}
	f.pushAndCollect(t, "--tags")

	refs, resp, err := c.Git.ListMatchingRefs(ctx(t), owner, repo, &github.ReferenceListOptions{
		Ref: "tags/churn", ListOptions: github.ListOptions{PerPage: 2},
	})
	if err != nil || len(refs) != 5 || resp.NextPage != 0 {
		t.Fatalf("got %d refs (next page %d, err %v), want all 5 churn tags on one page", len(refs), resp.NextPage, err)
	}
	all, _, err := c.Git.ListMatchingRefs(ctx(t), owner, repo, &github.ReferenceListOptions{Ref: "tags"})
	if err != nil || len(all) != 6 {
		t.Fatalf("matching-refs/tags: %d refs, %v; want 6", len(all), err)
	}
	none, _, err := c.Git.ListMatchingRefs(ctx(t), owner, repo, &github.ReferenceListOptions{Ref: "tags/nothing"})
	if err != nil || len(none) != 0 {
		t.Fatalf("no match: %v, %v; want an empty list", none, err)
	}
}

// Fact: tag names must be escaped in URL paths; "#" unescaped cuts the path.
func TestTagNamesWithSpecialCharactersAreEscaped(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	names := []string{"churn#prod#3", "dir/sub=churn@v1.0.0+build.1", "churn@v1.0.0!#4", "churn#stage!"}
	for _, n := range names {
		f.work.annotate(n, n)
	}
	f.pushAndCollect(t, "--tags")
	for _, n := range names {
		ref, _, err := c.Git.GetRef(ctx(t), owner, repo, "tags/"+n)
		if err != nil || ref.GetRef() != "refs/tags/"+n {
			t.Errorf("GetRef(%q) = %v, %v", n, ref, err)
		}
	}
	escaped := f.gh.APIURL() + "repos/octo-org/models/git/ref/tags/churn%23prod%233"
	if status, _ := rawGet(t, f.gh, escaped, ""); status != http.StatusOK {
		t.Errorf("escaped GET = %d, want 200", status)
	}
	// Unescaped, "#" starts a URL fragment: the server sees tags/churn.
	if status, _ := rawGet(t, f.gh, f.gh.APIURL()+"repos/octo-org/models/git/ref/tags/churn#prod#3", ""); status != http.StatusNotFound {
		t.Errorf("unescaped GET = %d, want 404", status)
	}
}

// rawGet does an authenticated GET, optionally conditional, and returns the
// status and headers.
func rawGet(t *testing.T, gh *githubtest.Server, url, ifNoneMatch string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+gh.Token())
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// Fact: a conditional request answered 304 does not count against the
// rate limit; every response carries the rate-limit headers.
func TestConditionalRequestDoesNotCountAgainstRateLimit(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	f.work.annotate("churn@v1.0.0", "v1")
	f.pushAndCollect(t, "--tags")
	u := f.gh.APIURL() + "repos/octo-org/models/git/matching-refs/tags/"

	status, h := rawGet(t, f.gh, u, "")
	etag := h.Get("ETag")
	if status != http.StatusOK || etag == "" || strings.HasPrefix(etag, "W/") {
		t.Fatalf("first GET = %d with ETag %q, want 200 and a strong ETag", status, etag)
	}
	used := f.gh.RateLimitUsed()
	status, h2 := rawGet(t, f.gh, u, etag)
	if status != http.StatusNotModified {
		t.Fatalf("conditional GET = %d, want 304", status)
	}
	if f.gh.RateLimitUsed() != used || h2.Get("X-RateLimit-Remaining") != h.Get("X-RateLimit-Remaining") {
		t.Errorf("304 counted: used %d -> %d, remaining %s -> %s", used, f.gh.RateLimitUsed(), h.Get("X-RateLimit-Remaining"), h2.Get("X-RateLimit-Remaining"))
	}
	for _, k := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Used", "X-RateLimit-Reset", "X-RateLimit-Resource"} {
		if h2.Get(k) == "" {
			t.Errorf("304 lacks %s", k)
		}
	}
	// A new tag changes the list, so the old ETag no longer matches.
	f.work.annotate("churn@v1.1.0", "v1.1")
	f.pushAndCollect(t, "--tags")
	if status, _ := rawGet(t, f.gh, u, etag); status != http.StatusOK {
		t.Errorf("GET after a change = %d, want 200", status)
	}
	if n := f.gh.RequestCount("GET /repos/{owner}/{repo}/git/matching-refs/{ref}"); n != 3 {
		t.Errorf("RequestCount = %d, want 3", n)
	}
	lim, _, err := newClient(t, f.gh).RateLimit.Get(ctx(t))
	if err != nil || lim.Core.Remaining != 5000-f.gh.RateLimitUsed() || lim.Core.Limit != 5000 {
		t.Errorf("rate_limit = %v, %v; want used %d of 5000", lim, err, f.gh.RateLimitUsed())
	}
}

// Fact: contents come base64 inline; an absent path is a 404.
func TestContentsAreBase64AndAbsentIs404(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	f.work.commit(".gto", "stages: [dev, prod]\n", "Configure GTO")
	f.work.annotate("churn@v1.0.0", "v1")
	f.work.commit(".gto", "stages: [dev, staging, prod]\n", "Add staging")
	f.pushAndCollect(t, "main", "--tags")

	file, _, _, err := c.Repositories.GetContents(ctx(t), owner, repo, ".gto", &github.RepositoryContentGetOptions{Ref: "churn@v1.0.0"})
	if err != nil || file.GetEncoding() != "base64" {
		t.Fatalf("GetContents: %v, %v", file, err)
	}
	if got, _ := file.GetContent(); got != "stages: [dev, prod]\n" {
		t.Errorf("content at the tag = %q", got)
	}
	head, _, _, err := c.Repositories.GetContents(ctx(t), owner, repo, ".gto", nil)
	if got, _ := head.GetContent(); err != nil || got != "stages: [dev, staging, prod]\n" {
		t.Errorf("content on the default branch = %q, %v", got, err)
	}
	_, _, resp, err := c.Repositories.GetContents(ctx(t), owner, repo, "missing.yaml", nil)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusNotFound {
		t.Errorf("absent file: %v, want 404", err)
	}
}

func TestGetCommit(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	sha := f.work.git("rev-parse", "HEAD")
	c, _, err := newClient(t, f.gh).Repositories.GetCommit(ctx(t), owner, repo, "main", nil)
	if err != nil || c.GetSHA() != sha || c.Commit.GetMessage() != "Add churn model" ||
		c.Commit.Author.GetName() != "Ada Lovelace" || !c.Commit.Committer.GetDate().Time.Equal(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("GetCommit = %v, %v", c, err)
	}
}

func TestDeploymentsAndStatuses(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	dep, resp, err := c.Repositories.CreateDeployment(ctx(t), owner, repo, &github.DeploymentRequest{
		Ref: github.String("main"), Environment: github.String("prod"), AutoMerge: github.Bool(false),
		RequiredContexts: &[]string{}, Payload: map[string]string{"tag": "churn#prod#1"}, Description: github.String("churn v1 to prod"),
	})
	if err != nil || resp.StatusCode != http.StatusCreated || dep.GetEnvironment() != "prod" || dep.GetSHA() != f.work.git("rev-parse", "HEAD") {
		t.Fatalf("CreateDeployment = %v, %v", dep, err)
	}
	var er *github.ErrorResponse
	for _, bad := range []*github.DeploymentStatusRequest{
		{State: github.String("done")},
		{State: github.String("success"), Description: github.String(strings.Repeat("x", 141))},
	} {
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx(t), owner, repo, dep.GetID(), bad); !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("status %q (description %d chars): %v, want 422", bad.GetState(), len(bad.GetDescription()), err)
		}
	}
	for _, state := range []string{"in_progress", "success"} {
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx(t), owner, repo, dep.GetID(), &github.DeploymentStatusRequest{
			State: github.String(state), Description: github.String(strings.Repeat("y", 140)), LogURL: github.String("http://ci/1"),
		}); err != nil {
			t.Fatalf("status %s: %v", state, err)
		}
	}
	statuses, _, err := c.Repositories.ListDeploymentStatuses(ctx(t), owner, repo, dep.GetID(), nil)
	if err != nil || len(statuses) != 2 || statuses[0].GetState() != "success" || statuses[0].GetEnvironment() != "prod" {
		t.Errorf("ListDeploymentStatuses = %v, %v; want newest first", statuses, err)
	}
	got := f.gh.Deployments()
	if len(got) != 1 || len(got[0].Statuses) != 2 || got[0].Statuses[1].State != "success" || string(got[0].Payload) != `{"tag":"churn#prod#1"}` {
		t.Errorf("Deployments() = %+v", got)
	}

	_, _, err = c.Repositories.CreateDeployment(ctx(t), owner, repo, &github.DeploymentRequest{Ref: github.String("no-such-ref"), AutoMerge: github.Bool(false)})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("deployment of an unknown ref: %v, want 422", err)
	}

	// auto_merge defaults to true: a ref behind the default branch conflicts.
	f.work.git("tag", "old")
	f.work.commit("x.txt", "x\n", "Move main on")
	f.pushAndCollect(t, "main", "--tags")
	_, _, err = c.Repositories.CreateDeployment(ctx(t), owner, repo, &github.DeploymentRequest{Ref: github.String("old")})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusConflict {
		t.Errorf("deployment of a ref behind main with auto_merge: %v, want 409", err)
	}
}

func TestWorkflowAndRepositoryDispatch(t *testing.T) {
	f := newFixture(t, githubtest.Options{})
	c := newClient(t, f.gh)
	event := github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: map[string]any{"tag": "churn#prod#1"}}
	_, err := c.Actions.CreateWorkflowDispatchEventByFileName(ctx(t), owner, repo, "deploy.yml", event)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("dispatch of a workflow that does not exist: %v, want 404", err)
	}
	f.work.commit(".github/workflows/deploy.yml", "on:\n  workflow_dispatch:\n    inputs:\n      tag: {}\n", "Add deploy workflow")
	f.pushAndCollect(t, "main")
	resp, err := c.Actions.CreateWorkflowDispatchEventByFileName(ctx(t), owner, repo, "deploy.yml", event)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("workflow dispatch: %v", err)
	}
	if got := f.gh.WorkflowDispatches(); len(got) != 1 || got[0].Workflow != "deploy.yml" || got[0].Ref != "main" || got[0].Inputs["tag"] != "churn#prod#1" {
		t.Errorf("WorkflowDispatches() = %+v", got)
	}

	payload := json.RawMessage(`{"tag":"churn#prod#1"}`)
	_, resp, err = c.Repositories.Dispatch(ctx(t), owner, repo, github.DispatchRequestOptions{EventType: "gto-assign", ClientPayload: &payload})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("repository dispatch: %v", err)
	}
	tooBig := json.RawMessage(`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11}`)
	_, _, err = c.Repositories.Dispatch(ctx(t), owner, repo, github.DispatchRequestOptions{EventType: "gto-assign", ClientPayload: &tooBig})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("client_payload with 11 keys: %v, want 422", err)
	}
	if got := f.gh.RepositoryDispatches(); len(got) != 1 || got[0].EventType != "gto-assign" || string(got[0].ClientPayload) != `{"tag":"churn#prod#1"}` {
		t.Errorf("RepositoryDispatches() = %+v", got)
	}
}

func TestBadCredentials(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Token: "right"})
	c := github.NewClient(nil).WithAuthToken("wrong")
	c.BaseURL = newClient(t, gh).BaseURL
	_, _, err := c.Repositories.Get(ctx(t), owner, repo)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
		t.Errorf("wrong token: %v, want 401 Bad credentials", err)
	}
	w := &workdir{t: t, dir: t.TempDir(), env: cloneEnv(t)}
	if _, err := w.runErr("ls-remote", strings.Replace(gh.AuthGitURL(), ":right@", ":wrong@", 1)); err == nil {
		t.Errorf("git ls-remote with a wrong token succeeded")
	}
	if _, err := w.runErr("ls-remote", gh.AuthGitURL()); err != nil {
		t.Errorf("git ls-remote with the token: %v", err)
	}
}

func TestEnterpriseURLs(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "registry", DefaultBranch: "trunk"})
	c, err := github.NewClient(nil).WithAuthToken(gh.Token()).WithEnterpriseURLs(gh.APIURL(), gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Repositories.Get(ctx(t), "acme", "registry")
	if err != nil || r.GetDefaultBranch() != "trunk" || r.GetFullName() != "acme/registry" {
		t.Fatalf("Get via /api/v3/: %v, %v", r, err)
	}
	if _, _, err := c.Repositories.Get(ctx(t), "acme", "other"); err == nil {
		t.Errorf("another repository was found")
	}
}

// REST faults: 5xx, hang, primary and secondary rate limits.
func TestRESTServerErrorFault(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.ServerError, Path: "/git/matching-refs/", Count: 2})
	c := newClient(t, gh)
	opts := &github.ReferenceListOptions{Ref: "tags"}
	for i := 0; i < 2; i++ {
		_, resp, err := c.Git.ListMatchingRefs(ctx(t), owner, repo, opts)
		if err == nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("attempt %d: %v, want 502", i, err)
		}
	}
	if _, _, err := c.Git.ListMatchingRefs(ctx(t), owner, repo, opts); err != nil {
		t.Fatalf("third attempt: %v, want success", err)
	}
	reqs := gh.Requests()
	if len(reqs) != 3 || reqs[0].Fault != "server-error" || reqs[0].Counted || !reqs[2].Counted {
		t.Errorf("request log = %+v", reqs)
	}
}

// Not GitHub's behaviour but a proxy's: the error repeats the credential,
// so that tests can check it goes no further.
func TestRESTEchoAuthorizationFault(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.EchoAuthorization, Path: "/git/matching-refs/"})
	_, resp, err := newClient(t, gh).Git.ListMatchingRefs(ctx(t), owner, repo, &github.ReferenceListOptions{Ref: "tags"})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusUnauthorized || !strings.Contains(er.Message, "Authorization: Bearer "+gh.Token()) {
		t.Fatalf("%v, want a 401 whose message carries the Authorization header", err)
	}
}

func TestRESTHangFault(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.Hang, Method: http.MethodGet})
	c := newClient(t, gh)
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	if _, _, err := c.Repositories.Get(short, owner, repo); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung request: %v, want the client's deadline", err)
	}
	if _, _, err := c.Repositories.Get(ctx(t), owner, repo); err != nil {
		t.Fatalf("next request: %v", err)
	}
}

func TestRESTPrimaryRateLimitFault(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.PrimaryRateLimit, RetryAfter: time.Hour})
	_, _, err := newClient(t, gh).Repositories.Get(ctx(t), owner, repo)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || rl.Rate.Reset.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("%v, want go-github's RateLimitError with reset in an hour", err)
	}
	if got := gh.Requests()[0]; !got.LimitLifts.Equal(rl.Rate.Reset.Time) {
		t.Errorf("the request log says the limit lifts at %v, the answer's X-RateLimit-Reset %v", got.LimitLifts, rl.Rate.Reset.Time)
	}
	// A fresh client (go-github remembers the limit) gets through again.
	if _, _, err := newClient(t, gh).Repositories.Get(ctx(t), owner, repo); err != nil {
		t.Fatal(err)
	}
}

func TestRESTSecondaryRateLimitFault(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, RetryAfter: 30 * time.Second})
	_, _, err := newClient(t, gh).Repositories.Get(ctx(t), owner, repo)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != 30*time.Second {
		t.Fatalf("%v, want go-github's AbuseRateLimitError with Retry-After 30s", err)
	}
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.SecondaryRateLimit, Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second})
	_, resp, err := newClient(t, gh).Repositories.Get(ctx(t), owner, repo)
	if err == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("%v, want 429 with Retry-After: 5", err)
	}
	if got := gh.Requests()[1]; got.LimitLifts.Sub(got.At).Round(time.Millisecond) != 5*time.Second {
		t.Errorf("the request log says the limit lifts at %v, answered at %v; want Retry-After's 5 s later", got.LimitLifts, got.At)
	}
}

// The hourly budget runs out for real, too.
func TestRateLimitExhaustion(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{RateLimit: 2})
	c := newClient(t, gh)
	for i := 0; i < 2; i++ {
		if _, _, err := c.Repositories.Get(ctx(t), owner, repo); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := newClient(t, gh).Repositories.Get(ctx(t), owner, repo)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("third request: %v, want a RateLimitError", err)
	}
	if got := gh.Requests()[2]; !got.LimitLifts.Equal(rl.Rate.Reset.Time) {
		t.Errorf("the request log says the limit lifts at %v, the answer's X-RateLimit-Reset %v", got.LimitLifts, rl.Rate.Reset.Time)
	}
}

// Commit seeds history for REST-only tests; it is not a push, so it sends
// no webhooks.
func TestCommitSeedsTheRepositoryWithoutWebhooks(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{})
	rc := newReceiver(t)
	gh.AddHook(rc.srv.URL, hookSecret)
	first := gh.Commit(t, "main", map[string]string{".gto": "stages: [prod]\n"}, "Configure GTO")
	second := gh.Commit(t, "main", map[string]string{"models/churn.yaml": "name: churn\n"}, "Add churn")
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := rc.since(0); len(got) != 1 || got[0].event() != "ping" {
		t.Errorf("Commit sent webhooks: %s", events(got))
	}
	c := newClient(t, gh)
	commit, _, err := c.Repositories.GetCommit(ctx(t), owner, repo, "main", nil)
	if err != nil || commit.GetSHA() != second || len(commit.Parents) != 1 || commit.Parents[0].GetSHA() != first {
		t.Fatalf("GetCommit(main) = %v, %v; want %s on top of %s", commit, err, second, first)
	}
	file, _, _, err := c.Repositories.GetContents(ctx(t), owner, repo, ".gto", nil)
	if got, _ := file.GetContent(); err != nil || got != "stages: [prod]\n" {
		t.Errorf(".gto = %q, %v; want the first commit's file kept", got, err)
	}
	_, dir, _, err := c.Repositories.GetContents(ctx(t), owner, repo, "models", nil)
	if err != nil || len(dir) != 1 || dir[0].GetPath() != "models/churn.yaml" || dir[0].GetType() != "file" {
		t.Errorf("GetContents(models) = %v, %v; want a listing of models/churn.yaml", dir, err)
	}
}

// GitHub App auth: ghinstallation trades a JWT signed with the app's key for
// an installation token, then every call uses that token.
func TestGitHubAppInstallationToken(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{AppID: 42, InstallationID: 7})
	appClient := func(installation int64, key []byte) *github.Client {
		tr, err := ghinstallation.New(http.DefaultTransport, 42, installation, key)
		if err != nil {
			t.Fatal(err)
		}
		tr.BaseURL = strings.TrimSuffix(gh.APIURL(), "/")
		c := github.NewClient(&http.Client{Transport: tr})
		c.BaseURL = newClient(t, gh).BaseURL
		return c
	}
	r, _, err := appClient(7, gh.AppPrivateKeyPEM()).Repositories.Get(ctx(t), owner, repo)
	if err != nil || r.GetFullName() != "octo-org/models" {
		t.Fatalf("Get as the app installation: %v, %v", r, err)
	}
	if n := gh.RequestCount("POST /app/installations/{installation_id}/access_tokens"); n != 1 {
		t.Errorf("access_tokens requested %d times, want once", n)
	}
	if _, _, err := appClient(8, gh.AppPrivateKeyPEM()).Repositories.Get(ctx(t), owner, repo); err == nil {
		t.Errorf("another installation got a token")
	}
	other := githubtest.New(t, githubtest.Options{AppID: 42})
	if _, _, err := appClient(7, other.AppPrivateKeyPEM()).Repositories.Get(ctx(t), owner, repo); err == nil {
		t.Errorf("a JWT signed with another key was accepted")
	}
}
